package source

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testToken = "s3cr3t-t0ken-1f9c2a"

func TestSecretNeverFormatsItsValue(t *testing.T) {
	s := Secret(testToken)
	type holder struct {
		Token Secret
		Ptr   *Secret
	}
	h := holder{Token: s, Ptr: &s}
	outputs := map[string]string{}
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%d", "%10s", "%-8v"} {
		outputs["secret "+verb] = fmt.Sprintf(verb, s)
		outputs["struct "+verb] = fmt.Sprintf(verb, h)
		outputs["slice "+verb] = fmt.Sprintf(verb, []Secret{s})
		outputs["map "+verb] = fmt.Sprintf(verb, map[string]Secret{"t": s})
	}
	outputs["Sprint"] = fmt.Sprint(s)
	outputs["Sprintln"] = fmt.Sprintln(s)
	outputs["String"] = s.String()
	outputs["GoString"] = s.GoString()
	for name, v := range map[string]any{"value": s, "struct": h, "map value": map[string]Secret{"t": s}} {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json %s: %v", name, err)
		}
		outputs["json "+name] = string(data)
	}
	text, _ := s.MarshalText()
	outputs["text"] = string(text)
	var logBuf bytes.Buffer
	for _, handler := range []slog.Handler{slog.NewTextHandler(&logBuf, nil), slog.NewJSONHandler(&logBuf, nil)} {
		logger := slog.New(handler)
		logger.Info("token", "token", s, "holder", h, "cfg", Config{Kind: Consul, Token: s})
	}
	outputs["slog"] = logBuf.String()
	outputs["config %+v"] = fmt.Sprintf("%+v", Config{Kind: Consul, Token: s})
	outputs["config %#v"] = fmt.Sprintf("%#v", Config{Kind: Consul, Token: s})

	for name, out := range outputs {
		if strings.Contains(out, testToken) || strings.Contains(out, fmt.Sprintf("%x", testToken)) {
			t.Errorf("%s leaks the token: %s", name, out)
		}
		if !strings.Contains(out, redacted) {
			t.Errorf("%s does not show %s: %s", name, redacted, out)
		}
	}
	if s.Reveal() != testToken {
		t.Fatalf("Reveal() = %q", s.Reveal())
	}
	if !s.IsSet() || Secret("").IsSet() {
		t.Fatal("IsSet wrong")
	}
}

func writeTokenFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask may have narrowed it
		t.Fatal(err)
	}
	return path
}

// envOf is a lookupEnv over a fixed environment.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// resolvedToken runs Config.Resolve for a consul source and returns the token.
func resolvedToken(cfg Config, env map[string]string) (Secret, error) {
	cfg.Kind, cfg.Address = Consul, "http://127.0.0.1:8500"
	resolved, err := cfg.Resolve(envOf(env), nil)
	return resolved.Token, err
}

func TestLoadToken(t *testing.T) {
	const envVar = "RAFTSNAP_TEST_TOKEN_ENV"
	privateFile := writeTokenFile(t, "  "+testToken+"\n\n", 0o600)

	t.Run("file wins over env", func(t *testing.T) {
		env := map[string]string{envVar: "from-env", "CONSUL_HTTP_TOKEN": "from-default-env"}
		for _, cfg := range []Config{{TokenFile: privateFile, TokenEnv: envVar}, {TokenFile: privateFile}} {
			got, err := resolvedToken(cfg, env)
			if err != nil || got.Reveal() != testToken {
				t.Fatalf("got %q, %v; want the trimmed file content", got.Reveal(), err)
			}
		}
	})
	t.Run("env when no file", func(t *testing.T) {
		got, err := resolvedToken(Config{TokenEnv: envVar}, map[string]string{envVar: " from-env\n", "CONSUL_HTTP_TOKEN": "from-default-env"})
		if err != nil || got.Reveal() != "from-env" {
			t.Fatalf("got %q, %v", got.Reveal(), err)
		}
		got, err = resolvedToken(Config{}, map[string]string{"CONSUL_HTTP_TOKEN": " from-default-env\n"})
		if err != nil || got.Reveal() != "from-default-env" {
			t.Fatalf("kind's variable: got %q, %v", got.Reveal(), err)
		}
	})
	t.Run("neither means no token", func(t *testing.T) {
		got, err := resolvedToken(Config{TokenEnv: envVar}, map[string]string{envVar: ""})
		if err != nil || got.IsSet() {
			t.Fatalf("got set=%v, %v; want no token and no error", got.IsSet(), err)
		}
		got, err = resolvedToken(Config{}, map[string]string{"CONSUL_HTTP_TOKEN": " "})
		if err != nil || got.IsSet() {
			t.Fatalf("got set=%v, %v; want no token and no error", got.IsSet(), err)
		}
	})
	t.Run("named variable unset", func(t *testing.T) {
		_, err := resolvedToken(Config{TokenEnv: envVar}, map[string]string{"CONSUL_HTTP_TOKEN": "from-default-env"})
		if err == nil || !strings.Contains(err.Error(), envVar+", which is not set") {
			t.Fatalf("err = %v; want one saying %s is not set", err, envVar)
		}
	})
	t.Run("errors", func(t *testing.T) {
		cases := map[string]struct{ file, want string }{
			"missing":   {filepath.Join(t.TempDir(), "nope"), "no such file"},
			"empty":     {writeTokenFile(t, " \n\t", 0o600), "is empty"},
			"multiline": {writeTokenFile(t, testToken+"\nsecond", 0o600), "more than one line"},
			"control":   {writeTokenFile(t, testToken+"\x00", 0o600), "control characters"},
			"huge":      {writeTokenFile(t, strings.Repeat("a", maxTokenFileSize+1), 0o600), "not a token file"},
			"directory": {t.TempDir(), "not a regular file"},
		}
		for name, tc := range cases {
			_, err := resolvedToken(Config{TokenFile: tc.file}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: err = %v, want it to contain %q", name, err, tc.want)
				continue
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("%s: error leaks the token: %v", name, err)
			}
		}
	})
	t.Run("env with newline", func(t *testing.T) {
		_, err := resolvedToken(Config{TokenEnv: envVar}, map[string]string{envVar: testToken + "\nX"})
		if err == nil || !strings.Contains(err.Error(), envVar) || strings.Contains(err.Error(), testToken) {
			t.Fatalf("err = %v; want one naming %s without the token", err, envVar)
		}
	})
}

func TestLoadTokenWarnsAboutLooseFileModeWithoutTheToken(t *testing.T) {
	var logBuf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logBuf, nil))

	private := writeTokenFile(t, testToken, 0o600)
	if _, err := (Config{Kind: Consul, TokenFile: private}).Resolve(nil, logger); err != nil {
		t.Fatal(err)
	}
	if logBuf.Len() != 0 {
		t.Fatalf("0600 file logged: %s", logBuf.String())
	}

	loose := writeTokenFile(t, testToken, 0o644)
	resolved, err := (Config{Kind: Consul, TokenFile: loose}).Resolve(nil, logger)
	got := resolved.Token
	if err != nil || got.Reveal() != testToken {
		t.Fatalf("loose file: %q, %v", got.Reveal(), err)
	}
	line := logBuf.String()
	if !strings.Contains(line, "level=WARN") || !strings.Contains(line, loose) || !strings.Contains(line, "0644") {
		t.Fatalf("want a WARN naming the file and mode, got %q", line)
	}
	if strings.Contains(line, testToken) {
		t.Fatalf("warning leaks the token: %s", line)
	}
}

func TestDefaultTokenEnv(t *testing.T) {
	want := map[Kind]string{Consul: "CONSUL_HTTP_TOKEN", Nomad: "NOMAD_TOKEN", Vault: "VAULT_TOKEN", Raft: "RAFTSNAP_RAFT_TOKEN"}
	for kind, env := range want {
		spec, ok := Lookup(kind)
		if got := spec.Env.Token; !ok || got != env {
			t.Errorf("%s token variable = %q (registered %v), want %q", kind, got, ok, env)
		}
	}
	if _, ok := Lookup("etcd"); ok {
		t.Error("etcd is registered")
	}
}

// TestTokenFileProblem: one rule for configcheck and the daemon, as
// docs/security.md states it: 0600, or 0640 with a group this process is
// in, owned by root or this process's user.
func TestTokenFileProblem(t *testing.T) {
	dir := t.TempDir()
	check := func(mode os.FileMode, uid, gid int) string {
		p := filepath.Join(dir, "token")
		os.Remove(p)
		if err := os.WriteFile(p, []byte("t"), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		if uid >= 0 {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Skipf("chown needs root: %v", err)
			}
		}
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return TokenFileProblem(info)
	}
	for _, c := range []struct {
		name     string
		mode     os.FileMode
		uid, gid int
		want     string
	}{
		{"0600", 0o600, -1, -1, ""},
		{"0640 in our group", 0o640, -1, -1, ""},
		{"0644", 0o644, -1, -1, "mode 0644 lets every user on this host at it"},
		{"0660", 0o660, -1, -1, "mode 0660 lets its group change it"},
	} {
		if got := check(c.mode, c.uid, c.gid); (c.want == "" && got != "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if os.Geteuid() == 0 {
		if got := check(0o600, 65534, 65534); !strings.Contains(got, "owned by uid 65534") {
			t.Errorf("owned by another user: %q", got)
		}
		if got := check(0o640, 0, 65534); !strings.Contains(got, "lets group 65534 read it") {
			t.Errorf("0640 with a foreign group: %q", got)
		}
	}
}
