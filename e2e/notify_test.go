package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit"
)

// notifySocket is a real NOTIFY_SOCKET: a unixgram socket whose datagrams
// are collected the way systemd receives them.
type notifySocket struct {
	path  string
	conn  *net.UnixConn
	msgs  chan string
	taken []string // every message seen by await, in order
}

func newNotifySocket(t *testing.T, dir string) *notifySocket {
	t.Helper()
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &notifySocket{path: path, conn: conn, msgs: make(chan string, 256)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				close(s.msgs)
				return
			}
			s.msgs <- string(buf[:n])
		}
	}()
	return s
}

// await returns the next datagram holding line (one of its
// newline-separated assignments), failing after timeout.
func (s *notifySocket) await(t *testing.T, line string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case msg, ok := <-s.msgs:
			if !ok {
				t.Fatalf("notify socket closed before %q; got %q", line, s.taken)
			}
			s.taken = append(s.taken, msg)
			for _, l := range strings.Split(msg, "\n") {
				if l == line {
					return msg
				}
			}
		case <-deadline:
			t.Fatalf("no %q on NOTIFY_SOCKET within %s; got %q", line, timeout, s.taken)
		}
	}
}

// TestDaemonSystemdNotify runs the daemon binary as systemd would (a
// NOTIFY_SOCKET, a watchdog, stderr connected to "the journal") and checks
// the datagrams of start, watchdog, reload and stop, and the log format.
func TestDaemonSystemdNotify(t *testing.T) {
	dir := shortTempDir(t)
	configPath := pruneOnlyConfig(t, dir, filepath.Join(dir, "control", "sock"))
	notify := newNotifySocket(t, dir)

	// systemd connects stderr to the journal and names that stream in
	// JOURNAL_STREAM as <device>:<inode>; a plain file stands in for it.
	logFile, err := os.Create(filepath.Join(dir, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	info, err := logFile.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)

	cmd := exec.Command(testkit.Raftsnap(t), "daemon", "--config", configPath)
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(),
		"NOTIFY_SOCKET="+notify.path,
		"WATCHDOG_USEC=200000", // pings expected every 100 ms
		fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino),
		"RAFTSNAP_E2E_CANARY="+envCanary)
	d := testkit.StartProcess(t, cmd)

	ready := notify.await(t, "READY=1", 30*time.Second)
	if !strings.Contains(ready, "STATUS=1 jobs running") {
		t.Errorf("READY=1 datagram without a STATUS line: %q", ready)
	}
	// READY=1 must mean the control socket answers.
	if _, err := os.Stat(filepath.Join(dir, "control/sock")); err != nil {
		t.Errorf("READY=1 sent before the control socket exists: %v", err)
	}
	notify.await(t, "WATCHDOG=1", 10*time.Second)
	notify.await(t, "WATCHDOG=1", 10*time.Second)

	d.Signal(t, syscall.SIGHUP)
	reloading := notify.await(t, "RELOADING=1", 10*time.Second)
	if !regexp.MustCompile(`(?m)^MONOTONIC_USEC=\d+$`).MatchString(reloading) {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC: %q", reloading)
	}
	notify.await(t, "READY=1", 10*time.Second)

	d.Signal(t, syscall.SIGTERM)
	notify.await(t, "STOPPING=1", 10*time.Second)
	if code := d.ExitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("daemon exited %d after SIGTERM", code)
	}

	logs, err := os.ReadFile(logFile.Name())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(logs)), "\n")
	if len(lines) < 3 {
		t.Fatalf("too few log lines:\n%s", logs)
	}
	prefix := regexp.MustCompile(`^<(\d)>level=(DEBUG|INFO|WARN|ERROR) msg=`)
	want := map[string]string{"DEBUG": "7", "INFO": "6", "WARN": "4", "ERROR": "3"}
	for _, l := range lines {
		m := prefix.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("log line without a journald priority prefix: %q", l)
			continue
		}
		if want[m[2]] != m[1] {
			t.Errorf("priority <%s> for level %s: %q", m[1], m[2], l)
		}
		if strings.Contains(l, "time=") {
			t.Errorf("journald adds its own timestamp, but the line has one: %q", l)
		}
	}
	for _, msg := range []string{`msg="daemon started"`, `msg="configuration reloaded"`, `msg="daemon stopped"`} {
		if !strings.Contains(string(logs), msg) {
			t.Errorf("the log lacks %s:\n%s", msg, logs)
		}
	}
	if strings.Contains(string(logs), envCanary) {
		t.Error("the environment leaked into the log")
	}
}
