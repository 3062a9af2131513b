package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit"
)

// TestStorePathChecks: configcheck refuses the store directories the daemon
// could not use or must not trust, with the reason at the store's line.
func TestStorePathChecks(t *testing.T) {
	testkit.RequireRoot(t, "chown store directories to another user")
	base := t.TempDir()
	t.Setenv("CONSUL_HTTP_TOKEN", "x")
	mkdir := func(name string, mode os.FileMode, uid int) string {
		p := filepath.Join(base, name)
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		os.Chown(p, uid, -1)
		return p
	}
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	real := mkdir("real", 0o700, 0)
	alias := filepath.Join(base, "alias")
	if err := os.Symlink(real, alias); err != nil {
		t.Fatal(err)
	}
	config := func(paths ...string) string {
		var jobs strings.Builder
		for i, p := range paths {
			fmt.Fprintf(&jobs, `  - name: job%d
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8500}
    interval: 1h
    store: {path: %s}
    pruning: {keep: [{last_n: {count: 3}}]}
`, i, p)
		}
		return "jobs:\n" + jobs.String()
	}
	cases := []struct {
		name  string
		paths []string
		want  string
	}{
		{"a regular file", []string{file}, "jobs[0].store.path: " + file + " exists and is not a directory"},
		{"under a regular file", []string{filepath.Join(file, "store")}, "jobs[0].store.path: cannot create " + filepath.Join(file, "store") + ": " + file + " is not a directory"},
		{"owned by another user", []string{mkdir("nobody", 0o700, 65534)}, "is owned by uid 65534"},
		{"world-writable", []string{mkdir("open", 0o777, 0)}, "is writable by group or others (mode 0777)"},
		{"symlink alias of another job's store", []string{real, alias}, "jobs[1].store.path: " + real + " is already the store of snapshot job \"job0\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(config(c.paths...)), "raftsnap.yml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse = %v\nwant an error containing %q", err, c.want)
			}
		})
	}
	t.Run("checked for the daemon's user", func(t *testing.T) {
		theirs := mkdir("theirs", 0o700, 65534)
		if _, err := ParseWith([]byte(config(theirs)), "raftsnap.yml", Options{UID: 65534}); err != nil {
			t.Fatalf("a store owned by the daemon's user: %v", err)
		}
	})
}

// TestReadSockPathLeniently: status and signal --config find the socket in
// a file that does not load.
func TestReadSockPathLeniently(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	broken := write("broken.yml", "global:\n  control: {sockpath: /run/x/control}\n  shutdown_timeout: soon\njobs:\n  - name: a\n    type: nonsense\n    unknown_key: 1\n")
	if _, err := Load(broken); err == nil {
		t.Fatal("the broken file loads; the test needs one that does not")
	}
	if got, err := ReadSockPath(broken); err != nil || got != "/run/x/control" {
		t.Fatalf("ReadSockPath(broken) = %q, %v; want /run/x/control", got, err)
	}
	if got, err := ReadSockPath(write("empty.yml", "jobs: []\n")); err != nil || got != DefaultSockPath {
		t.Fatalf("ReadSockPath(no sockpath) = %q, %v; want the default", got, err)
	}
	if _, err := ReadSockPath(write("syntax.yml", "global: [\n")); err == nil || !strings.Contains(err.Error(), "cannot find global.control.sockpath") {
		t.Fatalf("ReadSockPath(bad YAML) = %v", err)
	}
	fifo := filepath.Join(dir, "fifo.yml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSockPath(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("ReadSockPath(FIFO) = %v", err)
	}
	if _, err := Load(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Load(FIFO) = %v", err)
	}
}

// TestMissingTokenFileIsAWarning: a token file that is not there yet (a
// fresh install, a secret still to be deployed) fails that job's runs, not
// the daemon (issue 13): configcheck and the daemon agree that it is not
// fatal, and configcheck says so.
func TestMissingTokenFileIsAWarning(t *testing.T) {
	cfg, err := LoadWith("testdata/warn_token_file_missing.yml", Options{SkipDirChecks: true})
	if err != nil {
		t.Fatalf("a missing token file stops the configuration: %v", err)
	}
	want := "warn_token_file_missing.yml:7:19: jobs[0].source.token_file: cannot use /nonexistent/raftsnap/consul.token (no such file or directory): this job's runs fail until it can be read"
	if len(cfg.Warnings) != 1 || !strings.HasSuffix(cfg.Warnings[0], want) {
		t.Fatalf("warnings %q, want one ending %q", cfg.Warnings, want)
	}
	// A path that can never be a token file stays an error.
	_, err = Parse([]byte(strings.Replace(mustRead(t, "testdata/warn_token_file_missing.yml"), "/nonexistent/raftsnap/consul.token", "relative.token", 1)), "rel.yml")
	if err == nil || !strings.Contains(err.Error(), `jobs[0].source.token_file: must be an absolute path, got "relative.token"`) {
		t.Fatalf("relative token file: %v", err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
