package loopback

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/procstat"
	"github.com/raftsnap/raftsnap/internal/testkit"
)

// launch runs script under /bin/sh as a server would run, killed when the
// test ends.
func launch(t *testing.T, script string) *Process {
	t.Helper()
	dir := t.TempDir()
	p, err := Start(Launch{Bin: "/bin/sh", Args: []string{"-c", script}, Dir: dir,
		LogPath: filepath.Join(dir, "server.log"), Env: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.KillGroup(10 * time.Second) })
	return p
}

// A server that dies of a taken port: its exit status, its log from a line
// start, and the clash are all seen once it has exited.
func TestProcessExitLogAndPortClash(t *testing.T) {
	p := launch(t, `printf 'first line\nsecond\n'; echo 'listen tcp 127.0.0.1:8300: bind: address already in use' >&2; exit 3`)
	<-p.Exited()
	if !p.HasExited() || p.State().ExitCode() != 3 {
		t.Fatalf("exited %v with %v, want exit status 3", p.HasExited(), p.State())
	}
	if tail := p.LogTail(70); !strings.HasPrefix(tail, "second\n") || !strings.HasSuffix(tail, "address already in use") {
		t.Errorf("LogTail(70) = %q, want the last two lines: the cut one before them dropped, no final newline", tail)
	}
	if !p.PortClash() {
		t.Error("PortClash() = false for a server that logged 'address already in use' and exited")
	}
}

// A running server is no port clash yet, whatever its log says; KillGroup
// reaches what it started, not only itself.
func TestProcessKillGroupReachesChildren(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	p := launch(t, `echo 'address already in use'; sleep 300 & echo $! > `+pidFile+`.tmp && mv `+pidFile+`.tmp `+pidFile+`; wait`)
	var child int
	testkit.Eventually(t, "the shell's child pid", func() bool {
		b, err := os.ReadFile(pidFile)
		child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && child > 0
	})
	if p.PortClash() {
		t.Error("PortClash() = true for a server still running")
	}
	if err := p.KillGroup(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if ws, ok := p.State().Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the server ended with %v, want SIGKILL", p.State())
	}
	// The group's signal reaches the child too, in its own time.
	testkit.Eventually(t, "the server's child to die", func() bool {
		st, err := procstat.Read(child)
		return err != nil || !st.Live()
	})
}
