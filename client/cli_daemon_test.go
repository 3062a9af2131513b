package client

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/nethelpers"
)

// The daemon command's own checks: everything here must be refused before
// anything starts.
func TestDaemonCommandUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("jobs:\n  - name: _internal\n    type: prune\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"daemon", "--dev", "--config", "/etc/x.yml"}, "--dev and --config exclude each other"},
		{[]string{"daemon", "--dev-dir", dir}, "--dev-dir needs --dev"},
		{[]string{"daemon", "extra"}, `raftsnap daemon takes no arguments (got ["extra"])`},
		{[]string{"daemon", "--config", filepath.Join(dir, "missing.yml")}, filepath.Join(dir, "missing.yml")},
		{[]string{"daemon", "--config", bad}, "bad.yml:2:"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := raftsnap(t, c.args...)
			if r.code != ExitUsage {
				t.Fatalf("exit %d, want %d (usage): %s", r.code, ExitUsage, r)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Fatalf("stderr does not contain %q: %s", c.want, r)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the daemon's logger and the test.
type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

// TestDaemonCommandInProcess runs `raftsnap daemon --config` through Main,
// drives it with the status command over its socket, and stops it with
// SIGTERM as systemd would: Main must return ExitOK and remove the socket.
// Not parallel: SIGTERM goes to the whole test process, where only Main's
// handler is registered while the daemon runs.
func TestDaemonCommandInProcess(t *testing.T) {
	dir := testkit.ShortTempDir(t) // short: unix socket paths are limited
	sock := filepath.Join(dir, "control", "sock")
	config := filepath.Join(dir, "raftsnap.yml")
	yml := fmt.Sprintf(`global:
  control: {sockpath: %s}
  shutdown_timeout: 5s
jobs:
  - name: tidy
    type: prune
    store: {path: %s}
    interval: 1h
    pruning: {keep: [{last_n: {count: 3}}]}
`, sock, filepath.Join(dir, "store"))
	if err := os.WriteFile(config, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}

	stdout, stderr := newSyncBuffer(), newSyncBuffer()
	exit := make(chan int, 1)
	go func() { exit <- Main([]string{"daemon", "--config", config}, strings.NewReader(""), stdout, stderr) }()

	// Wait until the daemon answers: from then on Main's signal handler is
	// installed and SIGTERM cannot kill the test process.
	// The socket announces nothing: poll it.
	var lastErr error
	if err := testkit.Poll(30*time.Second, func() bool {
		select {
		case code := <-exit:
			t.Fatalf("daemon exited %d before serving:\n%s", code, stderr)
		default:
		}
		resp, err := nethelpers.DialHTTPClient(sock).Get("http://raftsnap/version")
		if lastErr = err; err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}); err != nil {
		t.Fatalf("daemon not serving on %s after 30s: %v\n%s", sock, lastErr, stderr)
	}

	r := mustRaftsnap(t, "status", "--mode", "dump", "--socket", sock)
	if !strings.Contains(r.stdout, "tidy (prune)") {
		t.Errorf("status does not show the configured job:\n%s", r.stdout)
	}
	r = mustRaftsnap(t, "signal", "wakeup", "tidy", "--wait", "--socket", sock)
	if !strings.Contains(r.stdout, "tidy") {
		t.Errorf("signal wakeup --wait output: %s", r)
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exit:
		if code != ExitOK {
			t.Fatalf("daemon exited %d after SIGTERM, want %d:\n%s", code, ExitOK, stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("daemon still running 15s after SIGTERM:\n%s", stderr)
	}
	if !strings.Contains(stderr.String(), "daemon stopped") {
		t.Errorf(`no "daemon stopped" log line:\n%s`, stderr)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after a clean shutdown: %v", err)
	}
}
