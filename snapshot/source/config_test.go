package source

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	cases := []struct {
		name  string
		cfg   Config
		field string
		want  string
	}{
		{"empty kind", Config{Address: "http://127.0.0.1:8500"}, "type", "is empty"},
		{"unknown kind", Config{Kind: "etcd", Address: "http://127.0.0.1:8500"}, "type", `unknown kind "etcd"`},
		{"empty address", Config{Kind: Consul}, "address", "is empty"},
		{"ftp", Config{Kind: Consul, Address: "ftp://127.0.0.1"}, "address", `scheme "ftp"`},
		{"no scheme", Config{Kind: Nomad, Address: "127.0.0.1:4646"}, "address", "has no scheme"},
		{"no host", Config{Kind: Consul, Address: "http:///v1"}, "address", "has no host"},
		{"userinfo", Config{Kind: Consul, Address: "http://admin:hunter2@127.0.0.1:8500"}, "address", "user:password@"},
		{"bad port", Config{Kind: Consul, Address: "http://admin:hunter2@127.0.0.1:85x0"}, "address", "not a valid URL"},
		{"query", Config{Kind: Consul, Address: "http://127.0.0.1:8500?token=hunter2"}, "address", "query"},
		{"token newline", Config{Kind: Consul, Address: "http://127.0.0.1:8500", Token: "hunter2\nX-Evil: 1"}, "token", "more than one line"},
		{"tls on http", Config{Kind: Consul, Address: "http://127.0.0.1:8500", TLS: TLSConfig{CAFile: notPEM}}, "tls", "https://"},
		{"ca unreadable", Config{Kind: Consul, Address: "https://127.0.0.1:8501", TLS: TLSConfig{CAFile: missing}}, "tls.ca_file", "cannot read CA file"},
		{"ca not pem", Config{Kind: Consul, Address: "https://127.0.0.1:8501", TLS: TLSConfig{CAFile: notPEM}}, "tls.ca_file", "holds no PEM certificate"},
		{"cert without key", Config{Kind: Consul, Address: "https://127.0.0.1:8501", TLS: TLSConfig{CertFile: notPEM}}, "tls.key_file", "both or neither"},
		{"key without cert", Config{Kind: Consul, Address: "https://127.0.0.1:8501", TLS: TLSConfig{KeyFile: notPEM}}, "tls.cert_file", "both or neither"},
		{"bad key pair", Config{Kind: Consul, Address: "https://127.0.0.1:8501", TLS: TLSConfig{CertFile: notPEM, KeyFile: notPEM}}, "tls.cert_file", "cannot load client certificate"},
		{"negative timeout", Config{Kind: Nomad, Address: "http://127.0.0.1:4646", Timeout: -1}, "timeout", "negative"},
		{"negative connect timeout", Config{Kind: Nomad, Address: "http://127.0.0.1:4646", ConnectTimeout: -1}, "connect_timeout", "negative"},
		{"dc on nomad", Config{Kind: Nomad, Address: "http://127.0.0.1:4646", Datacenter: "dc1"}, "datacenter", "consul sources only"},
		{"region on consul", Config{Kind: Consul, Address: "http://127.0.0.1:8500", Region: "global"}, "region", "nomad sources only"},
		{"namespace on consul", Config{Kind: Consul, Address: "http://127.0.0.1:8500", Namespace: "ns1"}, "namespace", "vault sources only"},
		{"force on raft", Config{Kind: Raft, Address: "http://127.0.0.1:8080", ForceRestore: true}, "force_restore", "vault sources only"},
		{"stale on vault", Config{Kind: Vault, Address: "http://127.0.0.1:8200", Stale: true}, "stale", "no stale mode"},
		{"approle on consul", Config{Kind: Consul, Address: "http://127.0.0.1:8500", AppRole: AppRoleConfig{RoleIDFile: "/r", SecretIDFile: "/s"}}, "approle", "vault sources only"},
		{"approle and token_file", Config{Kind: Vault, Address: "http://127.0.0.1:8200", TokenFile: "/t", AppRole: AppRoleConfig{RoleIDFile: "/r", SecretIDFile: "/s"}}, "approle", "either approle or token_file"},
		{"approle and token_env", Config{Kind: Vault, Address: "http://127.0.0.1:8200", TokenEnv: "T", AppRole: AppRoleConfig{RoleIDFile: "/r", SecretIDFile: "/s"}}, "approle", "either approle or token_env"},
		{"approle and token", Config{Kind: Vault, Address: "http://127.0.0.1:8200", Token: "hunter2", AppRole: AppRoleConfig{RoleIDFile: "/r", SecretIDFile: "/s"}}, "approle", "either approle or a token"},
		{"approle without role", Config{Kind: Vault, Address: "http://127.0.0.1:8200", AppRole: AppRoleConfig{SecretIDFile: "/s"}}, "approle.role_id_file", "missing"},
		{"approle without secret", Config{Kind: Vault, Address: "http://127.0.0.1:8200", AppRole: AppRoleConfig{RoleIDFile: "/r"}}, "approle.secret_id_file", "missing"},
		{"approle mount only", Config{Kind: Vault, Address: "http://127.0.0.1:8200", AppRole: AppRoleConfig{Mount: "approle"}}, "approle.role_id_file", "missing"},
		{"approle mount auth/", Config{Kind: Vault, Address: "http://127.0.0.1:8200", AppRole: AppRoleConfig{RoleIDFile: "/r", SecretIDFile: "/s", Mount: "auth/approle"}}, "approle.mount", `without auth/: "approle"`},
		{"approle mount dots", Config{Kind: Vault, Address: "http://127.0.0.1:8200", AppRole: AppRoleConfig{RoleIDFile: "/r", SecretIDFile: "/s", Mount: "team/../x"}}, "approle.mount", "is not a mount path"},
		{"approle mount slash", Config{Kind: Vault, Address: "http://127.0.0.1:8200", AppRole: AppRoleConfig{RoleIDFile: "/r", SecretIDFile: "/s", Mount: "/approle"}}, "approle.mount", "is not a mount path"},
		{"approle mount query", Config{Kind: Vault, Address: "http://127.0.0.1:8200", AppRole: AppRoleConfig{RoleIDFile: "/r", SecretIDFile: "/s", Mount: "approle?x=1"}}, "approle.mount", "is not a mount path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src, err := New(tc.cfg)
			if err == nil {
				t.Fatalf("New accepted it: %v", src)
			}
			var cfgErr *ConfigError
			if !errors.As(err, &cfgErr) {
				t.Fatalf("error %T %v is not a *ConfigError", err, err)
			}
			if cfgErr.Field != tc.field || !strings.Contains(err.Error(), tc.want) || !cfgErr.Permanent() {
				t.Fatalf("got field %q error %q; want field %q containing %q", cfgErr.Field, err, tc.field, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestNewBuildsEndpoints(t *testing.T) {
	cases := []struct {
		cfg               Config
		save, restore     string
		tokenHeader, name string
	}{
		{Config{Kind: Consul, Address: "http://127.0.0.1:8500/"}, "http://127.0.0.1:8500/v1/snapshot", "http://127.0.0.1:8500/v1/snapshot", "X-Consul-Token", "consul at http://127.0.0.1:8500"},
		{Config{Kind: Consul, Address: "https://consul.example:8501/prefix", Stale: true, Datacenter: "dc 2"}, "https://consul.example:8501/prefix/v1/snapshot?dc=dc+2&stale", "https://consul.example:8501/prefix/v1/snapshot?dc=dc+2", "X-Consul-Token", "consul at https://consul.example:8501/prefix"},
		{Config{Kind: Nomad, Address: "http://127.0.0.1:4646", Stale: true, Region: "eu"}, "http://127.0.0.1:4646/v1/operator/snapshot?region=eu&stale=true", "http://127.0.0.1:4646/v1/operator/snapshot?region=eu", "X-Nomad-Token", "nomad at http://127.0.0.1:4646"},
		{Config{Kind: Vault, Address: "https://127.0.0.1:8200", ForceRestore: true}, "https://127.0.0.1:8200/v1/sys/storage/raft/snapshot", "https://127.0.0.1:8200/v1/sys/storage/raft/snapshot-force", "X-Vault-Token", "vault at https://127.0.0.1:8200"},
		{Config{Kind: Raft, Address: "http://127.0.0.1:7000", Stale: true}, "http://127.0.0.1:7000/v1/snapshot?stale=true", "http://127.0.0.1:7000/v1/snapshot", "X-Raft-Token", "raft at http://127.0.0.1:7000"},
	}
	for _, tc := range cases {
		src, err := New(tc.cfg)
		if err != nil {
			t.Fatalf("New(%+v): %v", tc.cfg, err)
		}
		hs := src.(*httpSource)
		if got, _ := hs.endpoint(OpSave, tc.cfg.Stale); got != tc.save {
			t.Errorf("%s save URL = %s, want %s", tc.cfg.Kind, got, tc.save)
		}
		if got, _ := hs.endpoint(OpRestore, false); got != tc.restore {
			t.Errorf("%s restore URL = %s, want %s", tc.cfg.Kind, got, tc.restore)
		}
		if hs.spec.TokenHeader != tc.tokenHeader || src.String() != tc.name || src.Kind() != tc.cfg.Kind {
			t.Errorf("%s: header %s, name %q", tc.cfg.Kind, hs.spec.TokenHeader, src.String())
		}
		if got := src.VerifyOptions().RequireSealed; got != (tc.cfg.Kind == Vault) {
			t.Errorf("%s: RequireSealed = %v", tc.cfg.Kind, got)
		}
	}
}

func TestParseRetryAfterAndServerMessage(t *testing.T) {
	if got := parseRetryAfter("7", timeZero()); got.Seconds() != 7 {
		t.Errorf("Retry-After 7 = %v", got)
	}
	if got := parseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", timeZero()); got.Seconds() != 30 {
		t.Errorf("Retry-After date = %v", got)
	}
	if got := parseRetryAfter("soon", timeZero()); got != 0 {
		t.Errorf("Retry-After junk = %v", got)
	}
	if got := serverMessage([]byte(`{"errors":["1 error occurred:\n\t* permission denied\n\n"]}`)); got != "1 error occurred: * permission denied" {
		t.Errorf("vault message = %q", got)
	}
	long := serverMessage([]byte(strings.Repeat("é", 1000)))
	if len(long) > maxServerMessage+len("…") || !strings.HasSuffix(long, "…") {
		t.Errorf("long message not capped: %d bytes", len(long))
	}
}

func timeZero() time.Time { return time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC) }

// TestUserAgent: the caller names the program (raftsnap sends
// "raftsnap/<version>"); a library user who does not gets "raftsnap".
func TestUserAgent(t *testing.T) {
	got := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("User-Agent")
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()
	for _, ua := range []string{"raftsnap/v1.2.3", ""} {
		src := mustNew(t, Config{Kind: Consul, Address: srv.URL, UserAgent: ua})
		if _, err := src.Save(context.Background(), io.Discard); err == nil {
			t.Fatal("want the 403 as an error")
		}
		want := ua
		if want == "" {
			want = "raftsnap"
		}
		if sent := <-got; sent != want {
			t.Errorf("UserAgent %q: sent %q, want %q", ua, sent, want)
		}
	}
}
