package client

import (
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
			if r.Code != ExitUsage {
				t.Fatalf("exit %d, want %d (usage): %s", r.Code, ExitUsage, r)
			}
			if !strings.Contains(r.Stderr, c.want) {
				t.Fatalf("stderr does not contain %q: %s", c.want, r)
			}
		})
	}
}

// inProcessDaemon is `raftsnap daemon` run through Main in this process.
type inProcessDaemon struct {
	sock, config   string
	stdout, stderr *testkit.Output
	exit           chan int
}

// startDaemonInProcess writes jobsYAML (the jobs: list, without global)
// with a private socket and runs `raftsnap daemon --config` plus args
// through Main until stop. dir is short, for the socket path's sake.
func startDaemonInProcess(t *testing.T, globalYAML, jobsYAML func(dir string) string, args ...string) *inProcessDaemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "rs") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &inProcessDaemon{sock: filepath.Join(dir, "control", "sock"), config: filepath.Join(dir, "raftsnap.yml"),
		stdout: testkit.NewOutput(), stderr: testkit.NewOutput(), exit: make(chan int, 1)}
	yml := fmt.Sprintf("global:\n  control: {sockpath: %s}\n  shutdown_timeout: 5s\n%sjobs:\n%s", d.sock, globalYAML(dir), jobsYAML(dir))
	if err := os.WriteFile(d.config, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.exit <- Main(append([]string{"daemon", "--config", d.config}, args...), strings.NewReader(""), d.stdout, d.stderr)
	}()
	// Wait until the daemon answers: from then on Main's signal handler is
	// installed and SIGTERM cannot kill the test process.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := nethelpers.DialHTTPClient(d.sock).Get("http://raftsnap/version")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case code := <-d.exit:
			t.Fatalf("daemon exited %d before serving:\n%s", code, d.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not serving on %s after 30s: %v\n%s", d.sock, err, d.stderr)
		}
		time.Sleep(20 * time.Millisecond) // polling a socket that does not exist yet
	}
	return d
}

// stop sends SIGTERM, as systemd would, and returns Main's exit code.
func (d *inProcessDaemon) stop(t *testing.T) int {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-d.exit:
		return code
	case <-time.After(15 * time.Second):
		t.Fatalf("daemon still running 15s after SIGTERM:\n%s", d.stderr)
		return -1
	}
}

func pruneJobYAML(dir string) string {
	return fmt.Sprintf(`  - name: tidy
    type: prune
    store: {path: %s}
    interval: 1h
    pruning: {keep: [{last_n: {count: 3}}]}
`, filepath.Join(dir, "store"))
}

// TestDaemonCommandInProcess runs `raftsnap daemon --config` through Main,
// drives it with the status command over its socket, and stops it with
// SIGTERM as systemd would: Main must return ExitOK and remove the socket.
// Not parallel: SIGTERM goes to the whole test process, where only Main's
// handler is registered while the daemon runs. The file says level error;
// --log-level info and --log-format json must win over it.
func TestDaemonCommandInProcess(t *testing.T) {
	d := startDaemonInProcess(t, func(string) string { return "  logging: {level: error, format: text}\n" }, pruneJobYAML,
		"--log-level", "info", "--log-format", "json")
	sock, stderr := d.sock, d.stderr

	r := mustRaftsnap(t, "status", "--mode", "dump", "--socket", sock)
	if !strings.Contains(r.Stdout, "tidy (prune)") {
		t.Errorf("status does not show the configured job:\n%s", r.Stdout)
	}
	r = mustRaftsnap(t, "signal", "wakeup", "tidy", "--wait", "--socket", sock)
	if !strings.Contains(r.Stdout, "tidy") {
		t.Errorf("signal wakeup --wait output: %s", r)
	}

	if code := d.stop(t); code != ExitOK {
		t.Fatalf("daemon exited %d after SIGTERM, want %d:\n%s", code, ExitOK, stderr)
	}
	if !strings.Contains(stderr.String(), `"level":"INFO","msg":"daemon stopped"`) {
		t.Errorf(`no "daemon stopped" log line at INFO in JSON (--log-level and --log-format ignored?):\n%s`, stderr)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after a clean shutdown: %v", err)
	}
}

// TestReloadCommand: `raftsnap reload` applies the file and says what
// changed; a broken file is refused with exit 2 and its problems, the
// running configuration stays, and the dump says so above everything else
// until a reload succeeds.
func TestReloadCommand(t *testing.T) {
	d := startDaemonInProcess(t, func(string) string { return "" }, pruneJobYAML)
	defer d.stop(t)
	good, err := os.ReadFile(d.config)
	if err != nil {
		t.Fatal(err)
	}
	added := strings.Replace(string(good), "  - name: tidy", "  - name: tidy2\n    type: prune\n    store: {path: "+filepath.Join(filepath.Dir(d.config), "store2")+"}\n    interval: 1h\n    pruning: {keep: [{last_n: {count: 1}}]}\n  - name: tidy", 1)
	if err := os.WriteFile(d.config, []byte(added), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustRaftsnap(t, "reload", "--socket", d.sock)
	if want := "reloaded " + d.config + ": added tidy2; 1 unchanged\n"; r.Stdout != want {
		t.Fatalf("reload output %q, want %q", r.Stdout, want)
	}

	broken := strings.Replace(added, "interval: 1h", "interval: soon", 1)
	os.WriteFile(d.config, []byte(broken), 0o600)
	r = raftsnap(t, "reload", "--socket", d.sock)
	if r.Code != ExitUsage || !strings.Contains(r.Stderr, `jobs[0].interval: invalid duration "soon"`) {
		t.Fatalf("reload of a broken file: %s", r)
	}
	dump := mustRaftsnap(t, "status", "--mode", "dump", "--socket", d.sock).Stdout
	lines := strings.Split(dump, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[1], "CONFIGURATION RELOAD REFUSED") || !strings.Contains(lines[2], "invalid duration") {
		t.Fatalf("the dump does not lead with the refused reload:\n%s", dump)
	}
	if !strings.Contains(dump, "tidy2 (prune)") {
		t.Fatalf("the running configuration did not stay:\n%s", dump)
	}

	os.WriteFile(d.config, good, 0o600)
	r = mustRaftsnap(t, "reload", "--socket", d.sock)
	if !strings.Contains(r.Stdout, "removed tidy2") {
		t.Fatalf("reload back: %s", r)
	}
	if dump := mustRaftsnap(t, "status", "--mode", "dump", "--socket", d.sock).Stdout; strings.Contains(dump, "REFUSED") {
		t.Fatalf("the banner stays after a good reload:\n%s", dump)
	}
}
