package tui_test

// End-to-end test of the live view: the real binary, built once in
// TestMain, runs `raftsnap daemon --dev` and `raftsnap status` inside a
// private tmux server; keys go in with send-keys and the screen is read
// with capture-pane.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// raftsnapBin is the binary under test, built by TestMain ("" when
// integration tests are skipped).
var raftsnapBin string

func skipIntegration() bool { return os.Getenv("RAFTSNAP_SKIP_INTEGRATION") == "1" }

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if skipIntegration() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "raftsnap-tui-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tui e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	raftsnapBin = filepath.Join(dir, "raftsnap")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(goBin, "build", "-o", raftsnapBin, ".")
	build.Dir = filepath.Join("..", "..") // the module root, where main.go is
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "tui e2e: building raftsnap: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// lockedBuffer collects a process's output; wait blocks until it holds a
// string, woken by each write.
type lockedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newLockedBuffer() *lockedBuffer { return &lockedBuffer{changed: make(chan struct{}, 1)} }

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.buf.Write(p)
	b.mu.Unlock()
	select {
	case b.changed <- struct{}{}:
	default:
	}
	return n, err
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) wait(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for !strings.Contains(b.String(), want) {
		select {
		case <-b.changed:
		case <-deadline:
			t.Fatalf("no %q in the output within %s:\n%s", want, timeout, b)
		}
	}
}

// devDaemon is a running `raftsnap daemon --dev`.
type devDaemon struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
}

func startDevDaemon(t *testing.T, dir string) *devDaemon {
	t.Helper()
	d := &devDaemon{out: newLockedBuffer(), exited: make(chan struct{})}
	d.cmd = exec.Command(raftsnapBin, "daemon", "--dev", "--dev-dir", dir, "--log-level", "info")
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting the daemon: %v", err)
	}
	go func() {
		d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("daemon pid %d output:\n%s", d.cmd.Process.Pid, d.out)
		}
	})
	d.out.wait(t, "Press Ctrl-C", 20*time.Second)
	return d
}

func (d *devDaemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("the daemon did not stop within 15s of SIGTERM")
	}
}

// tmuxSession is one session on a private tmux server (its own socket,
// no configuration file), so a user's tmux is never touched.
type tmuxSession struct {
	t      *testing.T
	socket string
}

func (s *tmuxSession) tmux(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", s.socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s *tmuxSession) screen() string { return s.tmux("capture-pane", "-p", "-t", "ui") }

// waitScreen polls the pane until match accepts it. The pane changes
// without telling anyone, so polling is the only way to await it.
func (s *tmuxSession) waitScreen(what string, timeout time.Duration, match func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		screen := s.screen()
		if match(screen) {
			return screen
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the screen did not show %s within %s:\n%s", what, timeout, screen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *tmuxSession) waitFor(timeout time.Duration, wants ...string) string {
	s.t.Helper()
	return s.waitScreen(fmt.Sprintf("%q", wants), timeout, func(screen string) bool {
		for _, w := range wants {
			if !strings.Contains(screen, w) {
				return false
			}
		}
		return true
	})
}

var (
	wakeupRun     = regexp.MustCompile(`OK\s+run (\w+) \(wakeup\)`)
	snapshotCount = regexp.MustCompile(`store\s+\S+: (\d+) snapshots?`)
)

func TestStatusUnderTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		if skipIntegration() {
			t.Skip("tmux is not installed [skipped: RAFTSNAP_SKIP_INTEGRATION=1]")
		}
		t.Fatal("tmux is not installed (CI installs it; set RAFTSNAP_SKIP_INTEGRATION=1 to skip)")
	}
	if raftsnapBin == "" {
		t.Skip("[skipped: RAFTSNAP_SKIP_INTEGRATION=1]")
	}

	// A short directory: the control socket's path must fit in 107 bytes.
	dir, err := os.MkdirTemp("", "rs-tui-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "control", "sock")
	daemon := startDevDaemon(t, dir)

	s := &tmuxSession{t: t, socket: filepath.Join(dir, "tmux.sock")}
	// The shell tail keeps the pane after raftsnap exits, to show how it did.
	s.tmux("new-session", "-d", "-s", "ui", "-x", "100", "-y", "30",
		fmt.Sprintf("%s status --socket %s; echo raftsnap status exited $?; sleep 600", raftsnapBin, sock))
	t.Cleanup(func() {
		exec.Command("tmux", "-S", s.socket, "kill-server").Run()
		if t.Failed() {
			t.Logf("last screen:\n%s", s.screen())
		}
	})

	screen := s.waitFor(20*time.Second, "dev-snapshot", "dev-prune", "dev-restore", "raftsnap daemon", "refreshed")
	// The first job is selected; its details show.
	if !strings.Contains(screen, "DETAILS dev-snapshot") {
		t.Fatalf("dev-snapshot is not selected:\n%s", screen)
	}
	before := 0
	if m := snapshotCount.FindStringSubmatch(screen); m != nil {
		fmt.Sscan(m[1], &before)
	}

	// w wakes the selected job up; the run it causes lands in the history
	// and the store grows.
	s.tmux("send-keys", "-t", "ui", "w")
	screen = s.waitScreen("the wakeup's run and one more snapshot", 20*time.Second, func(screen string) bool {
		m := snapshotCount.FindStringSubmatch(screen)
		n := 0
		if m != nil {
			fmt.Sscan(m[1], &n)
		}
		return strings.Contains(screen, "woke up dev-snapshot: a run starts now") && wakeupRun.MatchString(screen) && n > before
	})
	runID := wakeupRun.FindStringSubmatch(screen)[1]
	if !strings.Contains(daemon.out.String(), "run="+runID+" trigger=wakeup") {
		t.Fatalf("the daemon's log has no wakeup run %s:\n%s", runID, daemon.out)
	}

	// The daemon goes away: the view says so and keeps the last status.
	daemon.stop(t)
	s.waitFor(10*time.Second, "daemon unreachable since", "dev-snapshot")

	// It comes back: the view reconnects by itself.
	daemon = startDevDaemon(t, dir)
	s.waitFor(15*time.Second, "daemon reachable again", fmt.Sprintf("pid %d", daemon.cmd.Process.Pid), "dev-snapshot", "dev-prune", "dev-restore")
	if screen := s.screen(); strings.Contains(screen, "unreachable since") {
		t.Fatalf("still unreachable after reconnecting:\n%s", screen)
	}

	// q quits cleanly.
	s.tmux("send-keys", "-t", "ui", "q")
	s.waitFor(10*time.Second, "raftsnap status exited 0")
}
