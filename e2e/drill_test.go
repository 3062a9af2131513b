package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/daemon/drill"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/daemonproc"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// drillJobs: a snapshot job of the Consul at %[2]s, a drill job of its
// snapshots run only when signalled, from the consul binary %[3]s.
var drillJobs = []string{
	`{name: consul-main, type: snapshot, source: {type: consul, address: %[2]s, token_file: %[1]s/consul.token}, interval: 1h, store: {path: %[1]s/store}, pruning: {keep: [{last_n: {count: 1}}, {last_drilled: {count: 1}}]}}`,
	`{name: consul-drill, type: drill, from_job: consul-main, binary: %[3]s, timeout: 3m}`,
}

// drillGlobal: the control socket, metrics on a free port, and a webhook
// (%[4]s) that hears drill failures.
const drillGlobal = `{control: {sockpath: %[1]s/control/sock}, monitoring: {listen: "127.0.0.1:0"}, notifications: [{url: "%[4]s/hook", min_severity: info, events: [drill_failed, job_recovered]}]}`

// drillLeftovers lists what drills left: directories in tmp, processes
// started from them.
func drillLeftovers(tmp string) []string {
	var left []string
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		left = append(left, "directory "+e.Name())
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err == nil && bytes.Contains(cmdline, []byte(tmp+"/")) {
			left = append(left, "process "+p+": "+string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		}
	}
	return left
}

// drillServerPid waits for a drill server to have started in tmp and
// returns its pid.
func drillServerPid(t *testing.T, tmp string) int {
	t.Helper()
	var pid int
	if err := testkit.Poll(testkit.DefaultWait, func() bool {
		files, _ := filepath.Glob(filepath.Join(tmp, drill.DirPrefix+"*", "server.pid"))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			if n, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				pid = n
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("no drill server started in %s", tmp)
	}
	return pid
}

// tamperInPlace rewrites a stored archive with every occurrence of from in
// its state.bin replaced by to (the same length), re-summed, and its
// sidecar with the new size and checksum: the store and its verification
// accept it; only a drill can tell.
func tamperInPlace(t *testing.T, archive, from, to string) {
	t.Helper()
	var state bytes.Buffer
	report, err := snapshot.VerifyFile(context.Background(), archive, snapshot.VerifyOptions{State: &state})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(state.Bytes(), []byte(from)) {
		t.Fatalf("%q is not in %s", from, archive)
	}
	var out bytes.Buffer
	wrote, err := snapshot.Write(&out, &report.Meta, bytes.NewReader(bytes.ReplaceAll(state.Bytes(), []byte(from), []byte(to))))
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(archive), "tamper.tmp")
	writeFile(t, tmp, out.String(), 0o600)
	if err := os.Rename(tmp, archive); err != nil {
		t.Fatal(err)
	}
	sc := readSidecar(t, archive)
	sc.Size, sc.SHA256 = wrote.ArchiveBytes, wrote.ArchiveSHA256
	data, _ := json.MarshalIndent(sc, "", "  ")
	writeFile(t, archive+".json", string(data)+"\n", 0o600)
}

// TestDrillEndToEnd (issue 17): the daemon drills the newest snapshot of
// a real Consul into a throwaway server from the real consul binary: ok,
// recorded with the snapshot, in status, metrics and `raftsnap check`.
// Tampered with and re-summed, the snapshot fails the drill with the
// mismatch named, a drill_failed notification, a CRITICAL check (from the
// socket and from the store), and the proven snapshot is what
// last_drilled keeps. A reset, a SIGTERM and a SIGKILL of the daemon in
// the middle of a drill leave nothing running or on disk (the SIGKILL's
// directory is swept by the next drill).
func TestDrillEndToEnd(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{ACL: true})
	consulBin := servers.Binary(t, "consul")
	for _, k := range []string{"drill/a", "drill/b", "app/config"} {
		consul.PutKV(t, k, "v")
	}
	dir := shortTempDir(t)
	tmp := t.TempDir()
	writeFile(t, filepath.Join(dir, "consul.token"), consul.ManagementToken+"\n", 0o600)

	var mu sync.Mutex
	var events []map[string]any
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if json.Unmarshal(b, &m) == nil {
			mu.Lock()
			events = append(events, m)
			mu.Unlock()
		}
	}))
	defer receiver.Close()

	config := writeConfig(t, dir, drillGlobal, drillJobs, consul.Addr, consulBin, receiver.URL)
	start := func() *daemonProc {
		t.Helper()
		cmd := daemonCommand(t, "--config", config)
		cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
		return daemonproc.Start(t, cmd)
	}
	d := start()
	mustRS(t, "signal", "wakeup", "consul-main", "--wait", "--socket", d.Sock)
	snap := storedSnapshots(t, filepath.Join(dir, "store"))[0]

	// A good snapshot drills ok.
	r := mustRS(t, "signal", "wakeup", "consul-drill", "--wait", "--socket", d.Sock)
	if !strings.Contains(r.Stdout, snap.Name) || !strings.Contains(r.Stdout, "restored into consul "+servers.ConsulVersion) {
		t.Fatalf("drill output:\n%s", r)
	}
	j := d.Job(t, "consul-drill")
	if j.LastDrill == nil || j.LastDrill.Result != controlapi.DrillOK || j.LastDrill.Snapshot != snap.Name || j.LastRun.Drill == nil {
		t.Fatalf("drill job status after a good drill: %+v", j)
	}
	for _, c := range j.LastRun.Drill.Checks {
		if c.Result != controlapi.CheckMatch {
			t.Errorf("check %+v of a good snapshot", c)
		}
	}
	if sc := readSidecar(t, snap.Path); sc.Drill == nil || sc.Drill.Result != store.DrillOK || sc.Drill.Job != "consul-drill" {
		t.Errorf("sidecar after the drill: %+v", sc.Drill)
	}
	for family, labels := range map[string]map[string]string{
		"raftsnap_drill_last_ok": {"job_name": "consul-drill"},
		"raftsnap_drills_total":  {"job_name": "consul-drill", "result": "ok"},
	} {
		if v := scrapeMetric(t, d, family, labels); v != 1 {
			t.Errorf("%s%v = %v, want 1", family, labels, v)
		}
	}
	if ok := scrapeMetric(t, d, "raftsnap_drill_last_success_timestamp_seconds", map[string]string{"job_name": "consul-drill"}); time.Since(time.Unix(int64(ok), 0)) > time.Minute {
		t.Errorf("last drill success at %v", ok)
	}
	c := rs(t, "check", "--socket", d.Sock)
	if c.Code != 0 || !strings.Contains(c.Stdout, "RAFTSNAP OK - 1 jobs fresh, 1 drills ok") {
		t.Errorf("check after a good drill: %s", c)
	}
	if left := drillLeftovers(tmp); len(left) > 0 {
		t.Fatalf("the drill left: %q", left)
	}

	// Tampered with and re-summed: the drill names what differs.
	tamperInPlace(t, snap.Path, "drill/b", "drill/a")
	r = rs(t, "signal", "wakeup", "consul-drill", "--wait", "--socket", d.Sock)
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "KV keys: 3 in the archive, 2 on the restored server") {
		t.Fatalf("drill of the tampered snapshot:\n%s", r)
	}
	if sc := readSidecar(t, snap.Path); sc.Drill == nil || sc.Drill.Result != store.DrillFailed || !sc.Verified {
		t.Errorf("sidecar after the failed drill: %+v", sc.Drill)
	}
	if v := scrapeMetric(t, d, "raftsnap_drill_last_ok", map[string]string{"job_name": "consul-drill"}); v != 0 {
		t.Errorf("raftsnap_drill_last_ok = %v after a failed drill", v)
	}
	if err := testkit.Poll(testkit.DefaultWait, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			if e["event"] == "drill_failed" && e["job"] == "consul-drill" && strings.Contains(e["message"].(string), "KV keys") {
				return true
			}
		}
		return false
	}); err != nil {
		t.Errorf("no drill_failed notification: %v", events)
	}
	c = rs(t, "check", "--socket", d.Sock)
	if c.Code != 2 || !strings.Contains(c.Stdout, "RAFTSNAP CRITICAL - drill consul-drill failed on "+snap.Name) {
		t.Errorf("check after a failed drill: %s", c)
	}
	c = rs(t, "check", "--from-store", "--config", config)
	if c.Code != 2 || !strings.Contains(c.Stdout, "KV keys: 3 in the archive, 2 on the restored server") {
		t.Errorf("check --from-store after a failed drill: %s", c)
	}
	if left := drillLeftovers(tmp); len(left) > 0 {
		t.Fatalf("the failed drill left: %q", left)
	}

	// A reset in the middle of a drill.
	d.Signal(t, "consul-drill", controlapi.OpWakeup, false)
	drillServerPid(t, tmp)
	mustRS(t, "signal", "reset", "consul-drill", "--socket", d.Sock)
	d.AwaitJob(t, "consul-drill", "the reset drill to end", func(j controlapi.JobStatus) bool {
		return j.Current == nil && j.LastRun != nil && j.LastRun.Result == controlapi.ResultCanceled
	})
	if left := drillLeftovers(tmp); len(left) > 0 {
		t.Fatalf("the reset drill left: %q", left)
	}

	// SIGTERM in the middle of a drill: the daemon does not wait for it.
	d.Signal(t, "consul-drill", controlapi.OpWakeup, false)
	drillServerPid(t, tmp)
	began := time.Now()
	if code := d.Stop(t, 30*time.Second); code != 0 {
		t.Fatalf("daemon exited %d after SIGTERM mid-drill", code)
	}
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("SIGTERM mid-drill took %s", took)
	}
	if left := drillLeftovers(tmp); len(left) > 0 {
		t.Fatalf("SIGTERM mid-drill left: %q", left)
	}

	// SIGKILL: the server dies with the daemon; the next drill removes the
	// directory left behind.
	d = start()
	d.Signal(t, "consul-drill", controlapi.OpWakeup, false)
	pid := drillServerPid(t, tmp)
	d.Kill(t)
	if err := testkit.Poll(testkit.DefaultWait, func() bool { return syscall.Kill(pid, 0) != nil || zombie(pid) }); err != nil {
		t.Fatalf("the drill server (pid %d) outlived its daemon's SIGKILL", pid)
	}
	if left := drillLeftovers(tmp); len(left) != 1 || !strings.HasPrefix(left[0], "directory "+drill.DirPrefix+"consul-drill-") {
		t.Fatalf("after a SIGKILL, left: %q", left)
	}
	d = start()
	if r := rs(t, "signal", "wakeup", "consul-drill", "--wait", "--socket", d.Sock); r.Code == 0 {
		t.Fatalf("the tampered snapshot drilled ok after a restart: %s", r)
	}
	if left := drillLeftovers(tmp); len(left) > 0 {
		t.Fatalf("the next drill did not sweep what the killed daemon left: %q", left)
	}
	// After the restart the last drill comes back from the records. The
	// one ok drill was of the very snapshot since disproven: a record
	// keeps a snapshot's last conclusive drill, so nothing is proven now.
	if j := d.Job(t, "consul-drill"); j.LastDrill == nil || j.LastDrill.Result != controlapi.DrillFailed || j.LastSuccessAt != nil {
		t.Errorf("drill status after a restart: last drill %+v, last success %v", j.LastDrill, j.LastSuccessAt)
	}
	if strings.Contains(d.Output(), consul.ManagementToken) {
		t.Fatal("the Consul token reached the daemon's log")
	}
}

// zombie tells whether pid has exited but not been reaped.
func zombie(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	end := bytes.LastIndexByte(data, ')')
	return end >= 0 && strings.HasPrefix(strings.TrimSpace(string(data[end+1:])), "Z")
}

// TestDrillAfterSnapshots: a drill job with after_snapshots: 2 and no
// interval drills after every second snapshot its from_job stores, and
// not after the first.
func TestDrillAfterSnapshots(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	consul.PutKV(t, "drill/after", "v")
	dir := shortTempDir(t)
	tmp := t.TempDir()
	config := writeConfig(t, dir, controlIn, []string{
		`{name: consul-main, type: snapshot, source: {type: consul, address: %[2]s}, interval: 1h, store: {path: %[1]s/store}, pruning: {keep: [{last_n: {count: 5}}]}}`,
		`{name: consul-drill, type: drill, from_job: consul-main, binary: %[3]s, after_snapshots: 2, timeout: 3m}`,
	}, consul.Addr, servers.Binary(t, "consul"))
	cmd := daemonCommand(t, "--config", config)
	cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
	d := daemonproc.Start(t, cmd)

	// The start-up run is the first snapshot: no drill yet.
	awaitStatus(t, d.Sock, "consul-main", "the start-up snapshot", func(j controlapi.JobStatus) bool {
		return j.LastRun != nil && j.LastRun.Result == controlapi.ResultSuccess
	})
	if j := d.Job(t, "consul-drill"); j.LastRun != nil || j.State == controlapi.StateRunning {
		t.Fatalf("the drill ran after one snapshot: %+v", j)
	}
	// The second one wakes it.
	mustRS(t, "signal", "wakeup", "consul-main", "--wait", "--socket", d.Sock)
	newest := storedSnapshots(t, filepath.Join(dir, "store"))[0]
	j := awaitStatus(t, d.Sock, "consul-drill", "a drill after the second snapshot", func(j controlapi.JobStatus) bool {
		return j.LastRun != nil
	})
	if j.LastRun.Trigger != controlapi.TriggerWakeup || j.LastDrill == nil || j.LastDrill.Result != controlapi.DrillOK || j.LastDrill.Snapshot != newest.Name {
		t.Fatalf("drill after two snapshots: run %+v, last drill %+v (newest snapshot %s)", j.LastRun, j.LastDrill, newest.Name)
	}
	if !strings.Contains(d.Stderr.String(), `msg="drill due after snapshots" job=consul-drill after_snapshots=2`) {
		t.Errorf("the daemon log does not say why the drill ran:\n%s", d.Stderr)
	}
}
