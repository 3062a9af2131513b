package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit/servers"
)

// envCase is one run of Resolve: the settings given (as by flags or a
// configuration file), the environment, and what must come out.
type envCase struct {
	name string
	cfg  Config
	env  map[string]string
	// want checks the resolved settings; wantErr is a part of the error
	// when Resolve must fail.
	want    func(t *testing.T, got Config)
	wantErr string
}

func wantField(field string, want any) func(*testing.T, Config) {
	return func(t *testing.T, got Config) {
		t.Helper()
		v := reflect.ValueOf(got)
		for _, name := range strings.Split(field, ".") {
			v = v.FieldByName(name)
		}
		if v.Interface() != want {
			t.Errorf("%s = %#v, want %#v", field, v.Interface(), want)
		}
	}
}

func wantToken(want string) func(*testing.T, Config) {
	return func(t *testing.T, got Config) {
		t.Helper()
		if got.Token.Reveal() != want {
			t.Errorf("token = %q, want %q", got.Token.Reveal(), want)
		}
	}
}

// resolveCases covers every variable of every kind, and the precedence of
// an explicit setting over it.
func resolveCases(t *testing.T) []envCase {
	dir := t.TempDir()
	pem := func(name string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ca, cert, key := pem("ca.pem"), pem("cert.pem"), pem("key.pem")
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("token-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".vault-token"), []byte("token-from-login\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nonexistent")

	https := map[Kind]string{Consul: "https://127.0.0.1:8501", Nomad: "https://127.0.0.1:4646", Vault: "https://127.0.0.1:8200"}
	var cases []envCase
	for _, kind := range []Kind{Consul, Nomad, Vault} {
		spec, _ := Lookup(kind)
		e := spec.Env
		addr := https[kind]
		cases = append(cases,
			envCase{name: e.Address, cfg: Config{Kind: kind}, env: map[string]string{e.Address: "http://10.0.0.1:1234"},
				want: wantField("Address", "http://10.0.0.1:1234")},
			envCase{name: e.Address + " under --address", cfg: Config{Kind: kind, Address: "http://10.0.0.2:1"}, env: map[string]string{e.Address: "http://10.0.0.1:1234"},
				want: wantField("Address", "http://10.0.0.2:1")},
			envCase{name: string(kind) + " default address", cfg: Config{Kind: kind}, env: map[string]string{},
				want: wantField("Address", map[Kind]string{Consul: "127.0.0.1:8500", Nomad: "http://127.0.0.1:4646", Vault: "https://127.0.0.1:8200"}[kind])},
			envCase{name: e.CACert, cfg: Config{Kind: kind, Address: addr}, env: map[string]string{e.CACert: ca},
				want: wantField("TLS.CAFile", ca)},
			envCase{name: e.CACert + " under --ca-file", cfg: Config{Kind: kind, Address: addr, TLS: TLSConfig{CAFile: "/given/ca.pem"}}, env: map[string]string{e.CACert: ca},
				want: wantField("TLS.CAFile", "/given/ca.pem")},
			envCase{name: e.CACert + " on http", cfg: Config{Kind: kind, Address: "http://127.0.0.1:1"}, env: map[string]string{e.CACert: missing},
				want: wantField("TLS.CAFile", "")},
			envCase{name: e.CACert + " missing", cfg: Config{Kind: kind, Address: addr}, env: map[string]string{e.CACert: missing},
				wantErr: "tls.ca_file: environment variable " + e.CACert + " names " + missing + ": no such file or directory"},
			envCase{name: e.CACert + " a directory", cfg: Config{Kind: kind, Address: addr}, env: map[string]string{e.CACert: dir},
				wantErr: "environment variable " + e.CACert + " names " + dir + ": not a regular file"},
			envCase{name: e.ClientCert, cfg: Config{Kind: kind, Address: addr}, env: map[string]string{e.ClientCert: cert},
				want: wantField("TLS.CertFile", cert)},
			envCase{name: e.ClientCert + " missing", cfg: Config{Kind: kind, Address: addr}, env: map[string]string{e.ClientCert: missing},
				wantErr: "tls.cert_file: environment variable " + e.ClientCert + " names " + missing},
			envCase{name: e.ClientKey, cfg: Config{Kind: kind, Address: addr}, env: map[string]string{e.ClientKey: key},
				want: wantField("TLS.KeyFile", key)},
			envCase{name: e.ClientKey + " missing", cfg: Config{Kind: kind, Address: addr}, env: map[string]string{e.ClientKey: missing},
				wantErr: "tls.key_file: environment variable " + e.ClientKey + " names " + missing},
			envCase{name: e.TLSServerName, cfg: Config{Kind: kind, Address: addr}, env: map[string]string{e.TLSServerName: "server.test"},
				want: wantField("TLS.ServerName", "server.test")},
			envCase{name: e.TLSServerName + " under --tls-server-name", cfg: Config{Kind: kind, Address: addr, TLS: TLSConfig{ServerName: "given.test"}},
				env: map[string]string{e.TLSServerName: "server.test"}, want: wantField("TLS.ServerName", "given.test")},
			envCase{name: e.CAPath + " alone", cfg: Config{Kind: kind, Address: addr}, env: map[string]string{e.CAPath: dir},
				wantErr: "environment variable " + e.CAPath + " names a directory of CA certificates"},
			envCase{name: e.CAPath + " with " + e.CACert, cfg: Config{Kind: kind, Address: addr}, env: map[string]string{e.CAPath: dir, e.CACert: ca},
				want: wantField("TLS.CAFile", ca)},
			envCase{name: e.Token, cfg: Config{Kind: kind, Address: addr}, env: map[string]string{e.Token: " token-from-env\n"},
				want: wantToken("token-from-env")},
			envCase{name: e.Token + " under --token-file", cfg: Config{Kind: kind, Address: addr, TokenFile: tokenFile}, env: map[string]string{e.Token: "token-from-env"},
				want: wantToken("token-from-file")},
		)
	}
	cases = append(cases,
		envCase{name: "CONSUL_HTTP_SSL", cfg: Config{Kind: Consul}, env: map[string]string{"CONSUL_HTTP_ADDR": "127.0.0.1:8501", "CONSUL_HTTP_SSL": "true"},
			want: wantField("Address", "https://127.0.0.1:8501")},
		envCase{name: "CONSUL_HTTP_SSL with the default address", cfg: Config{Kind: Consul}, env: map[string]string{"CONSUL_HTTP_SSL": "1"},
			want: wantField("Address", "https://127.0.0.1:8500")},
		envCase{name: "CONSUL_HTTP_SSL false", cfg: Config{Kind: Consul, Address: "127.0.0.1:8500"}, env: map[string]string{"CONSUL_HTTP_SSL": "false"},
			want: wantField("Address", "127.0.0.1:8500")},
		envCase{name: "CONSUL_HTTP_SSL under an http:// address", cfg: Config{Kind: Consul, Address: "http://127.0.0.1:8500"}, env: map[string]string{"CONSUL_HTTP_SSL": "true"},
			want: wantField("Address", "http://127.0.0.1:8500")},
		envCase{name: "CONSUL_HTTP_SSL junk", cfg: Config{Kind: Consul}, env: map[string]string{"CONSUL_HTTP_SSL": "yes please"},
			wantErr: `address: environment variable CONSUL_HTTP_SSL="yes please" is neither true nor false`},
		envCase{name: "CONSUL_HTTP_SSL_VERIFY false", cfg: Config{Kind: Consul, Address: "https://127.0.0.1:8501"}, env: map[string]string{"CONSUL_HTTP_SSL_VERIFY": "false"},
			want: wantField("TLS.InsecureSkipVerify", true)},
		envCase{name: "CONSUL_HTTP_SSL_VERIFY true", cfg: Config{Kind: Consul, Address: "https://127.0.0.1:8501"}, env: map[string]string{"CONSUL_HTTP_SSL_VERIFY": "true"},
			want: wantField("TLS.InsecureSkipVerify", false)},
		envCase{name: "CONSUL_HTTP_SSL_VERIFY junk", cfg: Config{Kind: Consul, Address: "https://127.0.0.1:8501"}, env: map[string]string{"CONSUL_HTTP_SSL_VERIFY": "nope"},
			wantErr: "tls.insecure_skip_verify: environment variable CONSUL_HTTP_SSL_VERIFY=\"nope\" is neither true nor false"},
		envCase{name: "NOMAD_SKIP_VERIFY", cfg: Config{Kind: Nomad, Address: "https://127.0.0.1:4646"}, env: map[string]string{"NOMAD_SKIP_VERIFY": "true"},
			want: wantField("TLS.InsecureSkipVerify", true)},
		envCase{name: "NOMAD_SKIP_VERIFY on http", cfg: Config{Kind: Nomad, Address: "http://127.0.0.1:4646"}, env: map[string]string{"NOMAD_SKIP_VERIFY": "true"},
			want: wantField("TLS.InsecureSkipVerify", false)},
		envCase{name: "VAULT_SKIP_VERIFY", cfg: Config{Kind: Vault}, env: map[string]string{"VAULT_SKIP_VERIFY": "1"},
			want: wantField("TLS.InsecureSkipVerify", true)},
		envCase{name: "VAULT_SKIP_VERIFY false", cfg: Config{Kind: Vault}, env: map[string]string{"VAULT_SKIP_VERIFY": "false"},
			want: wantField("TLS.InsecureSkipVerify", false)},
		envCase{name: "NOMAD_REGION", cfg: Config{Kind: Nomad}, env: map[string]string{"NOMAD_REGION": "eu"},
			want: wantField("Region", "eu")},
		envCase{name: "NOMAD_REGION under --region", cfg: Config{Kind: Nomad, Region: "us"}, env: map[string]string{"NOMAD_REGION": "eu"},
			want: wantField("Region", "us")},
		envCase{name: "VAULT_NAMESPACE", cfg: Config{Kind: Vault}, env: map[string]string{"VAULT_NAMESPACE": "team-a"},
			want: wantField("Namespace", "team-a")},
		envCase{name: "VAULT_NAMESPACE under --namespace", cfg: Config{Kind: Vault, Namespace: "team-b"}, env: map[string]string{"VAULT_NAMESPACE": "team-a"},
			want: wantField("Namespace", "team-b")},
		envCase{name: "CONSUL_HTTP_TOKEN_FILE", cfg: Config{Kind: Consul}, env: map[string]string{"CONSUL_HTTP_TOKEN_FILE": tokenFile, "CONSUL_HTTP_TOKEN": "token-from-env"},
			want: wantToken("token-from-file")},
		envCase{name: "CONSUL_HTTP_TOKEN_FILE under --token-env", cfg: Config{Kind: Consul, TokenEnv: "MY_TOKEN"},
			env: map[string]string{"CONSUL_HTTP_TOKEN_FILE": tokenFile, "MY_TOKEN": "token-from-my-env"}, want: wantToken("token-from-my-env")},
		envCase{name: "CONSUL_HTTP_TOKEN_FILE missing", cfg: Config{Kind: Consul}, env: map[string]string{"CONSUL_HTTP_TOKEN_FILE": missing},
			wantErr: "consul source: environment variable CONSUL_HTTP_TOKEN_FILE: reading token file: open " + missing + ": no such file or directory"},
		envCase{name: "RAFTSNAP_RAFT_TOKEN", cfg: Config{Kind: Raft, Address: "http://127.0.0.1:7000"}, env: map[string]string{"RAFTSNAP_RAFT_TOKEN": "raft-token"},
			want: wantToken("raft-token")},
		envCase{name: "~/.vault-token", cfg: Config{Kind: Vault}, env: map[string]string{"HOME": home},
			want: wantToken("token-from-login")},
		envCase{name: "~/.vault-token under VAULT_TOKEN", cfg: Config{Kind: Vault}, env: map[string]string{"HOME": home, "VAULT_TOKEN": "token-from-env"},
			want: wantToken("token-from-env")},
		envCase{name: "~/.vault-token absent", cfg: Config{Kind: Vault}, env: map[string]string{"HOME": dir},
			want: wantToken("")},
		envCase{name: "~/.vault-token is only vault's", cfg: Config{Kind: Nomad}, env: map[string]string{"HOME": home},
			want: wantToken("")},
	)
	return cases
}

func TestResolveFromEnvironment(t *testing.T) {
	for _, tc := range resolveCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.Resolve(envOf(tc.env), nil)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatalf("Resolve: %v", err)
			default:
				tc.want(t, got)
			}
		})
	}
}

// TestEveryVariableIsTested fails when a kind gains a variable that
// TestResolveFromEnvironment does not exercise.
func TestEveryVariableIsTested(t *testing.T) {
	tested := map[string]bool{}
	for _, tc := range resolveCases(t) {
		for name := range tc.env {
			tested[name] = true
		}
	}
	var untested []string
	for _, spec := range Kinds() {
		v := reflect.ValueOf(spec.Env)
		for i := 0; i < v.NumField(); i++ {
			name := v.Field(i).String()
			if v.Type().Field(i).Name == "HomeTokenFile" && name != "" {
				name = "HOME" // read as $HOME/<name>
			}
			if name != "" && !tested[name] {
				untested = append(untested, string(spec.Kind)+" "+v.Type().Field(i).Name+" "+name)
			}
		}
	}
	sort.Strings(untested)
	if len(untested) > 0 {
		t.Errorf("variables without a case in resolveCases: %s", strings.Join(untested, ", "))
	}
}

func TestAddressForms(t *testing.T) {
	for _, tc := range []struct {
		kind       Kind
		addr, name string
		err        string
	}{
		{Consul, "127.0.0.1:8500", "consul at http://127.0.0.1:8500", ""},
		{Consul, "consul.example:8500", "consul at http://consul.example:8500", ""},
		{Consul, "unix:///run/consul/http.sock", "consul at unix:///run/consul/http.sock", ""},
		{Nomad, "unix:///run/nomad/../nomad.sock", "nomad at unix:///run/nomad.sock", ""},
		{Vault, "unix:///run/vault.sock", "vault at unix:///run/vault.sock", ""},
		{Nomad, "127.0.0.1:4646", "", "has no scheme (want http:// or https://, e.g. http://127.0.0.1:4646)"},
		{Raft, "unix:///run/app.sock", "", `scheme "unix" is not supported`},
		{Consul, "unix://run/consul.sock", "", "unix:// needs an absolute socket path"},
		{Consul, "unix:///run/consul.sock?dc=x", "", "must not contain a query"},
		{Consul, "admin:hunter2@127.0.0.1:8500", "", "must not contain user:password@"},
		{Consul, "unix:///run/consul.sock", "", "TLS settings need an https:// address"},
	} {
		cfg := Config{Kind: tc.kind, Address: tc.addr}
		if strings.Contains(tc.err, "TLS") {
			cfg.TLS.ServerName = "x"
		}
		src, err := New(cfg)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("%s %s: err = %v, want %q", tc.kind, tc.addr, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s %s: %v", tc.kind, tc.addr, err)
		case src.String() != tc.name:
			t.Errorf("%s %s: String() = %q, want %q", tc.kind, tc.addr, src, tc.name)
		}
	}
	if got, err := CanonicalAddress(Consul, "127.0.0.1:8500/"); err != nil || got != "http://127.0.0.1:8500" {
		t.Errorf("CanonicalAddress = %q, %v", got, err)
	}
}

// TestUnixSocketReachesTheServer dials a unix socket for each kind that
// takes one, and shows the socket and path in the error.
func TestUnixSocketReachesTheServer(t *testing.T) {
	sockDir, err := os.MkdirTemp("", "rs-sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	paths := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths <- r.URL.Path
		http.Error(w, "denied over the socket", http.StatusForbidden)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	for _, spec := range Kinds() {
		if !spec.UnixSocket {
			continue
		}
		_, err := mustNew(t, Config{Kind: spec.Kind, Address: "unix://" + sock}).Save(context.Background(), &bytes.Buffer{})
		var e *Error
		want := fmt.Sprintf("403 from %s at unix://%s:%s: denied over the socket", spec.Kind, sock, spec.Path)
		if !errors.As(err, &e) || err.Error() != want {
			t.Errorf("%s: err = %v, want %s", spec.Kind, err, want)
		}
		if got := <-paths; got != spec.Path {
			t.Errorf("%s: the server got %s", spec.Kind, got)
		}
	}
}

// TestRealConsulOverUnixSocketAndSchemelessAddress saves real snapshots
// from Consul at the addresses Consul's own CLI takes.
func TestRealConsulOverUnixSocketAndSchemelessAddress(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{UnixSocket: true})
	ctx := testContext(t)
	for _, addr := range []string{"unix://" + consul.Socket, strings.TrimPrefix(consul.Addr, "http://")} {
		cfg, err := Config{Kind: Consul}.Resolve(envOf(map[string]string{"CONSUL_HTTP_ADDR": addr}), nil)
		if err != nil {
			t.Fatal(err)
		}
		src := mustNew(t, cfg)
		var archive bytes.Buffer
		res, err := src.Save(ctx, &archive)
		if err != nil {
			t.Fatalf("save from %s: %v", src, err)
		}
		verifyArchive(t, archive.Bytes(), src.VerifyOptions())
		if res.Headers["X-Consul-Index"] == "" {
			t.Errorf("%s: no X-Consul-Index recorded: %v", src, res.Headers)
		}
	}
}

// TestTLSFromEnvironment: the CA, client certificate, key and server name
// variables alone are enough to reach Consul behind mutual TLS.
func TestTLSFromEnvironment(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	pki := newTestPKI(t)
	ctx := testContext(t)
	mtlsAddr := startTLSProxy(t, pki, consul.Addr, true)
	env := map[string]string{
		"CONSUL_HTTP_ADDR":       mtlsAddr,
		"CONSUL_CACERT":          pki.caFile,
		"CONSUL_CLIENT_CERT":     pki.clientCert,
		"CONSUL_CLIENT_KEY":      pki.clientKey,
		"CONSUL_TLS_SERVER_NAME": "consul.test",
	}
	cfg, err := Config{Kind: Consul}.Resolve(envOf(env), nil)
	if err != nil {
		t.Fatal(err)
	}
	src := mustNew(t, cfg)
	var archive bytes.Buffer
	if _, err := src.Save(ctx, &archive); err != nil {
		t.Fatalf("save with TLS from the environment: %v", err)
	}
	verifyArchive(t, archive.Bytes(), src.VerifyOptions())

	// Without the client certificate variables the proxy refuses.
	delete(env, "CONSUL_CLIENT_CERT")
	delete(env, "CONSUL_CLIENT_KEY")
	cfg, err = Config{Kind: Consul}.Resolve(envOf(env), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mustNew(t, cfg).Save(ctx, &bytes.Buffer{}); err == nil {
		t.Fatal("save without a client certificate succeeded; the variables were not what made it work")
	}
}
