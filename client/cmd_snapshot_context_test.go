package client

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/snapshot"
)

// runUnder runs the CLI as Main does, under ctx instead of the context
// Main cancels on SIGINT and SIGTERM.
func runUnder(ctx context.Context, args ...string) (cliResult, error) {
	var stdout, stderr bytes.Buffer
	g := &globalOptions{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr}
	root := newRootCommand(g)
	root.SetArgs(args)
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	err := root.ExecuteContext(ctx)
	return cliResult{Code: exitCode(err), Stdout: stdout.String(), Stderr: stderr.String()}, err
}

// writeValidArchive writes a small archive that verifies.
func writeValidArchive(t *testing.T, path string) {
	t.Helper()
	writeArchive(t, path, bytes.Repeat([]byte("state "), 1000))
}

// writeArchive writes a valid archive of state (whose first bytes say its
// flavour) at path.
func writeArchive(t *testing.T, path string, state []byte) {
	t.Helper()
	meta := &raft.SnapshotMeta{Version: 1, ID: "2-10-1714979289000", Index: 10, Term: 2, Size: int64(len(state))}
	var archive bytes.Buffer
	if _, err := snapshot.Write(&archive, meta, bytes.NewReader(state)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, archive.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyAndInspectStopWithTheirContext: the context that SIGINT and
// SIGTERM cancel reaches the verification itself, and an interrupted run
// is an error (exit 1), not a verdict on the file (exit 3).
func TestVerifyAndInspectStopWithTheirContext(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.snap"), filepath.Join(dir, "second.snap")
	writeValidArchive(t, first)
	writeValidArchive(t, second)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"snapshot", "verify", first, second}, first + ": snapshot verification stopped: context canceled"},
		{[]string{"snapshot", "inspect", first}, "snapshot verification stopped: context canceled"},
	} {
		args := tc.args
		r, err := runUnder(ctx, args...)
		if !errors.Is(err, context.Canceled) || err.Error() != tc.want || r.Code != ExitError {
			t.Errorf("%s under a cancelled context: error %v, want %q; %s", strings.Join(args, " "), err, tc.want, r)
		}
		if strings.Contains(r.Stdout, "OK") || strings.Contains(r.Stdout, "FAIL") {
			t.Errorf("%s printed a verdict although interrupted: %s", strings.Join(args, " "), r)
		}
	}
}
