package client

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCLIExitCodes(t *testing.T) {
	dir := t.TempDir()
	notSnap := filepath.Join(dir, "page.html")
	if err := os.WriteFile(notSnap, []byte("<html>502 Bad Gateway</html>"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		inStderr string
		inStdout string
	}{
		{"unknown flag", []string{"snapshot", "save", "--nope", "x"}, ExitUsage, "unknown flag: --nope", ""},
		{"no source", []string{"snapshot", "save", "x"}, ExitUsage, "--source is required", ""},
		{"bad source", []string{"snapshot", "save", "--source", "etcd", "x"}, ExitUsage, `unknown --source "etcd"`, ""},
		{"missing file arg", []string{"snapshot", "save", "--source", "consul"}, ExitUsage, "expects FILE", ""},
		{"bad address", []string{"snapshot", "save", "--source", "consul", "--address", "ftp://x", "x"}, ExitUsage, "ftp", ""},
		{"bad format", []string{"snapshot", "verify", "--format", "xml", "x"}, ExitUsage, `invalid --format "xml"`, ""},
		{"verify no args", []string{"snapshot", "verify"}, ExitUsage, "at least one FILE", ""},
		{"verify missing file", []string{"snapshot", "verify", filepath.Join(dir, "none")}, ExitError, "failed verification", "no such file"},
		{"verify not a snapshot", []string{"snapshot", "verify", notSnap}, ExitInvalid, "1 of 1", "not gzip"},
		{"inspect not a snapshot", []string{"snapshot", "inspect", notSnap}, ExitInvalid, "not gzip", ""},
		{"inspect missing file", []string{"snapshot", "inspect", filepath.Join(dir, "none")}, ExitError, "no such file", ""},
		{"bad log level", []string{"--log-level", "loud", "version"}, ExitUsage, "invalid --log-level", ""},
		{"dev-cluster nodes", []string{"dev-cluster", "--nodes", "2"}, ExitUsage, "--nodes must be 1 or 3", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := raftsnap(t, tc.args...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.inStderr) || !strings.Contains(r.Stdout, tc.inStdout) {
				t.Fatalf("want exit %d with %q in stderr and %q in stdout; got %s", tc.code, tc.inStderr, tc.inStdout, r)
			}
		})
	}
}

func TestCLIVersion(t *testing.T) {
	r := mustRaftsnap(t, "version")
	if !strings.HasPrefix(r.Stdout, "raftsnap ") || !strings.Contains(r.Stdout, "go1.") {
		t.Fatalf("version output: %q", r.Stdout)
	}
}

func TestCLIStrayArgumentsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"version", "x"}, {"status", "x"}, {"dev-cluster", "x"}, {"daemon", "x"},
		{"test", "pruning", "x"},
	} {
		r := raftsnap(t, args...)
		if r.Code != ExitUsage || !strings.Contains(r.Stderr, "takes no arguments") {
			t.Errorf("raftsnap %s: want exit %d and \"takes no arguments\"; got %s", strings.Join(args, " "), ExitUsage, r)
		}
	}
}

// TestVersionFlag: --version works as in most tools, without a daemon.
func TestVersionFlag(t *testing.T) {
	r := mustRaftsnap(t, "--version")
	if !strings.HasPrefix(r.Stdout, "raftsnap ") || !strings.Contains(r.Stdout, "gzip inflate: ") {
		t.Fatalf("--version printed %q", r.Stdout)
	}
	if v := mustRaftsnap(t, "version", "--socket", filepath.Join(t.TempDir(), "none")); !strings.HasPrefix(v.Stdout, strings.SplitN(r.Stdout, "\n", 2)[0]) {
		t.Fatalf("--version %q and `raftsnap version` %q disagree", r.Stdout, v.Stdout)
	}
}

func TestDevCommandName(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "raftsnap")
	os.WriteFile(bin, nil, 0o755)
	link := filepath.Join(t.TempDir(), "raftsnap")
	os.Symlink(bin, link)
	for _, c := range []struct{ self, onPath, want string }{
		{"/tmp/go-build1234/b001/exe/raftsnap", "", "go run ."},
		{bin, link, "raftsnap"},
		{bin, "", bin},
		{bin, "/usr/bin/raftsnap-other", bin},
	} {
		if got := commandNameFor(c.self, c.onPath); got != c.want {
			t.Errorf("commandNameFor(%s, %s) = %q, want %q", c.self, c.onPath, got, c.want)
		}
	}
}
