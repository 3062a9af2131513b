package daemon_test

// End-to-end tests of the raftsnap daemon: the real binary, built once in
// TestMain, run with real configurations against real dev clusters (in this
// test process, over 127.0.0.1 TCP) and a real Consul server, driven with
// the real CLI over the real control socket.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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

	"github.com/raftsnap/raftsnap/daemon/controlapi"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// raftsnapBin is the binary under test, built by TestMain.
var raftsnapBin string

// envCanary is in every daemon's environment and must never be printed.
var envCanary = fmt.Sprintf("env-canary-%d-%d", os.Getpid(), time.Now().UnixNano())

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "raftsnap-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	raftsnapBin = filepath.Join(dir, "raftsnap")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(goBin, "build", "-o", raftsnapBin, ".")
	build.Dir = ".." // the module root, where main.go is
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building raftsnap: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// notifyBuffer collects a process's output and wakes waiters on each write,
// so tests await log lines instead of sleeping.
type notifyBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newNotifyBuffer() *notifyBuffer { return &notifyBuffer{changed: make(chan struct{}, 1)} }

func (b *notifyBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.buf.Write(p)
	b.mu.Unlock()
	select {
	case b.changed <- struct{}{}:
	default:
	}
	return n, err
}

func (b *notifyBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// daemonProc is a running `raftsnap daemon`.
type daemonProc struct {
	cmd            *exec.Cmd
	stdout, stderr *notifyBuffer
	exited         chan struct{}
	waitErr        error
	sock           string
	metricsAddr    string
}

// spawnDaemon starts the binary with args and returns at once.
func spawnDaemon(t *testing.T, args ...string) *daemonProc {
	t.Helper()
	d := &daemonProc{stdout: newNotifyBuffer(), stderr: newNotifyBuffer(), exited: make(chan struct{})}
	d.cmd = exec.Command(raftsnapBin, append([]string{"daemon"}, args...)...)
	d.cmd.Stdout, d.cmd.Stderr = d.stdout, d.stderr
	// RAFTSNAP_RAFT_TOKEN empty: only the token files the configs name
	// count. The canary catches status or logs dumping the environment.
	d.cmd.Env = append(os.Environ(), "RAFTSNAP_RAFT_TOKEN=", "RAFTSNAP_E2E_CANARY="+envCanary)
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting raftsnap daemon: %v", err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
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
			t.Logf("daemon %v output:\nstdout:\n%s\nstderr:\n%s", d.cmd.Args, d.stdout, d.stderr)
		}
	})
	return d
}

var startedLine = regexp.MustCompile(`msg="daemon started".* socket=(\S+) metrics=(\S*)`)

// startDaemon starts the daemon with a config file and waits for its
// "daemon started" log line.
func startDaemon(t *testing.T, configPath string) *daemonProc {
	t.Helper()
	d := spawnDaemon(t, "--config", configPath)
	m := d.waitOutput(t, d.stderr, startedLine, 30*time.Second)
	d.sock, d.metricsAddr = m[1], m[2]
	return d
}

// waitOutput waits until re matches what the daemon wrote to buf, and
// returns the submatches. It fails if the daemon exits first.
func (d *daemonProc) waitOutput(t *testing.T, buf *notifyBuffer, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if m := re.FindStringSubmatch(buf.String()); m != nil {
			return m
		}
		select {
		case <-buf.changed:
		case <-d.exited:
			if m := re.FindStringSubmatch(buf.String()); m != nil {
				return m
			}
			t.Fatalf("daemon exited (%v) before writing %q\nstdout:\n%s\nstderr:\n%s", d.waitErr, re, d.stdout, d.stderr)
		case <-deadline:
			t.Fatalf("daemon did not write %q within %s\nstderr:\n%s", re, timeout, d.stderr)
		}
	}
}

// exitCode waits up to timeout for the daemon to exit and returns its code.
func (d *daemonProc) exitCode(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-d.exited:
	case <-time.After(timeout):
		t.Fatalf("daemon still running %s after being told to stop\nstderr:\n%s", timeout, d.stderr)
	}
	var exitErr *exec.ExitError
	if errors.As(d.waitErr, &exitErr) {
		return exitErr.ExitCode()
	}
	if d.waitErr != nil {
		t.Fatalf("waiting for the daemon: %v", d.waitErr)
	}
	return 0
}

// output is what the daemon wrote so far, both streams.
func (d *daemonProc) output() string { return d.stdout.String() + d.stderr.String() }

// cliResult is one run of the raftsnap CLI binary.
type cliResult struct {
	code           int
	stdout, stderr string
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// rs runs the raftsnap binary (not the daemon) and returns its outcome.
func rs(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, raftsnapBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	code := 0
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("raftsnap %s: %v", strings.Join(args, " "), err)
	}
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func mustRS(t *testing.T, args ...string) cliResult {
	t.Helper()
	r := rs(t, args...)
	if r.code != 0 {
		t.Fatalf("raftsnap %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// controlClient talks HTTP over the daemon's unix socket, for polling
// /status without spawning a CLI process each time.
func controlClient(sock string) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}
}

func fetchStatus(t *testing.T, sock string) controlapi.DaemonStatus {
	t.Helper()
	resp, err := controlClient(sock).Get("http://raftsnap/status")
	if err != nil {
		t.Fatalf("GET /status: %v", err)
	}
	defer resp.Body.Close()
	var st controlapi.DaemonStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("decoding /status: %v", err)
	}
	return st
}

func jobStatus(t *testing.T, st controlapi.DaemonStatus, name string) controlapi.JobStatus {
	t.Helper()
	for _, j := range st.Jobs {
		if j.Name == name {
			return j
		}
	}
	t.Fatalf("job %s not in /status", name)
	return controlapi.JobStatus{}
}

// awaitStatus polls /status until cond holds for the named job. Polling is
// the control API's only way to observe a state; the deadline bounds it.
func awaitStatus(t *testing.T, sock, name, what string, cond func(controlapi.JobStatus) bool) controlapi.JobStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		j := jobStatus(t, fetchStatus(t, sock), name)
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: %s did not happen within 30s; last status: %+v", name, what, j)
		}
		<-tick.C
	}
}

// runningWithBytes is true while a run has transferred some bytes.
func runningWithBytes(j controlapi.JobStatus) bool {
	return j.State == controlapi.StateRunning && j.Current != nil && j.Current.BytesDone > 0
}

// trickleProxy sits in front of a real dev-cluster node and forwards the
// snapshot body 1 KiB per 100 ms, so that a run is reliably in progress
// when a test resets the job or stops the daemon.
type trickleProxy struct {
	url      string
	upstream string
	srv      *http.Server
}

func newTrickleProxy(t *testing.T, upstream string) *trickleProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &trickleProxy{url: "http://" + ln.Addr().String(), upstream: upstream}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve)}
	go p.srv.Serve(ln)
	t.Cleanup(func() { p.srv.Close() })
	return p
}

func (p *trickleProxy) serve(w http.ResponseWriter, r *http.Request) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.RequestURI(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.ContentLength = r.ContentLength
	req.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	buf := make([]byte, 1024)
	pace := time.NewTicker(100 * time.Millisecond) // the rate limit, not synchronisation
	defer pace.Stop()
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
		if err != nil {
			return
		}
		select {
		case <-pace.C:
		case <-r.Context().Done():
			return
		}
	}
}

// shortTempDir returns a fresh directory with a short path (unix socket
// addresses are limited to 107 bytes; t.TempDir paths can be long).
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func startCluster(t *testing.T, token string) *devcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := devcluster.Start(ctx, devcluster.Options{Nodes: 1, Dir: t.TempDir(), Token: token})
	if err != nil {
		t.Fatalf("starting a dev cluster: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func leader(t *testing.T, c *devcluster.Cluster) *devcluster.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func randomText(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n*3/4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// partFiles lists temp files (downloads in progress) in dir.
func partFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.part"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var snapName = regexp.MustCompile(`[A-Za-z0-9_.-]+-\d{8}T\d{6}Z-\d+(?:-\d+)?\.snap`)

// storedSnapshots returns the committed snapshots of dir: archives with a
// sidecar, as the store lists them.
func storedSnapshots(t *testing.T, dir string) []store.Entry {
	t.Helper()
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := st.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func readSidecar(t *testing.T, archivePath string) store.Entry {
	t.Helper()
	data, err := os.ReadFile(archivePath + ".json")
	if err != nil {
		t.Fatalf("sidecar of %s: %v", filepath.Base(archivePath), err)
	}
	var e store.Entry
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("sidecar of %s: %v", filepath.Base(archivePath), err)
	}
	return e
}

const e2eConfig = `global:
  logging: {level: info}
  control: {sockpath: %[1]s/control/sock}
  monitoring: {listen: "127.0.0.1:0"}
  shutdown_timeout: 5s
jobs:
  - name: snap
    type: snapshot
    source: {type: raft, address: %[2]s, token_file: %[1]s/token}
    interval: 1s
    store: {path: %[1]s/store}
    pruning:
      keep:
        - last_n: {count: 100}
  - name: prune
    type: prune
    store: {path: %[1]s/store}
    interval: 1h
    owners: [snap]
    pruning:
      keep:
        - last_n: {count: 2}
  - name: restore-job
    type: restore
    from_job: snap
    snapshot: latest
    target: {type: raft, address: %[3]s, token_file: %[1]s/token}
  - name: slow
    type: snapshot
    source: {type: raft, address: %[4]s, token_file: %[1]s/token}
    interval: 1h
    retries: {max: 0}
    store: {path: %[1]s/slowstore}
    pruning:
      keep:
        - last_n: {count: 10}
  - name: denied
    type: snapshot
    source: {type: raft, address: %[2]s, token_file: %[1]s/wrong-token}
    interval: 1h
    retries: {max: 0}
    store: {path: %[1]s/deniedstore}
    pruning:
      keep:
        - last_n: {count: 1}
`

// TestDaemonEndToEnd runs one daemon with snapshot, prune, restore and a
// deliberately slow snapshot job, and checks each behaviour the operator
// relies on, in an order that keeps the steps independent of each other.
func TestDaemonEndToEnd(t *testing.T) {
	token := "e2e-token-" + randomText(t, 24)
	sourceCluster := startCluster(t, token)
	targetCluster := startCluster(t, token)
	ctx := context.Background()
	// Enough incompressible state that a trickled snapshot takes ~30 s.
	for i := range 40 {
		if err := sourceCluster.Put(ctx, fmt.Sprintf("key-%03d", i), randomText(t, 10<<10)); err != nil {
			t.Fatal(err)
		}
	}
	sourceLeader, targetLeader := leader(t, sourceCluster), leader(t, targetCluster)
	proxy := newTrickleProxy(t, sourceLeader.HTTPAddr)

	dir := shortTempDir(t)
	writeFile(t, filepath.Join(dir, "token"), token+"\n", 0o600)
	// A wrong token exercises the error path, where a careless message
	// would quote what was sent.
	wrongToken := "e2e-wrong-" + randomText(t, 24)
	writeFile(t, filepath.Join(dir, "wrong-token"), wrongToken+"\n", 0o600)
	configPath := filepath.Join(dir, "raftsnap.yml")
	writeFile(t, configPath, fmt.Sprintf(e2eConfig, dir, sourceLeader.HTTPAddr, targetLeader.HTTPAddr, proxy.url), 0o600)
	storeDir, slowStore := filepath.Join(dir, "store"), filepath.Join(dir, "slowstore")

	d := startDaemon(t, configPath)
	sock := d.sock
	if sock != filepath.Join(dir, "control/sock") {
		t.Fatalf("daemon started on socket %q, configured %s/control/sock", sock, dir)
	}
	var cliOutputs []string // everything the CLI printed, checked for the token at the end
	cli := func(args ...string) cliResult {
		t.Helper()
		r := rs(t, append(args, "--socket", sock)...)
		cliOutputs = append(cliOutputs, r.stdout, r.stderr)
		return r
	}

	t.Run("socket permissions", func(t *testing.T) {
		info, err := os.Lstat(sock)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode()&os.ModeSocket == 0 || info.Mode().Perm() != 0o600 {
			t.Errorf("socket mode %v, want a socket with 0600", info.Mode())
		}
		dinfo, err := os.Stat(filepath.Dir(sock))
		if err != nil {
			t.Fatal(err)
		}
		if dinfo.Mode().Perm() != 0o700 {
			t.Errorf("socket directory mode %04o, want 0700", dinfo.Mode().Perm())
		}
	})

	t.Run("scheduled snapshots are stored verified with a sidecar", func(t *testing.T) {
		// The startup run plus two scheduled ones at interval 1s.
		awaitStatus(t, sock, "snap", "three successful runs", func(j controlapi.JobStatus) bool {
			n := 0
			for _, r := range j.History {
				if r.Result == controlapi.ResultSuccess {
					n++
				}
			}
			return n >= 3
		})
		entries := storedSnapshots(t, storeDir)
		if len(entries) < 3 {
			t.Fatalf("store lists %d snapshots after 3 successful runs", len(entries))
		}
		for _, e := range entries {
			report, err := snapshot.VerifyFile(e.Path, snapshot.VerifyOptions{})
			if err != nil {
				t.Errorf("%s does not verify: %v", e.Name, err)
				continue
			}
			sc := readSidecar(t, e.Path)
			if sc.Job != "snap" || !sc.Verified || sc.SHA256 != report.ArchiveSHA256 || sc.Size != report.ArchiveBytes || sc.Index != report.Meta.Index {
				t.Errorf("%s: sidecar %+v disagrees with the archive (sha256 %s, %d bytes, index %d)",
					e.Name, sc, report.ArchiveSHA256, report.ArchiveBytes, report.Meta.Index)
			}
			if info, err := os.Stat(e.Path); err != nil || info.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v (err %v), want 0600", e.Name, info.Mode(), err)
			}
		}
	})

	t.Run("wakeup --wait takes a snapshot now", func(t *testing.T) {
		if err := sourceCluster.Put(ctx, "wakeup-marker", "1"); err != nil {
			t.Fatal(err)
		}
		wantIndex := sourceLeader.Raft.AppliedIndex()
		r := cli("signal", "wakeup", "snap", "--wait")
		if r.code != 0 {
			t.Fatalf("signal wakeup snap --wait: %s", r)
		}
		name := snapName.FindString(r.stdout)
		if name == "" {
			t.Fatalf("wakeup output names no snapshot: %s", r)
		}
		listed := false
		for _, e := range storedSnapshots(t, storeDir) {
			if e.Name == name {
				listed = true
				if e.Index < wantIndex {
					t.Errorf("%s has index %d, older than the write made before the wakeup (%d)", name, e.Index, wantIndex)
				}
			}
		}
		if !listed {
			t.Fatalf("%s, reported by wakeup --wait, is not listed in the store", name)
		}
	})

	t.Run("prune wakeup keeps the policy's count", func(t *testing.T) {
		r := cli("signal", "wakeup", "prune", "--wait")
		if r.code != 0 {
			t.Fatalf("signal wakeup prune --wait: %s", r)
		}
		j := jobStatus(t, fetchStatus(t, sock), "prune")
		if j.LastRun == nil || j.LastRun.Pruning == nil {
			t.Fatalf("prune job reports no pruning after its run: %+v", j)
		}
		p := j.LastRun.Pruning
		if p.Kept != 2 || p.Destroyed < 2 {
			t.Fatalf("prune with last_n 2 over ≥4 snapshots: kept %d, destroyed %d", p.Kept, p.Destroyed)
		}
	})

	t.Run("restore job brings the target back to the snapshot", func(t *testing.T) {
		if err := targetCluster.Put(ctx, "only-in-target", "x"); err != nil {
			t.Fatal(err)
		}
		r := cli("signal", "wakeup", "restore-job", "--wait")
		if r.code != 0 {
			t.Fatalf("signal wakeup restore-job --wait: %s", r)
		}
		name := snapName.FindString(r.stdout)
		if name == "" {
			t.Fatalf("restore output names no snapshot: %s", r)
		}
		want := sourceLeader.FSM.Data() // the source does not change during the test
		got := leader(t, targetCluster).FSM.Data()
		if _, ok := got["only-in-target"]; ok {
			t.Fatal("a key written only to the target survived the restore")
		}
		if len(got) != len(want) {
			t.Fatalf("target holds %d keys after restoring %s, source %d", len(got), name, len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("after restoring %s the target's %s differs from the source", name, k)
			}
		}
	})

	t.Run("reset cancels a slow run and leaves no temp file", func(t *testing.T) {
		// The slow job started at daemon start (its store was empty).
		awaitStatus(t, sock, "slow", "a run transferring bytes", runningWithBytes)
		if parts := partFiles(t, slowStore); len(parts) != 1 {
			t.Fatalf("during the slow run the store holds %d temp files, want 1", len(parts))
		}
		r := cli("signal", "reset", "slow")
		if r.code != 0 {
			t.Fatalf("signal reset slow: %s", r)
		}
		j := awaitStatus(t, sock, "slow", "the reset run to end", func(j controlapi.JobStatus) bool {
			return j.State != controlapi.StateRunning && j.LastRun != nil
		})
		if j.LastRun.Result != controlapi.ResultCanceled {
			t.Fatalf("the reset run ended %q (%s), want canceled", j.LastRun.Result, j.LastRun.Error)
		}
		if j.State != controlapi.StateWaiting {
			t.Errorf("after reset the job is %q, want waiting", j.State)
		}
		if parts := partFiles(t, slowStore); len(parts) != 0 {
			t.Fatalf("temp files left after reset: %v", parts)
		}
		if n := len(storedSnapshots(t, slowStore)); n != 0 {
			t.Fatalf("a canceled run left %d snapshots in the store", n)
		}
	})

	t.Run("a second daemon on the socket is refused and touches nothing", func(t *testing.T) {
		// A slow run in progress: its temp file must survive the second
		// daemon's attempt to start with the same configuration.
		if r := cli("signal", "wakeup", "slow"); r.code != 0 {
			t.Fatalf("signal wakeup slow: %s", r)
		}
		awaitStatus(t, sock, "slow", "a run transferring bytes", runningWithBytes)
		parts := partFiles(t, slowStore)
		if len(parts) != 1 {
			t.Fatalf("during the slow run the store holds %d temp files, want 1", len(parts))
		}

		second := spawnDaemon(t, "--config", configPath)
		code := second.exitCode(t, 30*time.Second)
		msg := second.stderr.String()
		if code == 0 {
			t.Fatalf("second daemon exited 0:\n%s", msg)
		}
		if !strings.Contains(msg, sock) || !strings.Contains(msg, fmt.Sprint(d.cmd.Process.Pid)) {
			t.Errorf("second daemon's message does not name the socket %s and the first daemon's pid %d:\n%s", sock, d.cmd.Process.Pid, msg)
		}
		if _, err := os.Stat(parts[0]); err != nil {
			t.Errorf("the second daemon removed the first one's download in progress: %v", err)
		}
		st := fetchStatus(t, sock)
		if st.PID != d.cmd.Process.Pid {
			t.Fatalf("socket answered by pid %d, want the first daemon %d", st.PID, d.cmd.Process.Pid)
		}
		if j := jobStatus(t, st, "slow"); j.State != controlapi.StateRunning {
			t.Errorf("the first daemon's slow run is %q after the second daemon's attempt, want running", j.State)
		}
		if r := cli("signal", "reset", "slow"); r.code != 0 {
			t.Fatalf("signal reset slow: %s", r)
		}
		awaitStatus(t, sock, "slow", "the reset run to end", func(j controlapi.JobStatus) bool { return j.State != controlapi.StateRunning })
	})

	t.Run("status JSON schema", func(t *testing.T) {
		r := cli("status", "--mode", "raw")
		if r.code != 0 {
			t.Fatalf("status --mode raw: %s", r)
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
			t.Fatalf("status --mode raw is not JSON: %v\n%s", err, r.stdout)
		}
		if raw["schema"] != float64(1) {
			t.Errorf("schema = %v, want 1", raw["schema"])
		}
		for _, key := range []string{"version", "pid", "started_at", "jobs"} {
			if _, ok := raw[key]; !ok {
				t.Errorf("status has no %q", key)
			}
		}
		for _, bad := range nonSnakeKeys(raw, "") {
			t.Errorf("key not in snake_case: %s", bad)
		}
		var st controlapi.DaemonStatus
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, j := range st.Jobs {
			names = append(names, j.Name+"/"+j.Type)
			switch j.State {
			case controlapi.StateIdle, controlapi.StateWaiting, controlapi.StateRunning, controlapi.StateError:
			default:
				t.Errorf("job %s: state %q is not in the documented enum", j.Name, j.State)
			}
			for _, run := range j.History {
				switch run.Result {
				case controlapi.ResultSuccess, controlapi.ResultFailure, controlapi.ResultCanceled:
				default:
					t.Errorf("job %s: run result %q is not in the documented enum", j.Name, run.Result)
				}
			}
		}
		if got, want := strings.Join(names, ","), "snap/snapshot,prune/prune,restore-job/restore,slow/snapshot,denied/snapshot"; got != want {
			t.Errorf("status jobs %s, configured %s", got, want)
		}
		snap := jobStatus(t, st, "snap")
		if snap.LastSuccessAt == nil || snap.NextRunAt == nil || snap.Store == nil || snap.Store.Snapshots == 0 {
			t.Errorf("snap job status lacks last_success_at, next_run_at or its store: %+v", snap)
		}
		if slow := jobStatus(t, st, "slow"); slow.LastRun == nil || slow.LastRun.Result != controlapi.ResultCanceled {
			t.Errorf("slow job's last run is not the canceled one: %+v", slow.LastRun)
		}
		denied := jobStatus(t, st, "denied")
		if denied.State != controlapi.StateError || denied.LastRun == nil || denied.LastRun.Result != controlapi.ResultFailure ||
			!strings.Contains(denied.LastRun.Error, "401") {
			t.Errorf("the job with a wrong token is not in error with a 401: %+v %+v", denied, denied.LastRun)
		}
		dump := cli("status", "--mode", "dump")
		if dump.code != 0 || !strings.Contains(dump.stdout, "restore-job") {
			t.Errorf("status --mode dump: %s", dump)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		if d.metricsAddr == "" {
			t.Fatal(`the "daemon started" line names no metrics address`)
		}
		resp, err := http.Get("http://" + d.metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
		}
		cliOutputs = append(cliOutputs, string(body))
		problems, err := promlint.New(bytes.NewReader(body)).Lint()
		if err != nil {
			t.Fatalf("promlint: %v", err)
		}
		for _, p := range problems {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("parsing /metrics: %v", err)
		}
		// series, by family, that must exist with these labels and a value
		// the runs so far imply.
		checks := []struct {
			family string
			labels map[string]string
			ok     func(v float64) bool
			want   string
		}{
			{"raftsnap_job_last_success_timestamp_seconds", map[string]string{"job_name": "snap"}, func(v float64) bool { return v > float64(time.Now().Add(-time.Minute).Unix()) }, "within the last minute"},
			{"raftsnap_job_last_attempt_timestamp_seconds", map[string]string{"job_name": "slow"}, func(v float64) bool { return v > 0 }, "> 0"},
			{"raftsnap_snapshot_last_size_bytes", map[string]string{"job_name": "snap"}, func(v float64) bool { return v > 100<<10 }, "> 100 KiB"},
			{"raftsnap_store_snapshots", map[string]string{"job_name": "snap"}, func(v float64) bool { return v >= 1 }, ">= 1"},
			{"raftsnap_store_size_bytes", map[string]string{"job_name": "snap"}, func(v float64) bool { return v > 100<<10 }, "> 100 KiB"},
			{"raftsnap_prune_destroyed_total", map[string]string{"job_name": "prune"}, func(v float64) bool { return v >= 2 }, ">= 2"},
			{"raftsnap_restores_total", map[string]string{"job_name": "restore-job", "result": "success"}, func(v float64) bool { return v == 1 }, "1"},
			{"raftsnap_job_run_duration_seconds", map[string]string{"job_name": "slow", "result": "canceled"}, func(v float64) bool { return v == 2 }, "2 observations"},
			{"raftsnap_job_failures_total", map[string]string{"job_name": "denied", "reason": "http_4xx"}, func(v float64) bool { return v == 1 }, "1 (a 401 is not retried)"},
			{"raftsnap_control_requests_total", map[string]string{"endpoint": "/signal", "code": "200"}, func(v float64) bool { return v >= 1 }, ">= 1"},
		}
		for _, c := range checks {
			v, found := metricValue(families[c.family], c.labels)
			if !found {
				t.Errorf("/metrics has no %s%v", c.family, c.labels)
				continue
			}
			if !c.ok(v) {
				t.Errorf("%s%v = %v, want %s", c.family, c.labels, v, c.want)
			}
		}
		for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "raftsnap_build_info"} {
			if families[name] == nil {
				t.Errorf("/metrics has no %s", name)
			}
		}
	})

	t.Run("SIGTERM mid-snapshot exits 0 and leaves no temp file", func(t *testing.T) {
		if r := cli("signal", "wakeup", "slow"); r.code != 0 {
			t.Fatalf("signal wakeup slow: %s", r)
		}
		awaitStatus(t, sock, "slow", "a run transferring bytes", runningWithBytes)
		if parts := partFiles(t, slowStore); len(parts) != 1 {
			t.Fatalf("during the slow run the store holds %d temp files, want 1", len(parts))
		}
		if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// shutdown_timeout is 5s; allow for a loaded machine on top.
		if code := d.exitCode(t, 15*time.Second); code != 0 {
			t.Fatalf("daemon exited %d after SIGTERM, want 0\nstderr:\n%s", code, d.stderr)
		}
		for _, dir := range []string{slowStore, storeDir} {
			if parts := partFiles(t, dir); len(parts) != 0 {
				t.Errorf("temp files left after SIGTERM: %v", parts)
			}
		}
		if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket still present after a clean shutdown: %v", err)
		}
		if !strings.Contains(d.stderr.String(), "daemon stopped") {
			t.Errorf(`no "daemon stopped" line after SIGTERM`)
		}
	})

	t.Run("neither a token nor the environment appears anywhere", func(t *testing.T) {
		everything := append([]string{d.output()}, cliOutputs...)
		for _, dir := range []string{storeDir, slowStore, filepath.Join(dir, "deniedstore")} {
			sidecars, _ := filepath.Glob(filepath.Join(dir, "*.json"))
			for _, s := range sidecars {
				data, err := os.ReadFile(s)
				if err != nil {
					t.Fatal(err)
				}
				everything = append(everything, string(data))
			}
		}
		for _, text := range everything {
			for _, secret := range []string{token, token[10:30], wrongToken, wrongToken[10:30], envCanary} {
				if strings.Contains(text, secret) {
					t.Fatalf("a token leaked into:\n%s", text)
				}
			}
		}
	})
}

// nonSnakeKeys walks decoded JSON and returns the paths of object keys that
// are not snake_case.
func nonSnakeKeys(v any, path string) []string {
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	var bad []string
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if !snake.MatchString(k) {
				bad = append(bad, path+"."+k)
			}
			bad = append(bad, nonSnakeKeys(child, path+"."+k)...)
		}
	case []any:
		for i, child := range v {
			bad = append(bad, nonSnakeKeys(child, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return bad
}

// metricValue finds the series of mf whose labels include want and returns
// its value (a histogram's sample count).
func metricValue(mf *dto.MetricFamily, want map[string]string) (float64, bool) {
	if mf == nil {
		return 0, false
	}
series:
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue series
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// TestDaemonRefusesOpenSocketDirectory: a socket directory others can
// enter would let them reach the control API, so the daemon must not start.
func TestDaemonRefusesOpenSocketDirectory(t *testing.T) {
	dir := shortTempDir(t)
	ctl := filepath.Join(dir, "ctl")
	if err := os.Mkdir(ctl, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ctl, 0o755); err != nil { // explicit: the umask must not hide the mode
		t.Fatal(err)
	}
	configPath := filepath.Join(dir, "raftsnap.yml")
	writeFile(t, configPath, fmt.Sprintf(`global:
  control: {sockpath: %[1]s/ctl/sock}
jobs:
  - name: p
    type: prune
    store: {path: %[1]s/store}
    interval: 1h
    pruning: {keep: [{last_n: {count: 1}}]}
`, dir), 0o600)

	d := spawnDaemon(t, "--config", configPath)
	if code := d.exitCode(t, 30*time.Second); code == 0 {
		t.Fatalf("daemon started with a 0755 socket directory:\n%s", d.output())
	}
	msg := d.stderr.String()
	if !strings.Contains(msg, ctl) || !strings.Contains(msg, "accessible by group or others") || !strings.Contains(msg, "chmod 700") {
		t.Errorf("the refusal does not name the directory, the problem and the fix:\n%s", msg)
	}
	if _, err := os.Lstat(filepath.Join(ctl, "sock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a socket was created in the refused directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "store")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused daemon created its store anyway: %v", err)
	}
}

// TestDaemonBadConfig: a bad configuration stops the daemon before it
// starts anything, with exit code 2 and each problem's position.
func TestDaemonBadConfig(t *testing.T) {
	dir := shortTempDir(t)
	cases := []struct {
		name, yaml string
		want       *regexp.Regexp
	}{
		{"bad-duration.yml", `jobs:
  - name: p
    type: prune
    store: {path: /tmp/x}
    interval: 5 minutes
    pruning: {keep: [{last_n: {count: 1}}]}
`, regexp.MustCompile(`bad-duration\.yml:5:15: jobs\[0\]\.interval: invalid duration "5 minutes"`)},
		{"unknown-key.yml", `global:
  shutdown_timout: 5s
jobs:
  - name: p
    type: prune
    store: {path: /tmp/x}
    interval: 1h
    pruning: {keep: [{last_n: {count: 0}}]}
`, regexp.MustCompile(`(?s)unknown-key\.yml:2:3: global\.shutdown_timout: .*shutdown_timeout.*unknown-key\.yml:8:\d+: jobs\[0\]\.pruning\.keep\[0\]\.last_n\.count: must be at least 1`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name)
			writeFile(t, path, c.yaml, 0o600)
			r := rs(t, "daemon", "--config", path)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2: %s", r.code, r)
			}
			if !c.want.MatchString(r.stderr) {
				t.Fatalf("stderr does not match %q:\n%s", c.want, r.stderr)
			}
			if strings.Contains(r.stderr, "daemon started") {
				t.Fatal("the daemon started despite the bad configuration")
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(dir, "nonexistent.yml")
		r := rs(t, "daemon", "--config", path)
		if r.code != 2 || !strings.Contains(r.stderr, path) {
			t.Fatalf("want exit 2 naming %s: %s", path, r)
		}
	})
}

// TestDaemonDevMode runs `raftsnap daemon --dev` and the commands it prints,
// exactly as printed, through a shell.
func TestDaemonDevMode(t *testing.T) {
	devDir := filepath.Join(shortTempDir(t), "dev")
	d := spawnDaemon(t, "--dev", "--dev-dir", devDir)
	d.waitOutput(t, d.stdout, regexp.MustCompile(`Press Ctrl-C to stop`), 60*time.Second)

	var commands []string
	for _, line := range strings.Split(d.stdout.String(), "\n") {
		if cmd := strings.TrimSpace(line); strings.HasPrefix(cmd, raftsnapBin+" ") {
			commands = append(commands, cmd)
		}
	}
	wantPrefixes := []string{"status --socket", "signal wakeup dev-snapshot --wait", "signal wakeup dev-restore --wait", "snapshot inspect"}
	if len(commands) != len(wantPrefixes) {
		t.Fatalf("--dev printed %d commands to try, want %d:\n%s", len(commands), len(wantPrefixes), d.stdout)
	}
	for i, cmd := range commands {
		if rest := strings.TrimPrefix(cmd, raftsnapBin+" "); !strings.HasPrefix(rest, wantPrefixes[i]) {
			t.Fatalf("command %d is %q, want %q...", i, cmd, wantPrefixes[i])
		}
		out, err := exec.Command("sh", "-c", cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		switch i {
		case 0:
			for _, name := range []string{"dev-snapshot", "dev-prune", "dev-restore"} {
				if !strings.Contains(string(out), name) {
					t.Errorf("status does not show %s:\n%s", name, out)
				}
			}
		case 1, 2:
			if !snapName.Match(out) || !strings.Contains(string(out), "OK") {
				t.Errorf("%s did not report a successful run with its snapshot:\n%s", cmd, out)
			}
		case 3:
			if !regexp.MustCompile(`(?m)^Verified\s+yes$`).Match(out) || !strings.Contains(string(out), "meta.json") {
				t.Errorf("inspect of the newest dev snapshot does not say it verified:\n%s", out)
			}
		}
	}
	if r := rs(t, "configcheck", "--config", filepath.Join(devDir, "raftsnap.yml")); r.code != 0 {
		t.Errorf("the built-in configuration written by --dev does not pass configcheck: %s", r)
	}

	// A second --dev on the same directory is refused and leaves the
	// first one's files alone (raftsnap.yml describes the running one).
	configBefore, err := os.ReadFile(filepath.Join(devDir, "raftsnap.yml"))
	if err != nil {
		t.Fatal(err)
	}
	second := spawnDaemon(t, "--dev", "--dev-dir", devDir)
	if code := second.exitCode(t, 60*time.Second); code == 0 {
		t.Fatalf("a second --dev on %s exited 0:\n%s", devDir, second.output())
	}
	if msg := second.stderr.String(); !strings.Contains(msg, filepath.Join(devDir, "control", "sock")) || !strings.Contains(msg, fmt.Sprint(d.cmd.Process.Pid)) {
		t.Errorf("the second --dev's refusal does not name the socket and the first pid %d:\n%s", d.cmd.Process.Pid, msg)
	}
	if configAfter, err := os.ReadFile(filepath.Join(devDir, "raftsnap.yml")); err != nil || !bytes.Equal(configAfter, configBefore) {
		t.Errorf("the refused second --dev rewrote raftsnap.yml (err %v):\n%s", err, configAfter)
	}
	if r := rs(t, "signal", "wakeup", "dev-snapshot", "--wait", "--socket", filepath.Join(devDir, "control", "sock")); r.code != 0 {
		t.Errorf("the first --dev daemon stopped working after the second was refused: %s", r)
	}

	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.exitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("--dev exited %d after SIGTERM, want 0", code)
	}
	if parts := partFiles(t, filepath.Join(devDir, "store")); len(parts) != 0 {
		t.Errorf("temp files left after SIGTERM: %v", parts)
	}
	if clusters, _ := filepath.Glob(filepath.Join(devDir, "clusters-*")); len(clusters) != 0 {
		t.Errorf("--dev left its cluster data behind: %v", clusters)
	}
}

// TestDaemonRecoversAfterKill: a daemon killed mid-snapshot (power loss,
// OOM killer) leaves a stale socket and a temp file; the next start must
// take the socket over and remove the temp file, and work normally.
func TestDaemonRecoversAfterKill(t *testing.T) {
	cluster := startCluster(t, "")
	ctx := context.Background()
	for i := range 10 {
		if err := cluster.Put(ctx, fmt.Sprintf("key-%d", i), randomText(t, 8<<10)); err != nil {
			t.Fatal(err)
		}
	}
	proxy := newTrickleProxy(t, leader(t, cluster).HTTPAddr)
	dir := shortTempDir(t)
	storeDir := filepath.Join(dir, "store")
	configPath := filepath.Join(dir, "raftsnap.yml")
	writeFile(t, configPath, fmt.Sprintf(`global:
  control: {sockpath: %[1]s/control/sock}
jobs:
  - name: slow
    type: snapshot
    source: {type: raft, address: %[2]s}
    interval: 1h
    store: {path: %[1]s/store}
    pruning: {keep: [{last_n: {count: 3}}]}
`, dir, proxy.url), 0o600)

	first := startDaemon(t, configPath)
	awaitStatus(t, first.sock, "slow", "the startup run transferring bytes", runningWithBytes)
	parts := partFiles(t, storeDir)
	if len(parts) != 1 {
		t.Fatalf("during the slow run the store holds %d temp files, want 1", len(parts))
	}
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.exitCode(t, 10*time.Second)
	if _, err := os.Lstat(first.sock); err != nil {
		t.Fatalf("the killed daemon's socket file is gone (%v); the test needs a stale one", err)
	}

	second := startDaemon(t, configPath)
	if _, err := os.Stat(parts[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temp file of the killed run survived the restart: %v", err)
	}
	if !strings.Contains(second.stderr.String(), filepath.Base(parts[0])) {
		t.Errorf("the restart did not log the temp file it removed:\n%s", second.stderr)
	}
	st := fetchStatus(t, second.sock)
	if st.PID != second.cmd.Process.Pid {
		t.Fatalf("socket answered by pid %d, want the restarted daemon %d", st.PID, second.cmd.Process.Pid)
	}
	// The restarted daemon's own startup run is trickling too; stop it
	// cleanly and check it leaves nothing behind either.
	awaitStatus(t, second.sock, "slow", "the startup run transferring bytes", runningWithBytes)
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := second.exitCode(t, 45*time.Second); code != 0 {
		t.Fatalf("restarted daemon exited %d after SIGTERM", code)
	}
	if parts := partFiles(t, storeDir); len(parts) != 0 {
		t.Errorf("temp files left after SIGTERM: %v", parts)
	}
}
