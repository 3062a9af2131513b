package e2e

// The daemon binary end to end: real configurations against real dev
// clusters, driven with the real CLI over the real control socket.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/daemonproc"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"
	"github.com/raftsnap/raftsnap/snapshot"
)

// e2eConfig is the configuration of e2eDaemon: %[2]s is the source, %[3]s
// the restore target, %[4]s the trickling proxy in front of the source.
var e2eConfig = []string{
	`{name: snap, type: snapshot, source: {type: raft, address: %[2]s, token_file: %[1]s/token}, interval: 1s, store: {path: %[1]s/store}, pruning: {keep: [{last_n: {count: 100}}]}}`,
	`{name: prune, type: prune, store: {path: %[1]s/store}, interval: 1h, owners: [snap], pruning: {keep: [{last_n: {count: 2}}]}}`,
	`{name: restore-job, type: restore, from_job: snap, snapshot: latest, target: {type: raft, address: %[3]s, token_file: %[1]s/token}}`,
	`{name: slow, type: snapshot, source: {type: raft, address: %[4]s, token_file: %[1]s/token}, interval: 1h, retries: {max: 0}, store: {path: %[1]s/slowstore}, pruning: {keep: [{last_n: {count: 10}}]}}`,
	`{name: denied, type: snapshot, source: {type: raft, address: %[2]s, token_file: %[1]s/wrong-token}, interval: 1h, retries: {max: 0}, store: {path: %[1]s/deniedstore}, pruning: {keep: [{last_n: {count: 1}}]}}`,
}

// TestDaemonEndToEnd checks, each in a case of its own, the behaviours an
// operator relies on. Every case starts its own daemon and clusters
// (startE2E) and plays the history it needs, so that any case runs alone
// (go test ./e2e -run 'TestDaemonEndToEnd/metrics') and none depends on
// another's runs. They wait on the daemon far more than they compute, so
// they run in parallel.
func TestDaemonEndToEnd(t *testing.T) {
	type step = func(*e2eDaemon, *testing.T)
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"socket permissions", []step{(*e2eDaemon).checkSocketPermissions}},
		{"scheduled snapshots are stored verified with a sidecar", []step{(*e2eDaemon).checkScheduledSnapshots}},
		{"wakeup --wait takes a snapshot now", []step{(*e2eDaemon).checkWakeup}},
		{"prune wakeup keeps the policy's count", []step{(*e2eDaemon).takeFourSnapshots, (*e2eDaemon).checkPrune}},
		{"restore job brings the target back to the snapshot", []step{(*e2eDaemon).checkWakeup, (*e2eDaemon).checkRestore}},
		{"reset cancels a slow run and leaves no temp file", []step{(*e2eDaemon).checkResetSlow}},
		{"a second daemon on the socket is refused and touches nothing", []step{(*e2eDaemon).checkSecondDaemonRefused}},
		{"status JSON schema", []step{(*e2eDaemon).playHistory, (*e2eDaemon).checkStatusSchema}},
		{"metrics", []step{(*e2eDaemon).playHistory, (*e2eDaemon).checkMetrics}},
		{"SIGTERM mid-snapshot exits 0 and leaves no temp file", []step{(*e2eDaemon).checkSIGTERM}},
		{"neither a token nor the environment appears anywhere", []step{(*e2eDaemon).playHistory,
			(*e2eDaemon).checkStatusSchema, (*e2eDaemon).checkMetrics, (*e2eDaemon).checkSIGTERM, (*e2eDaemon).checkNoSecrets}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := startE2E(t)
			for _, step := range c.steps {
				step(e, t)
			}
		})
	}
}

// e2eDaemon is one daemon running e2eConfig's jobs: snap (every second),
// prune, restore-job, slow (through a trickling proxy) and denied (a wrong
// token), on dev clusters of its own. Its methods are the steps of
// TestDaemonEndToEnd's cases.
type e2eDaemon struct {
	*daemonProc
	dir, configPath, storeDir, slowStore string
	source, target                       *devcluster.Cluster
	sourceLeader                         *devcluster.Node
	token, wrongToken                    string
	// cliOutputs is everything the CLI printed, checked for tokens.
	cliOutputs []string
}

func startE2E(t *testing.T) *e2eDaemon {
	t.Helper()
	e := &e2eDaemon{token: "e2e-token-" + randomText(t, 24)}
	e.source, e.target = startCluster(t, e.token), startCluster(t, e.token)
	// Enough incompressible state that a trickled snapshot takes ~30 s.
	putRandom(t, e.source, "key-%03d", 40, 10<<10)
	e.sourceLeader = leader(t, e.source)
	proxy := newTrickleProxy(t, e.sourceLeader.HTTPAddr)

	e.dir = shortTempDir(t)
	writeFile(t, filepath.Join(e.dir, "token"), e.token+"\n", 0o600)
	// A wrong token exercises the error path, where a careless message
	// would quote what was sent.
	e.wrongToken = "e2e-wrong-" + randomText(t, 24)
	writeFile(t, filepath.Join(e.dir, "wrong-token"), e.wrongToken+"\n", 0o600)
	e.configPath = writeConfig(t, e.dir, `{logging: {level: info}, control: {sockpath: %[1]s/control/sock}, monitoring: {listen: "127.0.0.1:0"}, shutdown_timeout: 5s}`,
		e2eConfig, e.sourceLeader.HTTPAddr, leader(t, e.target).HTTPAddr, proxy)
	e.storeDir, e.slowStore = filepath.Join(e.dir, "store"), filepath.Join(e.dir, "slowstore")

	e.daemonProc = startDaemon(t, e.configPath)
	if e.Sock != filepath.Join(e.dir, "control/sock") {
		t.Fatalf("daemon started on socket %q, configured %s/control/sock", e.Sock, e.dir)
	}
	return e
}

// cli runs the CLI against this daemon's socket.
func (e *e2eDaemon) cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	r := rs(t, append(args, "--socket", e.Sock)...)
	e.cliOutputs = append(e.cliOutputs, r.Stdout, r.Stderr)
	return r
}

func (e *e2eDaemon) checkSocketPermissions(t *testing.T) {
	t.Helper()
	info, err := os.Lstat(e.Sock)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode()&os.ModeSocket == 0 || info.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", info.Mode())
	}
	dinfo, err := os.Stat(filepath.Dir(e.Sock))
	if err != nil {
		t.Fatal(err)
	}
	if dinfo.Mode().Perm() != 0o700 {
		t.Errorf("socket directory mode %04o, want 0700", dinfo.Mode().Perm())
	}
}

// checkScheduledSnapshots waits for the start-up run and two scheduled
// ones, and checks what they stored.
func (e *e2eDaemon) checkScheduledSnapshots(t *testing.T) {
	t.Helper()
	awaitStatus(t, e.Sock, "snap", "three successful runs", func(j controlapi.JobStatus) bool {
		n := 0
		for _, r := range j.History {
			if r.Result == controlapi.ResultSuccess {
				n++
			}
		}
		return n >= 3
	})
	entries := storedSnapshots(t, e.storeDir)
	if len(entries) < 3 {
		t.Fatalf("store lists %d snapshots after 3 successful runs", len(entries))
	}
	for _, entry := range entries {
		report, err := snapshot.VerifyFile(t.Context(), entry.Path, snapshot.VerifyOptions{})
		if err != nil {
			t.Errorf("%s does not verify: %v", entry.Name, err)
			continue
		}
		sc := readSidecar(t, entry.Path)
		if sc.Job != "snap" || !sc.Verified || sc.SHA256 != report.ArchiveSHA256 || sc.Size != report.ArchiveBytes || sc.Index != report.Meta.Index {
			t.Errorf("%s: sidecar %+v disagrees with the archive (sha256 %s, %d bytes, index %d)",
				entry.Name, sc, report.ArchiveSHA256, report.ArchiveBytes, report.Meta.Index)
		}
		if info, err := os.Stat(entry.Path); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (err %v), want 0600", entry.Name, info.Mode(), err)
		}
	}
}

func (e *e2eDaemon) checkWakeup(t *testing.T) {
	t.Helper()
	raftcluster.Put(t, e.source, "wakeup-marker", "1")
	wantIndex := e.sourceLeader.Raft.AppliedIndex()
	name := e.wakeupWait(t, "snap")
	listed := false
	for _, entry := range storedSnapshots(t, e.storeDir) {
		if entry.Name == name {
			listed = true
			if entry.Index < wantIndex {
				t.Errorf("%s has index %d, older than the write made before the wakeup (%d)", name, entry.Index, wantIndex)
			}
		}
	}
	if !listed {
		t.Fatalf("%s, reported by wakeup --wait, is not listed in the store", name)
	}
}

// takeFourSnapshots: with the start-up run, four snapshots, two of which
// the prune job's last_n 2 destroys.
func (e *e2eDaemon) takeFourSnapshots(t *testing.T) {
	t.Helper()
	for range 3 {
		e.checkWakeup(t)
	}
}

func (e *e2eDaemon) checkPrune(t *testing.T) {
	t.Helper()
	r := e.cli(t, "signal", "wakeup", "prune", "--wait")
	if r.Code != 0 {
		t.Fatalf("signal wakeup prune --wait: %s", r)
	}
	j := jobStatus(t, fetchStatus(t, e.Sock), "prune")
	if j.LastRun == nil || j.LastRun.Pruning == nil {
		t.Fatalf("prune job reports no pruning after its run: %+v", j)
	}
	p := j.LastRun.Pruning
	if p.Kept != 2 || p.Destroyed < 2 {
		t.Fatalf("prune with last_n 2 over ≥4 snapshots: kept %d, destroyed %d", p.Kept, p.Destroyed)
	}
}

func (e *e2eDaemon) checkRestore(t *testing.T) {
	t.Helper()
	raftcluster.Put(t, e.target, "only-in-target", "x")
	name := e.wakeupWait(t, "restore-job")
	want := e.sourceLeader.FSM.Data() // the source does not change during the test
	got := leader(t, e.target).FSM.Data()
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
}

// wakeupWait runs `signal wakeup job --wait`, which must succeed, and
// returns the snapshot its output names (taken or restored).
func (e *e2eDaemon) wakeupWait(t *testing.T, job string) string {
	t.Helper()
	r := e.cli(t, "signal", "wakeup", job, "--wait")
	if r.Code != 0 {
		t.Fatalf("signal wakeup %s --wait: %s", job, r)
	}
	name := snapName.FindString(r.Stdout)
	if name == "" {
		t.Fatalf("wakeup --wait of %s names no snapshot: %s", job, r)
	}
	return name
}

// wakeSlow wakes the slow job up (queued if a run is in progress).
func (e *e2eDaemon) wakeSlow(t *testing.T) {
	t.Helper()
	if r := e.cli(t, "signal", "wakeup", "slow"); r.Code != 0 {
		t.Fatalf("signal wakeup slow: %s", r)
	}
}

// awaitSlowDownload waits until a slow run transfers bytes and returns its
// temp file, the only one in the store.
func (e *e2eDaemon) awaitSlowDownload(t *testing.T) string {
	t.Helper()
	awaitStatus(t, e.Sock, "slow", "a run transferring bytes", runningWithBytes)
	parts := awaitPartFiles(t, e.slowStore)
	if len(parts) != 1 {
		t.Fatalf("during the slow run the store holds %d temp files, want 1", len(parts))
	}
	return parts[0]
}

// checkResetSlow resets the slow job's start-up run (its store was empty)
// while it downloads.
func (e *e2eDaemon) checkResetSlow(t *testing.T) {
	t.Helper()
	e.awaitSlowDownload(t)
	r := e.cli(t, "signal", "reset", "slow")
	if r.Code != 0 {
		t.Fatalf("signal reset slow: %s", r)
	}
	j := awaitStatus(t, e.Sock, "slow", "the reset run to end", func(j controlapi.JobStatus) bool {
		return j.State != controlapi.StateRunning && j.LastRun != nil
	})
	if j.LastRun.Result != controlapi.ResultCanceled {
		t.Fatalf("the reset run ended %q (%s), want canceled", j.LastRun.Result, j.LastRun.Error)
	}
	if j.State != controlapi.StateWaiting {
		t.Errorf("after reset the job is %q, want waiting", j.State)
	}
	if parts := partFiles(t, e.slowStore); len(parts) != 0 {
		t.Fatalf("temp files left after reset: %v", parts)
	}
	if n := len(storedSnapshots(t, e.slowStore)); n != 0 {
		t.Fatalf("a canceled run left %d snapshots in the store", n)
	}
}

// checkSecondDaemonRefused: a second daemon with the same configuration,
// while a slow run is in progress, is refused and touches nothing; the
// slow run is then reset.
func (e *e2eDaemon) checkSecondDaemonRefused(t *testing.T) {
	t.Helper()
	// A slow run in progress: its temp file must survive the second
	// daemon's attempt to start with the same configuration.
	e.wakeSlow(t)
	part := e.awaitSlowDownload(t)

	second := spawnDaemon(t, "--config", e.configPath)
	code := second.ExitCode(t, 30*time.Second)
	msg := second.Stderr.String()
	if code == 0 {
		t.Fatalf("second daemon exited 0:\n%s", msg)
	}
	if !strings.Contains(msg, e.Sock) || !strings.Contains(msg, fmt.Sprint(e.Pid())) {
		t.Errorf("second daemon's message does not name the socket %s and the first daemon's pid %d:\n%s", e.Sock, e.Pid(), msg)
	}
	if _, err := os.Stat(part); err != nil {
		t.Errorf("the second daemon removed the first one's download in progress: %v", err)
	}
	st := fetchStatus(t, e.Sock)
	if st.PID != e.Pid() {
		t.Fatalf("socket answered by pid %d, want the first daemon %d", st.PID, e.Pid())
	}
	if j := jobStatus(t, st, "slow"); j.State != controlapi.StateRunning {
		t.Errorf("the first daemon's slow run is %q after the second daemon's attempt, want running", j.State)
	}
	if r := e.cli(t, "signal", "reset", "slow"); r.Code != 0 {
		t.Fatalf("signal reset slow: %s", r)
	}
	awaitStatus(t, e.Sock, "slow", "the reset run to end", func(j controlapi.JobStatus) bool { return j.State != controlapi.StateRunning })
}

// playHistory gives the daemon the history the status and metrics checks
// expect: snapshots (start-up, scheduled, woken), a prune, a restore, two canceled
// slow runs and the denied job's failure.
func (e *e2eDaemon) playHistory(t *testing.T) {
	t.Helper()
	e.takeFourSnapshots(t)
	e.checkPrune(t)
	e.checkRestore(t)
	e.checkResetSlow(t)
	e.checkSecondDaemonRefused(t)
	awaitStatus(t, e.Sock, "denied", "the start-up run's failure", daemonproc.HasRun)
}

func (e *e2eDaemon) checkStatusSchema(t *testing.T) {
	t.Helper()
	r := e.cli(t, "status", "--mode", "raw")
	if r.Code != 0 {
		t.Fatalf("status --mode raw: %s", r)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &raw); err != nil {
		t.Fatalf("status --mode raw is not JSON: %v\n%s", err, r.Stdout)
	}
	if raw["schema"] != float64(controlapi.SchemaVersion) {
		t.Errorf("schema = %v, want %d", raw["schema"], controlapi.SchemaVersion)
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
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
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
	dump := e.cli(t, "status", "--mode", "dump")
	if dump.Code != 0 || !strings.Contains(dump.Stdout, "restore-job") {
		t.Errorf("status --mode dump: %s", dump)
	}
}

func (e *e2eDaemon) checkMetrics(t *testing.T) {
	t.Helper()
	body := e.Metrics(t)
	e.cliOutputs = append(e.cliOutputs, string(body))
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	families := daemonproc.ParseMetrics(t, body)
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
}

// checkSIGTERM stops the daemon mid-snapshot: it exits 0 and leaves no
// temp file and no socket.
func (e *e2eDaemon) checkSIGTERM(t *testing.T) {
	t.Helper()
	e.wakeSlow(t)
	e.awaitSlowDownload(t)
	// shutdown_timeout is 5s; allow for a loaded machine on top.
	if code := e.Stop(t, 15*time.Second); code != 0 {
		t.Fatalf("daemon exited %d after SIGTERM, want 0\nstderr:\n%s", code, e.Stderr)
	}
	for _, dir := range []string{e.slowStore, e.storeDir} {
		if parts := partFiles(t, dir); len(parts) != 0 {
			t.Errorf("temp files left after SIGTERM: %v", parts)
		}
	}
	if _, err := os.Lstat(e.Sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still present after a clean shutdown: %v", err)
	}
	if !strings.Contains(e.Stderr.String(), "daemon stopped") {
		t.Errorf(`no "daemon stopped" line after SIGTERM`)
	}
}

// checkNoSecrets searches everything the daemon and the CLI produced, and
// the sidecars, for the tokens and the environment.
func (e *e2eDaemon) checkNoSecrets(t *testing.T) {
	t.Helper()
	everything := append([]string{e.Output()}, e.cliOutputs...)
	for _, dir := range []string{e.storeDir, e.slowStore, filepath.Join(e.dir, "deniedstore")} {
		for _, sidecar := range readFiles(t, filepath.Join(dir, "*.json")) {
			everything = append(everything, sidecar)
		}
	}
	for _, text := range everything {
		for _, secret := range []string{e.token, e.token[10:30], e.wrongToken, e.wrongToken[10:30], envCanary} {
			if strings.Contains(text, secret) {
				t.Fatalf("a token leaked into:\n%s", text)
			}
		}
	}
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
	configPath := pruneOnlyConfig(t, dir, filepath.Join(ctl, "sock"))

	d := spawnDaemon(t, "--config", configPath)
	if code := d.ExitCode(t, 30*time.Second); code == 0 {
		t.Fatalf("daemon started with a 0755 socket directory:\n%s", d.Output())
	}
	msg := d.Stderr.String()
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
			if r.Code != 2 {
				t.Fatalf("exit %d, want 2: %s", r.Code, r)
			}
			if !c.want.MatchString(r.Stderr) {
				t.Fatalf("stderr does not match %q:\n%s", c.want, r.Stderr)
			}
			if strings.Contains(r.Stderr, "daemon started") {
				t.Fatal("the daemon started despite the bad configuration")
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(dir, "nonexistent.yml")
		r := rs(t, "daemon", "--config", path)
		if r.Code != 2 || !strings.Contains(r.Stderr, path) {
			t.Fatalf("want exit 2 naming %s: %s", path, r)
		}
	})
}

// TestDaemonDevMode runs `raftsnap daemon --dev` and the commands it prints,
// exactly as printed, through a shell.
func TestDaemonDevMode(t *testing.T) {
	t.Parallel() // waits far more than it computes: beside the crash loop
	devDir := filepath.Join(shortTempDir(t), "dev")
	d := spawnDaemon(t, "--dev", "--dev-dir", devDir)
	d.WaitOutput(t, d.Stdout, regexp.MustCompile(`Press Ctrl-C to stop`), 60*time.Second)
	raftsnapBin := testkit.Raftsnap(t)

	var commands []string
	for _, line := range strings.Split(d.Stdout.String(), "\n") {
		if cmd := strings.TrimSpace(line); strings.HasPrefix(cmd, raftsnapBin+" ") {
			commands = append(commands, cmd)
		}
	}
	wantPrefixes := []string{"status --socket", "signal wakeup dev-snapshot --wait", "signal wakeup dev-restore --wait", "snapshot inspect"}
	if len(commands) != len(wantPrefixes) {
		t.Fatalf("--dev printed %d commands to try, want %d:\n%s", len(commands), len(wantPrefixes), d.Stdout)
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
	if r := rs(t, "configcheck", "--config", filepath.Join(devDir, "raftsnap.yml")); r.Code != 0 {
		t.Errorf("the built-in configuration written by --dev does not pass configcheck: %s", r)
	}

	// A second --dev on the same directory is refused and leaves the
	// first one's files alone (raftsnap.yml describes the running one).
	configBefore, err := os.ReadFile(filepath.Join(devDir, "raftsnap.yml"))
	if err != nil {
		t.Fatal(err)
	}
	second := spawnDaemon(t, "--dev", "--dev-dir", devDir)
	if code := second.ExitCode(t, 60*time.Second); code == 0 {
		t.Fatalf("a second --dev on %s exited 0:\n%s", devDir, second.Output())
	}
	if msg := second.Stderr.String(); !strings.Contains(msg, filepath.Join(devDir, "control", "sock")) || !strings.Contains(msg, fmt.Sprint(d.Pid())) {
		t.Errorf("the second --dev's refusal does not name the socket and the first pid %d:\n%s", d.Pid(), msg)
	}
	if configAfter, err := os.ReadFile(filepath.Join(devDir, "raftsnap.yml")); err != nil || !bytes.Equal(configAfter, configBefore) {
		t.Errorf("the refused second --dev rewrote raftsnap.yml (err %v):\n%s", err, configAfter)
	}
	if r := rs(t, "signal", "wakeup", "dev-snapshot", "--wait", "--socket", filepath.Join(devDir, "control", "sock")); r.Code != 0 {
		t.Errorf("the first --dev daemon stopped working after the second was refused: %s", r)
	}

	if err := d.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.ExitCode(t, 30*time.Second); code != 0 {
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
	configPath := writeConfig(t, dir, controlIn, []string{
		`{name: slow, type: snapshot, source: {type: raft, address: %[2]s}, interval: 1h, store: {path: %[1]s/store}, pruning: {keep: [{last_n: {count: 3}}]}}`,
	}, proxy)

	first := startDaemon(t, configPath)
	awaitStatus(t, first.Sock, "slow", "the startup run transferring bytes", runningWithBytes)
	parts := awaitPartFiles(t, storeDir)
	if len(parts) != 1 {
		t.Fatalf("during the slow run the store holds %d temp files, want 1", len(parts))
	}
	if err := first.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.ExitCode(t, 10*time.Second)
	if _, err := os.Lstat(first.Sock); err != nil {
		t.Fatalf("the killed daemon's socket file is gone (%v); the test needs a stale one", err)
	}

	second := startDaemon(t, configPath)
	if _, err := os.Stat(parts[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temp file of the killed run survived the restart: %v", err)
	}
	if !strings.Contains(second.Stderr.String(), filepath.Base(parts[0])) {
		t.Errorf("the restart did not log the temp file it removed:\n%s", second.Stderr)
	}
	st := fetchStatus(t, second.Sock)
	if st.PID != second.Pid() {
		t.Fatalf("socket answered by pid %d, want the restarted daemon %d", st.PID, second.Pid())
	}
	// The restarted daemon's own startup run is trickling too; stop it
	// cleanly and check it leaves nothing behind either.
	awaitStatus(t, second.Sock, "slow", "the startup run transferring bytes", runningWithBytes)
	if err := second.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := second.ExitCode(t, 45*time.Second); code != 0 {
		t.Fatalf("restarted daemon exited %d after SIGTERM", code)
	}
	if parts := partFiles(t, storeDir); len(parts) != 0 {
		t.Errorf("temp files left after SIGTERM: %v", parts)
	}
}
