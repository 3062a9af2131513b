package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/buildinfo"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/fakejobs"

	"github.com/raftsnap/raftsnap/daemon"
	"github.com/raftsnap/raftsnap/nethelpers"
	"github.com/raftsnap/raftsnap/snapshot"
)

// scriptedJob stands in for the daemon's real jobs (tested end to end by the
// daemon's own tests): each wakeup starts a run that ends with the next
// report the test sends on finish; its status comes from status.
type scriptedJob struct {
	fakejobs.Base
	status controlapi.JobStatus
	finish chan controlapi.RunReport // the run's outcome, sent by the test

	mu      sync.Mutex
	running bool
}

func (j *scriptedJob) Status() controlapi.JobStatus { return j.status }

func (j *scriptedJob) Wakeup() (<-chan controlapi.RunReport, bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	done := make(chan controlapi.RunReport, 1)
	if j.running {
		return done, true, nil
	}
	j.running = true
	go func() { done <- <-j.finish }()
	return done, false, nil
}

// runEnded lets the next wakeup start a run rather than queue one.
func (j *scriptedJob) runEnded() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.running = false
}

type scriptedJobs = fakejobs.Set[*scriptedJob]

func newScriptedJobs() (*scriptedJobs, *scriptedJob) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	snap := &scriptedJob{Base: fakejobs.Base{JobName: "consul-snap", JobType: "snapshot"}, finish: make(chan controlapi.RunReport, 1),
		status: controlapi.JobStatus{Name: "consul-snap", Type: "snapshot", State: controlapi.StateRunning, History: []controlapi.RunReport{},
			Current: &controlapi.RunProgress{ID: "3", Phase: "downloading", StartedAt: t0.Add(-10 * time.Second), Attempt: 1,
				BytesDone: 1 << 20, BytesExpected: 4 << 20, BytesPerSecond: 100 << 10}}}
	restore := &scriptedJob{Base: fakejobs.Base{JobName: "consul-restore", JobType: "restore", NoReset: true}, finish: make(chan controlapi.RunReport, 1),
		status: controlapi.JobStatus{Name: "consul-restore", Type: "restore", State: controlapi.StateIdle, History: []controlapi.RunReport{}}}
	header := controlapi.DaemonStatus{Schema: controlapi.SchemaVersion, Version: "v9.9.9", PID: 4242, StartedAt: t0.Add(-time.Hour), Now: t0}
	return &scriptedJobs{Header: header, Jobs: []*scriptedJob{snap, restore}}, snap
}

var daemonVersion = controlapi.VersionInfo{Version: "v9.9.9", Commit: "abc123", GoVersion: "go1.26.0", OS: "linux", Arch: "amd64"}

// startControlServer runs the daemon's real control server on a real
// private unix socket and returns the socket path.
func startControlServer(t *testing.T, jobs daemon.JobSource) string {
	t.Helper()
	sock := filepath.Join(testkit.ShortTempDir(t), "control")
	l, err := nethelpers.ListenPrivate(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := daemon.NewControlServer(jobs, daemonVersion, nil, nil)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("control server shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("control server: %v", err)
		}
	})
	return sock
}

func wantResult(t *testing.T, r cliResult, code int, inStdout, inStderr string) {
	t.Helper()
	if r.Code != code || !strings.Contains(r.Stdout, inStdout) || !strings.Contains(r.Stderr, inStderr) {
		t.Fatalf("want exit %d with %q in stdout and %q in stderr; got %s", code, inStdout, inStderr, r)
	}
}

func TestCLIStatus(t *testing.T) {
	jobs, _ := newScriptedJobs()
	sock := startControlServer(t, jobs)

	r := mustRaftsnap(t, "status", "--socket", sock)
	if !strings.HasPrefix(r.Stdout, "raftsnap daemon v9.9.9, pid 4242, up 1h0m (since 2026-03-01 11:00:00 UTC)\n") ||
		!strings.Contains(r.Stdout, "\n>> consul-snap (snapshot): running\n") ||
		!strings.Contains(r.Stdout, "  25%  1.0 MiB / 4.0 MiB  100 KiB/s  ETA 30s") ||
		!strings.Contains(r.Stdout, "\n-- consul-restore (restore): idle\n") {
		t.Fatalf("status dump:\n%s", r.Stdout)
	}

	r = mustRaftsnap(t, "status", "--socket", sock, "--job", "consul-restore")
	if strings.Contains(r.Stdout, "consul-snap") || !strings.Contains(r.Stdout, "consul-restore (restore)") {
		t.Fatalf("status --job:\n%s", r.Stdout)
	}

	r = mustRaftsnap(t, "status", "--socket", sock, "--mode", "raw")
	var st controlapi.DaemonStatus
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil || st.Schema != controlapi.SchemaVersion || len(st.Jobs) != 2 {
		t.Fatalf("status raw: %v\n%s", err, r.Stdout)
	}
	if !strings.HasPrefix(r.Stdout, "{\n  \"schema\": 2,\n") || !strings.HasSuffix(r.Stdout, "}\n") {
		t.Fatalf("raw status not indented as sent:\n%s", r.Stdout)
	}

	// Filtering keeps the daemon's key order and only the job asked for.
	r = mustRaftsnap(t, "status", "--socket", sock, "--mode", "raw", "--job", "consul-snap")
	var filtered map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.Stdout), &filtered); err != nil {
		t.Fatal(err)
	}
	var names []struct{ Name string }
	json.Unmarshal(filtered["jobs"], &names)
	if len(names) != 1 || names[0].Name != "consul-snap" || !strings.HasPrefix(r.Stdout, "{\n  \"schema\": 2,\n") {
		t.Fatalf("raw --job:\n%s", r.Stdout)
	}

	wantResult(t, raftsnap(t, "status", "--socket", sock, "--job", "nope"), ExitUsage, "",
		`the daemon has no job named "nope"; jobs: consul-snap, consul-restore`)
	wantResult(t, raftsnap(t, "status", "--socket", sock, "--mode", "interactive"), ExitUsage, "",
		"--mode interactive needs a terminal on stdout: use --mode dump or --mode raw")
	wantResult(t, raftsnap(t, "status", "--socket", sock, "--mode", "xml"), ExitUsage, "", `invalid --mode "xml": use interactive, dump or raw`)
}

func TestCLIStatusSocketFromConfig(t *testing.T) {
	jobs, _ := newScriptedJobs()
	sock := startControlServer(t, jobs)
	cfg := filepath.Join(t.TempDir(), "raftsnap.yml")
	yml := fmt.Sprintf(`global:
  control: {sockpath: %q}
jobs:
  - name: p
    type: prune
    interval: 1h
    store: {path: %q}
    pruning: {keep: [{last_n: {count: 3}}]}
`, sock, t.TempDir())
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustRaftsnap(t, "status", "--config", cfg)
	if !strings.Contains(r.Stdout, "consul-snap") {
		t.Fatalf("status via --config:\n%s", r)
	}
	// --socket wins over the config file.
	other := filepath.Join(t.TempDir(), "other")
	wantResult(t, raftsnap(t, "status", "--config", cfg, "--socket", other), ExitError, "",
		"no raftsnap daemon is listening on "+other)

	bad := filepath.Join(t.TempDir(), "bad.yml")
	os.WriteFile(bad, []byte("global:\n  control: {sockpth: /x}\njobs: []\n"), 0o600)
	wantResult(t, raftsnap(t, "status", "--config", bad), ExitUsage, "", "sockpth")

	// A file broken elsewhere (a half-edited job) still leads to the
	// socket: status and signal are needed most when something is wrong.
	broken := filepath.Join(t.TempDir(), "broken.yml")
	os.WriteFile(broken, []byte(fmt.Sprintf("global:\n  control: {sockpath: %q}\njobs:\n  - name: p\n    type: prnue\n", sock)), 0o600)
	if r := raftsnap(t, "configcheck", "--config", broken); r.Code != ExitUsage {
		t.Fatalf("the broken file passes configcheck; the test needs one that does not:\n%s", r)
	}
	if r := mustRaftsnap(t, "status", "--config", broken); !strings.Contains(r.Stdout, "consul-snap") {
		t.Fatalf("status via a broken --config:\n%s", r)
	}
}

func TestCLISignal(t *testing.T) {
	jobs, snap := newScriptedJobs()
	sock := startControlServer(t, jobs)

	wantResult(t, raftsnap(t, "signal", "wakeup", "consul-snap", "--socket", sock), ExitOK,
		"woke up job consul-snap: a run starts now\n", "")
	wantResult(t, raftsnap(t, "signal", "wakeup", "consul-snap", "--socket", sock), ExitOK,
		"job consul-snap is busy: one run is queued to start when the current run ends\n", "")
	wantResult(t, raftsnap(t, "signal", "reset", "consul-snap", "--socket", sock), ExitOK, "reset job consul-snap", "")
	if n := snap.Resets(); n != 1 {
		t.Fatalf("Reset called %d times", n)
	}

	wantResult(t, raftsnap(t, "signal", "wakeup", "vault-snap", "--socket", sock), ExitUsage, "",
		`raftsnap: daemon: unknown job "vault-snap"; jobs: consul-snap, consul-restore`)
	wantResult(t, raftsnap(t, "signal", "reset", "consul-restore", "--socket", sock), ExitUsage, "",
		`job "consul-restore" (restore) does not support reset`)
	wantResult(t, raftsnap(t, "signal", "snapshot", "consul-snap", "--socket", sock), ExitUsage, "",
		`unknown signal "snapshot": use wakeup or reset`)
	wantResult(t, raftsnap(t, "signal", "wakeup", "--socket", sock), ExitUsage, "", "expects a signal (wakeup or reset) and a JOB")
	wantResult(t, raftsnap(t, "signal", "reset", "consul-snap", "--wait", "--socket", sock), ExitUsage, "", "--wait applies only to wakeup")
}

func TestCLISignalWait(t *testing.T) {
	jobs, _ := newScriptedJobs()
	restore := jobs.Jobs[1]
	sock := startControlServer(t, jobs)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	restore.finish <- controlapi.RunReport{ID: "1", Trigger: "wakeup", StartedAt: t0, FinishedAt: t0.Add(4 * time.Second),
		Result: controlapi.ResultSuccess, Snapshot: "consul-20260301T110000Z-42.snap", Bytes: 2048, Index: 42}
	wantResult(t, raftsnap(t, "signal", "wakeup", "consul-restore", "--wait", "--socket", sock), ExitOK,
		"consul-restore: OK       run 1 (wakeup), took 4s: consul-20260301T110000Z-42.snap, 2.0 KiB, index 42\n", "")

	restore.runEnded()
	restore.finish <- controlapi.RunReport{ID: "2", Trigger: "wakeup", StartedAt: t0, FinishedAt: t0.Add(time.Second),
		Result: controlapi.ResultFailure, Error: "snapshot consul-x.snap failed verification: SHA256SUMS mismatch for state.bin"}
	r := raftsnap(t, "signal", "wakeup", "consul-restore", "--wait", "--socket", sock)
	wantResult(t, r, ExitError, "consul-restore: FAILED   run 2 (wakeup), took 1s: snapshot consul-x.snap failed verification", "")
	if r.Stderr != "" {
		t.Fatalf("failure already reported on stdout, stderr should be empty: %s", r)
	}

	restore.runEnded()
	restore.finish <- controlapi.RunReport{ID: "3", Result: controlapi.ResultCanceled, Error: "canceled by reset"}
	wantResult(t, raftsnap(t, "signal", "wakeup", "consul-restore", "--wait", "--socket", sock), ExitError,
		"CANCELED run 3: canceled by reset", "")

	// A run that does not end within --timeout: the CLI gives up, says so.
	restore.runEnded()
	wantResult(t, raftsnap(t, "signal", "wakeup", "consul-restore", "--wait", "--timeout", "300ms", "--socket", sock), ExitError,
		"", "gave up waiting after 300ms: job consul-restore's run goes on in the daemon")
}

func TestCLINoDaemon(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "control")
	msg := "raftsnap: no raftsnap daemon is listening on " + missing + ": start it with `raftsnap daemon` (or pass --socket)\n"
	for _, args := range [][]string{
		{"status"},
		{"status", "--mode", "raw"},
		{"signal", "wakeup", "consul-snap"},
		{"pprof", "on", "127.0.0.1:6060"},
	} {
		r := raftsnap(t, append(args, "--socket", missing)...)
		if r.Code != ExitError || r.Stderr != msg || r.Stdout != "" {
			t.Fatalf("%v without a daemon: want exit 1 and %q; got %s", args, msg, r)
		}
	}

	r := raftsnap(t, "version", "--socket", missing)
	if r.Code != ExitOK || !strings.HasPrefix(r.Stdout, "raftsnap ") || strings.Count(r.Stdout, "\n") != 2 ||
		r.Stderr != "note: daemon version unknown: no raftsnap daemon is listening on "+missing+": start it with `raftsnap daemon` (or pass --socket)\n" {
		t.Fatalf("version without a daemon: %s", r)
	}
}

func TestCLIVersionWithDaemon(t *testing.T) {
	jobs, _ := newScriptedJobs()
	sock := startControlServer(t, jobs)
	r := mustRaftsnap(t, "version", "--socket", sock)
	lines := strings.Split(strings.TrimSuffix(r.Stdout, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "raftsnap "+buildinfo.Get().Version+" ") ||
		lines[1] != "  gzip inflate: "+snapshot.InflateEngine() ||
		lines[2] != "daemon v9.9.9 (commit abc123, go1.26.0, linux/amd64)" {
		t.Fatalf("version output:\n%s", r)
	}
	if !strings.Contains(r.Stderr, "warning: the daemon runs raftsnap v9.9.9 (commit abc123) but this client is "+buildinfo.Get().Version) {
		t.Fatalf("no mismatch warning: %s", r)
	}

	// Same version: no warning.
	same := daemonVersion
	same.Version, same.Commit = buildinfo.Get().Version, buildinfo.Get().Commit
	sock2 := startControlServerVersion(t, jobs, same)
	r = mustRaftsnap(t, "version", "--socket", sock2)
	if r.Stderr != "" || strings.Count(r.Stdout, "\n") != 3 {
		t.Fatalf("matching versions: %s", r)
	}
}

func startControlServerVersion(t *testing.T, jobs daemon.JobSource, v controlapi.VersionInfo) string {
	t.Helper()
	saved := daemonVersion
	daemonVersion = v
	defer func() { daemonVersion = saved }()
	return startControlServer(t, jobs)
}

func TestCLIPprof(t *testing.T) {
	jobs, _ := newScriptedJobs()
	sock := startControlServer(t, jobs)

	wantResult(t, raftsnap(t, "pprof", "--socket", sock), ExitOK, "pprof server is off\n", "")
	r := mustRaftsnap(t, "pprof", "on", "127.0.0.1:0", "--socket", sock)
	m := regexp.MustCompile(`^pprof server listening on http://(127\.0\.0\.1:[1-9][0-9]*)/debug/pprof/\n$`).FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("pprof on: %s", r)
	}
	resp, err := http.Get("http://" + m[1] + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("goroutine profile:")) {
		t.Fatalf("pprof goroutine profile: %d %.200s", resp.StatusCode, body)
	}
	wantResult(t, raftsnap(t, "pprof", "status", "--socket", sock), ExitOK, "listening on http://"+m[1]+"/debug/pprof/", "")

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	wantResult(t, raftsnap(t, "pprof", "on", busy.Addr().String(), "--socket", sock), ExitError, "",
		"cannot start the pprof server on "+busy.Addr().String())
	wantResult(t, raftsnap(t, "pprof", "on", "6060", "--socket", sock), ExitUsage, "", `invalid pprof listen address "6060"`)
	wantResult(t, raftsnap(t, "pprof", "on", "--socket", sock), ExitUsage, "", "pprof on expects an address")

	wantResult(t, raftsnap(t, "pprof", "off", "--socket", sock), ExitOK, "pprof server is off\n", "")
	if conn, err := net.Dial("tcp", m[1]); err == nil {
		conn.Close()
		t.Fatalf("pprof still listening on %s after off", m[1])
	}
}

// TestCompletion: shells complete the signal ops, the daemon's job names
// (asked over the socket) and the fixed choices of flags.
func TestCompletion(t *testing.T) {
	jobs, _ := newScriptedJobs()
	sock := startControlServer(t, jobs)
	complete := func(args ...string) []string {
		t.Helper()
		r := mustRaftsnap(t, append([]string{"__complete"}, args...)...)
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			if !strings.HasPrefix(l, ":") { // the directive line
				out = append(out, l)
			}
		}
		return out
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"signal", ""}, "wakeup,reset"},
		{[]string{"signal", "wakeup", "--socket", sock, ""}, "consul-snap,consul-restore"},
		{[]string{"status", "--socket", sock, "--job", ""}, "consul-snap,consul-restore"},
		{[]string{"status", "--mode", ""}, "interactive,dump,raw"},
		{[]string{"snapshot", "verify", "--format", ""}, "text,json"},
		{[]string{"--log-level", ""}, "debug,info,warn,error"},
		// No daemon: no names, and no error.
		{[]string{"signal", "wakeup", "--socket", filepath.Join(t.TempDir(), "none"), ""}, ""},
	} {
		if got := strings.Join(complete(c.args...), ","); got != c.want {
			t.Errorf("__complete %q = %q, want %q", c.args, got, c.want)
		}
	}
}
