package client

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raftsnap.yml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigcheckOK(t *testing.T) {
	path := writeConfig(t, `
jobs:
  - name: consul-main
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8500}
    interval: 1h
    store: {path: /var/lib/raftsnap/consul-main}
    pruning: {keep: [{last_n: {count: 24}}]}
  - name: tidy
    type: prune
    interval: 1d
    store: {path: /var/lib/raftsnap/manual}
    pruning: {keep: [{within: 2w}]}
`)
	r := mustRaftsnap(t, "configcheck", "--config", path)
	if want := path + ": OK (2 jobs: consul-main, tidy)\n"; r.Stdout != want || r.Stderr != "" {
		t.Fatalf("got %s\nwant stdout %q and no stderr", r, want)
	}
}

func TestConfigcheckWarning(t *testing.T) {
	path := writeConfig(t, `
jobs:
  - name: one
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8500, token_env: RAFTSNAP_CONFIGCHECK_UNSET}
    interval: 1h
    store: {path: /var/lib/raftsnap/one}
    pruning: {keep: [{last_n: {count: 24}}]}
`)
	r := mustRaftsnap(t, "configcheck", "--config", path)
	if r.Stdout != path+": OK (1 job: one)\n" {
		t.Errorf("stdout = %q", r.Stdout)
	}
	want := "warning: " + path + ":5:71: jobs[0].source.token_env: environment variable RAFTSNAP_CONFIGCHECK_UNSET is not set here"
	if !strings.HasPrefix(r.Stderr, want) {
		t.Errorf("stderr = %q\nwant prefix %q", r.Stderr, want)
	}
}

func TestConfigcheckInvalid(t *testing.T) {
	path := writeConfig(t, `
jobs:
  - name: one
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8500, token: hunter2-secret}
    interval: 5 minutes
    store: {path: /var/lib/raftsnap/one}
    pruning: {keep: [{last_n: {count: 0}}]}
`)
	r := raftsnap(t, "configcheck", "--config", path)
	want := path + `:5:60: jobs[0].source.token: tokens must not be written in the configuration file: name a file holding it with token_file (mode 0600) or an environment variable with token_env
` + path + `:6:15: jobs[0].interval: invalid duration "5 minutes": use a number with a unit, e.g. 5m, 1h, 2d
` + path + `:8:39: jobs[0].pruning.keep[0].last_n.count: must be at least 1, got 0
` + path + `: INVALID (3 problems)
`
	if r.Code != ExitUsage || r.Stdout != "" || r.Stderr != want {
		t.Fatalf("got %s\nwant exit 2 (ExitUsage, as for every invalid configuration) and stderr:\n%s", r, want)
	}
	if strings.Contains(r.Stderr, "hunter2") {
		t.Fatal("the token reached the output")
	}
}

func TestConfigcheckMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yml")
	r := raftsnap(t, "configcheck", "--config", path)
	if r.Code != ExitUsage || !strings.Contains(r.Stderr, "no such file or directory") || r.Stdout != "" {
		t.Fatalf("got %s", r)
	}
	r = raftsnap(t, "configcheck", "extra-arg")
	if r.Code != ExitUsage || !strings.Contains(r.Stderr, "takes no arguments") {
		t.Fatalf("extra argument: got %s, want exit %d", r, ExitUsage)
	}
}

// TestConfigcheckExamples keeps the shipped examples valid.
func TestConfigcheckExamples(t *testing.T) {
	files, err := filepath.Glob("../dist/examples/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs found: %v", err)
	}
	for _, file := range files {
		r := mustRaftsnap(t, "configcheck", "--config", file)
		if !strings.HasPrefix(r.Stdout, file+": OK (") {
			t.Errorf("%s: %s", file, r)
		}
	}
}
