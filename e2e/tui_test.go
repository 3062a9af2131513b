package e2e

// End-to-end test of the live view: the real binary runs `raftsnap daemon
// --dev` and `raftsnap status` inside a private tmux server; keys go in
// with send-keys and the screen is read with capture-pane.

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit"
)

// startDevDaemon runs `raftsnap daemon --dev` in dir and waits until it
// is ready.
func startDevDaemon(t *testing.T, dir string) *daemonProc {
	t.Helper()
	d := spawnDaemon(t, "--dev", "--dev-dir", dir, "--log-level", "info")
	d.WaitOutput(t, d.Stdout, regexp.MustCompile(`Press Ctrl-C`), 20*time.Second)
	return d
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
	var screen string
	if err := testkit.Poll(timeout, func() bool {
		screen = s.screen()
		return match(screen)
	}); err != nil {
		s.t.Fatalf("the screen did not show %s within %s:\n%s", what, timeout, screen)
	}
	return screen
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
	t.Parallel() // waits far more than it computes: beside the crash loop
	testkit.RequireTool(t, "tmux", "apt-get install tmux (.ci/run does)")
	// A short directory: the control socket's path must fit in 107 bytes.
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "control", "sock")
	daemon := startDevDaemon(t, dir)

	s := &tmuxSession{t: t, socket: filepath.Join(dir, "tmux.sock")}
	// The shell tail keeps the pane after raftsnap exits, to show how it did.
	s.tmux("new-session", "-d", "-s", "ui", "-x", "100", "-y", "30",
		fmt.Sprintf("%s status --socket %s; echo raftsnap status exited $?; sleep 600", testkit.Raftsnap(t), sock))
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
	if !strings.Contains(daemon.Output(), "run="+runID+" trigger=wakeup") {
		t.Fatalf("the daemon's log has no wakeup run %s:\n%s", runID, daemon.Output())
	}

	// The daemon goes away: the view says so and keeps the last status.
	daemon.Stop(t, 15*time.Second)
	s.waitFor(10*time.Second, "daemon unreachable since", "dev-snapshot")

	// It comes back: the view reconnects by itself.
	daemon = startDevDaemon(t, dir)
	s.waitFor(15*time.Second, "daemon reachable again", fmt.Sprintf("pid %d", daemon.Pid()), "dev-snapshot", "dev-prune", "dev-restore")
	if screen := s.screen(); strings.Contains(screen, "unreachable since") {
		t.Fatalf("still unreachable after reconnecting:\n%s", screen)
	}

	// q quits cleanly.
	s.tmux("send-keys", "-t", "ui", "q")
	s.waitFor(10*time.Second, "raftsnap status exited 0")
}
