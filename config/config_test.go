package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit/golden"
)

// TestBadConfigs loads every testdata/bad/*.yml and compares the whole
// error text with the .err file next to it.
func TestBadConfigs(t *testing.T) {
	t.Setenv("CONSUL_HTTP_TOKEN", "x")
	files, err := filepath.Glob("testdata/bad/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("only %d bad configs; the corpus must hold at least 30", len(files))
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, ".yml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			// Their store paths are system ones, checked on no machine.
			cfg, err := ParseWith(data, name, Options{SkipDirChecks: true})
			if err == nil {
				t.Fatalf("loaded without error: %+v", cfg)
			}
			var list *Errors
			if !errors.As(err, &list) || len(list.List) == 0 {
				t.Fatalf("error is %T, want a non-empty *config.Errors: %v", err, err)
			}
			got := err.Error() + "\n"
			for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
				if !strings.HasPrefix(line, name+":") {
					t.Errorf("line does not start with the file name: %s", line)
				}
				// Secrets planted in the corpus (a token: key, passwords in
				// addresses) must never be echoed.
				for _, secret := range []string{"hunter2", "s3cr3t"} {
					if strings.Contains(line, secret) {
						t.Errorf("line leaks a secret: %s", line)
					}
				}
				for _, goName := range []string{"config.", "!!", "unmarshal", "reflect", "time.Duration", "[]config"} {
					if strings.Contains(line, goName) {
						t.Errorf("line speaks Go (%q): %s", goName, line)
					}
				}
			}
			golden.Check(t, strings.TrimSuffix(file, ".yml")+".err", []byte(got))
		})
	}
}

func TestGoodConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Glob("../dist/examples/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, examples...)
	if len(files) < 3 {
		t.Fatalf("found only %d good configs", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			cfg, err := LoadWith(file, Options{SkipDirChecks: true})
			if err != nil {
				t.Fatalf("\n%v", err)
			}
			if len(cfg.Jobs) == 0 {
				t.Fatal("no jobs")
			}
			for _, job := range cfg.Jobs {
				if job.Pruning != nil {
					if _, err := job.Pruning.Policy(); err != nil {
						t.Errorf("job %s: Policy: %v", job.Name, err)
					}
				}
			}
		})
	}
}

func TestTokenNeverInErrors(t *testing.T) {
	data, err := os.ReadFile("testdata/bad/token_in_yaml.yml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(data, "x.yml")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("want an error that does not quote the token, got %v", err)
	}
	if !strings.Contains(err.Error(), "token_file") || !strings.Contains(err.Error(), "token_env") {
		t.Errorf("error should point to token_file and token_env: %v", err)
	}
}

const minimal = `
jobs:
  - name: main
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8500}
    interval: 1h
    store: {path: /var/lib/raftsnap/main}
    pruning: {keep: [{last_n: {count: 3}}]}
  - name: tidy
    type: prune
    interval: 1d
    store: {path: /var/lib/raftsnap/other}
    pruning: {keep: [{within: 2w}]}
  - name: back
    type: restore
    from_job: main
    target: {type: consul, address: http://127.0.0.1:9500}
`

func mustParse(t *testing.T, yml string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(yml), "test.yml")
	if err != nil {
		t.Fatalf("\n%v", err)
	}
	return cfg
}

func TestDefaults(t *testing.T) {
	cfg := mustParse(t, minimal)
	g := cfg.Global
	checks := []struct {
		what      string
		got, want any
	}{
		{"logging.level", g.Logging.Level, "info"},
		{"logging.format", g.Logging.Format, "text"},
		{"logging.output", g.Logging.Output, "stderr"},
		{"control.sockpath", g.Control.SockPath, "/run/raftsnap/control"},
		{"monitoring.listen", g.Monitoring.Listen, ""},
		{"shutdown_timeout", g.ShutdownTimeout.Std(), 30 * time.Second},
		{"defaults.timeout", g.Defaults.Timeout.Std(), 10 * time.Minute},
		{"defaults.retries", g.Defaults.Retries, Retries{Max: 3, InitialBackoff: Duration(5 * time.Second), MaxBackoff: Duration(2 * time.Minute)}},
		{"main.timeout", cfg.Jobs[0].Timeout.Std(), 10 * time.Minute},
		{"main.jitter", cfg.Jobs[0].Jitter.Std(), time.Duration(0)},
		{"main.retries", *cfg.Jobs[0].Retries, Retries{Max: 3, InitialBackoff: Duration(5 * time.Second), MaxBackoff: Duration(2 * time.Minute)}},
		{"main.store.type", cfg.Jobs[0].Store.Type, "local"},
		{"main.source.connect_timeout", cfg.Jobs[0].Source.ConnectTimeout, 10 * time.Second},
		{"tidy.timeout", cfg.Jobs[1].Timeout.Std(), 10 * time.Minute},
		{"tidy.retries", cfg.Jobs[1].Retries, (*Retries)(nil)},
		{"back.snapshot", cfg.Jobs[2].Snapshot, "latest"},
		{"back.store (from main)", *cfg.Jobs[2].Store, Store{Type: "local", Path: "/var/lib/raftsnap/main"}},
		{"back.target.connect_timeout", cfg.Jobs[2].Target.ConnectTimeout, 10 * time.Second},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if cfg.Jobs[0].Retries == &cfg.Global.Defaults.Retries {
		t.Error("job retries alias the global defaults")
	}
}

// TestDefaultsInherit checks that jobs inherit global.defaults, field by
// field, and that an explicit retries.max: 0 is kept.
func TestDefaultsInherit(t *testing.T) {
	cfg := mustParse(t, `
global:
  defaults:
    timeout: 1m
    retries: {max: 7, max_backoff: 1h}
jobs:
  - name: main
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8500}
    interval: 1h
    retries: {max: 0}
    store: {path: /var/lib/raftsnap/main}
    pruning: {keep: [{last_n: {count: 3}}]}
  - name: other
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8501}
    interval: 1h
    timeout: 2m
    store: {path: /var/lib/raftsnap/other}
    pruning: {keep: [{last_n: {count: 3}}]}
`)
	want0 := Retries{Max: 0, InitialBackoff: Duration(5 * time.Second), MaxBackoff: Duration(time.Hour)}
	if got := *cfg.Jobs[0].Retries; got != want0 {
		t.Errorf("main.retries = %+v, want %+v", got, want0)
	}
	want1 := Retries{Max: 7, InitialBackoff: Duration(5 * time.Second), MaxBackoff: Duration(time.Hour)}
	if got := *cfg.Jobs[1].Retries; got != want1 {
		t.Errorf("other.retries = %+v, want %+v", got, want1)
	}
	if cfg.Jobs[0].Timeout.Std() != time.Minute || cfg.Jobs[1].Timeout.Std() != 2*time.Minute {
		t.Errorf("timeouts = %s, %s; want 1m, 2m", cfg.Jobs[0].Timeout, cfg.Jobs[1].Timeout)
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	cfg := mustParse(t, `
x-common: &common
  type: snapshot
  interval: 1h
  pruning: {keep: [{last_n: {count: 3}}]}
jobs:
  - <<: *common
    name: a
    source: {type: consul, address: http://127.0.0.1:8500}
    store: {path: /var/lib/raftsnap/a}
  - <<: *common
    name: b
    interval: 2h
    source: {type: consul, address: http://127.0.0.1:8501}
    store: {path: /var/lib/raftsnap/b}
`[1:])
	if len(cfg.Jobs) != 2 {
		t.Fatalf("got %d jobs, want 2", len(cfg.Jobs))
	}
	a, b := cfg.Jobs[0], cfg.Jobs[1]
	if a.Type != "snapshot" || a.Interval.Std() != time.Hour || a.Pruning == nil || a.Pruning.Keep[0].LastN.Count != 3 {
		t.Errorf("job a did not get the merged values: %+v", a)
	}
	if b.Interval.Std() != 2*time.Hour {
		t.Errorf("job b's own interval should override the merged one: got %s", b.Interval)
	}
}

func TestSourceConfigToken(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "consul.token")
	if err := os.WriteFile(tokenFile, []byte("file-token-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := mustParse(t, `
jobs:
  - name: from-file
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8500, token_file: `+tokenFile+`, datacenter: dc1, connect_timeout: 3s}
    interval: 1h
    store: {path: /var/lib/raftsnap/a}
    pruning: {keep: [{last_n: {count: 3}}]}
  - name: from-env
    type: snapshot
    source: {type: nomad, address: http://127.0.0.1:4646, token_env: RAFTSNAP_TEST_TOKEN_ENV}
    interval: 1h
    store: {path: /var/lib/raftsnap/b}
    pruning: {keep: [{last_n: {count: 3}}]}
  - name: default-env
    type: snapshot
    source: {type: vault, address: https://127.0.0.1:8200}
    interval: 1h
    store: {path: /var/lib/raftsnap/c}
    pruning: {keep: [{last_n: {count: 3}}]}
`)
	// RAFTSNAP_TEST_TOKEN_ENV is unset at load: a warning, not an error.
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "jobs[1].source.token_env: environment variable RAFTSNAP_TEST_TOKEN_ENV is not set") {
		t.Fatalf("warnings = %q", cfg.Warnings)
	}
	// ...but an error when the daemon builds the source.
	if _, err := cfg.Jobs[1].Source.Resolve(nil, nil); err == nil || !strings.Contains(err.Error(), "RAFTSNAP_TEST_TOKEN_ENV, which is not set") {
		t.Fatalf("want an unset-variable error, got %v", err)
	}

	sc, err := cfg.Jobs[0].Source.Resolve(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Token.Reveal() != "file-token-123" || sc.Kind != "consul" || sc.Datacenter != "dc1" || sc.ConnectTimeout != 3*time.Second {
		t.Errorf("source config from file: %+v (token %q)", sc, sc.Token.Reveal())
	}

	t.Setenv("RAFTSNAP_TEST_TOKEN_ENV", "env-token-456")
	t.Setenv("VAULT_TOKEN", "vault-token-789")
	sc, err = cfg.Jobs[1].Source.Resolve(nil, nil)
	if err != nil || sc.Token.Reveal() != "env-token-456" {
		t.Errorf("token_env: %v, token %q", err, sc.Token.Reveal())
	}
	sc, err = cfg.Jobs[2].Source.Resolve(nil, nil)
	if err != nil || sc.Token.Reveal() != "vault-token-789" || sc.ConnectTimeout != 10*time.Second {
		t.Errorf("default env: %v, token %q, connect timeout %v", err, sc.Token.Reveal(), sc.ConnectTimeout)
	}

	// A token file deleted after load fails at run time, without the token.
	if err := os.Remove(tokenFile); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Jobs[0].Source.Resolve(nil, nil); err == nil || strings.Contains(err.Error(), "file-token-123") {
		t.Errorf("want an error after the token file is gone, got %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yml")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("directory: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yml")
	if err := os.WriteFile(big, make([]byte, configFile.Max+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than 4 MiB") {
		t.Errorf("big file: %v", err)
	}
}
