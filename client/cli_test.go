package client

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit"
)

// cliResult is one in-process run of the raftsnap CLI.
type cliResult = testkit.CLIResult

// raftsnap runs the CLI in process, exactly as main does, with no terminal
// on stdin.
func raftsnap(t *testing.T, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(args, strings.NewReader(""), &stdout, &stderr)
	return cliResult{Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}

func mustRaftsnap(t *testing.T, args ...string) cliResult {
	t.Helper()
	r := raftsnap(t, args...)
	if r.Code != ExitOK {
		t.Fatalf("raftsnap %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// mustSave saves a snapshot from the kind of server at addr into path
// with the CLI and returns the archive.
func mustSave(t *testing.T, kind, addr, path string) []byte {
	t.Helper()
	mustRaftsnap(t, "snapshot", "save", "--source", kind, "--address", addr, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// vendor runs a vendor CLI (consul, nomad) and returns its combined output.
func vendor(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// assertOnlyFiles fails unless dir holds exactly the named files: no
// leftover .part file, nothing half-written.
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("%s holds %v, want exactly %v", dir, got, names)
	}
}

// writeConsulMainConfig writes dir/raftsnap.yml and returns its path: an
// hourly snapshot job consul-main (its source is never reached) whose
// store is stores (its store: or stores: setting, YAML at the job's
// indentation) and whose pruning keeps keep (a YAML list's items), then
// the jobs in more.
func writeConsulMainConfig(t *testing.T, dir, stores, keep, more string) string {
	t.Helper()
	cfg := filepath.Join(dir, "raftsnap.yml")
	testkit.WriteFile(t, cfg, `jobs:
  - name: consul-main
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8500}
    interval: 1h
    `+stores+`
    pruning: {keep: [`+keep+`]}
`+more, 0o600)
	return cfg
}
