package job

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/daemon/drill"
	"github.com/raftsnap/raftsnap/daemon/procstat"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// newDrill builds a drill job over st whose throwaway servers live in a
// directory of their own, returned for the leftover checks.
func newDrill(t *testing.T, st store.Store, binary string, tweak func(*DrillOptions)) (*DrillJob, string) {
	t.Helper()
	tmp := t.TempDir()
	opts := DrillOptions{Name: "drill", Store: st, Binary: binary, Timeout: 3 * time.Minute, TempDir: tmp}
	if tweak != nil {
		tweak(&opts)
	}
	j, err := NewDrillJob(opts)
	if err != nil {
		t.Fatal(err)
	}
	return j, tmp
}

// drillOnce builds a drill job (see newDrill), runs it until the test
// ends, wakes it up and waits for its run's report.
func drillOnce(t *testing.T, st store.Store, binary string, tweak func(*DrillOptions)) (*DrillJob, controlapi.RunReport, string) {
	t.Helper()
	j, tmp := newDrill(t, st, binary, tweak)
	startJob(t, j)
	return j, wakeAndWait(t, j), tmp
}

// drillTampered drills, as job drill-bad, a copy of taken (job's) with
// the key from renamed onto to and re-summed (see tamper): the drill must
// fail with want in its error and leave nothing behind. It returns the
// store holding the copy, and the copy's entry.
func drillTampered(t *testing.T, st *store.Local, taken store.Entry, job, from, to, bin, want string) (*store.Local, store.Entry) {
	t.Helper()
	bad, badEntry := tamper(t, st, taken, job, from, to)
	_, rep, tmp := drillOnce(t, bad, bin, func(o *DrillOptions) { o.Name = "drill-bad" })
	if rep.Result != controlapi.ResultFailure || rep.Drill.Outcome != controlapi.DrillFailed || !strings.Contains(rep.Error, want) {
		t.Fatalf("drill of a tampered snapshot: %+v", rep)
	}
	t.Logf("tampered: %s", rep.Error)
	assertNothingLeft(t, tmp)
	return bad, badEntry
}

// assertNothingLeft fails when a drill left a directory in tmp, or a
// process started from one of its directories, or one of pids, running.
func assertNothingLeft(t *testing.T, tmp string, pids ...int) {
	t.Helper()
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left in the drills' temp directory: %s", e.Name())
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err == nil && bytes.Contains(cmdline, []byte(tmp+"/")) {
			stat, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
			t.Errorf("left running: %s %s (stat %s)", p, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}), stat)
		}
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d left running", pid)
		}
	}
}

// alive tells whether pid runs (a zombie does not).
func alive(pid int) bool {
	st, err := procstat.Read(pid)
	return err == nil && st.Live()
}

// checkOf returns the drill check called name.
func checkOf(t *testing.T, rep controlapi.RunReport, name string) controlapi.DrillCheck {
	t.Helper()
	if rep.Drill == nil {
		t.Fatalf("run report without a drill: %+v", rep)
	}
	for _, c := range rep.Drill.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s check in %+v", name, rep.Drill.Checks)
	return controlapi.DrillCheck{}
}

// tamper writes into a fresh store (as job's) a copy of entry's archive
// whose state.bin has every occurrence of from replaced by to (the same
// length), re-summed: it passes verification, and its record says
// verified.
func tamper(t *testing.T, st *store.Local, entry store.Entry, job, from, to string) (*store.Local, store.Entry) {
	t.Helper()
	if len(from) != len(to) {
		t.Fatal("tamper keeps the length")
	}
	return rewriteState(t, entry, job, func(state []byte) []byte {
		if !bytes.Contains(state, []byte(from)) {
			t.Fatalf("%q is not in the snapshot's state", from)
		}
		return bytes.ReplaceAll(state, []byte(from), []byte(to))
	})
}

// rewriteState writes into a fresh store (as job's) a copy of entry's
// archive with its state.bin changed by change, re-summed and with
// meta.json's size to match.
func rewriteState(t *testing.T, entry store.Entry, job string, change func([]byte) []byte) (*store.Local, store.Entry) {
	t.Helper()
	var state bytes.Buffer
	report, err := snapshot.VerifyFile(context.Background(), entry.Path, snapshot.VerifyOptions{State: &state})
	if err != nil {
		t.Fatal(err)
	}
	changed := change(state.Bytes())
	meta := report.Meta
	meta.Size = int64(len(changed))
	var archive bytes.Buffer
	wrote, err := snapshot.Write(&archive, &meta, bytes.NewReader(changed))
	if err != nil {
		t.Fatal(err)
	}
	out := storetest.Local(t)
	p, err := out.Create(context.Background(), job, store.NewName(job, entry.CreatedAt, meta.Index, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(archive.Bytes()); err != nil {
		t.Fatal(err)
	}
	e, err := p.Commit(context.Background(), store.Entry{Source: entry.Source, CreatedAt: entry.CreatedAt, SHA256: wrote.ArchiveSHA256,
		Index: meta.Index, Term: meta.Term, RaftID: meta.ID, Verified: true, VerifiedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	// It passes verification: only the drill can tell.
	if _, err := snapshot.VerifyFile(context.Background(), e.Path, snapshot.VerifyOptions{}); err != nil {
		t.Fatalf("the rewritten archive does not verify: %v", err)
	}
	return out, e
}

// storedEntry returns the newest entry of st.
func storedEntry(t *testing.T, st store.Store) store.Entry {
	t.Helper()
	entries, _, err := st.List(context.Background())
	if err != nil || len(entries) == 0 {
		t.Fatalf("store: %v, %d entries", err, len(entries))
	}
	return entries[0]
}

func TestDrillConsul(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{ACL: true})
	bin := servers.Binary(t, "consul")
	for _, k := range []string{"drill/a", "drill/b", "app/config"} {
		consul.PutKV(t, k, "value of "+k)
	}
	reg, _ := json.Marshal(map[string]any{"Node": "web-1", "Address": "10.0.0.1",
		"Service": map[string]any{"Service": "web", "Port": 80},
		"Check":   map[string]any{"CheckID": "web-alive", "Name": "web alive", "Status": "passing", "ServiceID": "web"}})
	consul.MustDo(t, http.MethodPut, "/v1/catalog/register", consul.ManagementToken, reg)
	consul.CreateConsulToken(t, "reader", `key_prefix "" { policy = "read" }`)

	src, err := source.New(source.Config{Kind: source.Consul, Address: consul.Addr, Token: source.Secret(consul.ManagementToken)})
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.Local(t)
	takeSnapshots(t, "consul-main", src, st, 1)
	taken := storedEntry(t, st)

	j, rep, tmp := drillOnce(t, st, bin, func(o *DrillOptions) { o.FromJob = "consul-main" })
	if rep.Result != controlapi.ResultSuccess || rep.Drill.Outcome != controlapi.DrillOK {
		t.Fatalf("drill of a good snapshot: %+v (drill %+v)", rep, rep.Drill)
	}
	t.Logf("drill of %s on %s in %s: %s; warnings %q", rep.Snapshot, rep.Drill.Server, rep.FinishedAt.Sub(rep.StartedAt), summarizeChecks(rep.Drill.Checks), rep.Warnings)
	if rep.Snapshot != taken.Name || rep.Index != taken.Index || !strings.HasPrefix(rep.Drill.Server, "consul ") {
		t.Errorf("drill report %+v, snapshot %+v", rep, taken)
	}
	for name, want := range map[string]uint64{drill.CheckKVKeys: 3, drill.CheckACLTokens: 3} {
		if c := checkOf(t, rep, name); c.Result != controlapi.CheckMatch || c.Archive != want || c.Server != want {
			t.Errorf("%s: %+v, want %d on both sides", name, c, want)
		}
	}
	// The source's node, its consul service and serfHealth check, and
	// web-1 with web and its check.
	if c := checkOf(t, rep, drill.CheckCatalogRegistrations); c.Result != controlapi.CheckMatch || c.Server != 6 {
		t.Errorf("catalog: %+v", c)
	}
	if c := checkOf(t, rep, drill.CheckRaftIndex); c.Result != controlapi.CheckMatch || c.Server < taken.Index {
		t.Errorf("raft index: %+v, snapshot at %d", c, taken.Index)
	}
	if rep.Drill.SourceVersion != servers.ConsulVersion {
		t.Errorf("source version %q, want %s", rep.Drill.SourceVersion, servers.ConsulVersion)
	}
	rec, err := st.Get(context.Background(), taken.Name)
	if err != nil || rec.Drill == nil || rec.Drill.Result != store.DrillOK || rec.Drill.Job != "drill" || rec.Drill.Index < taken.Index || !rec.Verified {
		t.Fatalf("record after the drill: %+v (%v), drill %+v", rec, err, rec.Drill)
	}
	if s := j.Status(); s.LastDrill == nil || s.LastDrill.Result != controlapi.DrillOK || s.LastDrill.Snapshot != taken.Name {
		t.Errorf("status last drill %+v", s.LastDrill)
	}
	assertNothingLeft(t, tmp)

	// The same snapshot with one KV key renamed onto another, re-summed:
	// it verifies, restores, and the drill names what went missing.
	bad, badEntry := drillTampered(t, st, taken, "consul-main", "drill/b", "drill/a", bin, "KV keys: 3 in the archive, 2 on the restored server")
	if FailureReason(&DrillError{Outcome: controlapi.DrillFailed, Err: fmt.Errorf("x")}) != ReasonDrillFailed {
		t.Error("a failed drill is not classified drill_failed")
	}
	rec, err = bad.Get(context.Background(), badEntry.Name)
	if err != nil || rec.Drill == nil || rec.Drill.Result != store.DrillFailed || !strings.Contains(rec.Drill.Reason, "KV keys") {
		t.Fatalf("record after the failed drill: %+v (%v)", rec.Drill, err)
	}

	// A record type the binary does not know (as from a newer Consul):
	// the drill could not prove anything, and says why; the snapshot's
	// record is left alone.
	newer, newerEntry := rewriteState(t, taken, "consul-main", func(state []byte) []byte {
		return append(append([]byte(nil), state...), 60, 0xc0) // type 60, a nil value
	})
	_, rep, tmp3 := drillOnce(t, newer, bin, func(o *DrillOptions) { o.Name = "drill-newer" })
	if rep.Result != controlapi.ResultFailure || rep.Drill.Outcome != controlapi.DrillError ||
		!strings.Contains(rep.Error, "Unrecognized msg type 60") || !strings.Contains(rep.Error, "the binary does not know some of the snapshot's record types") {
		t.Fatalf("drill of a snapshot with an unknown record type: %+v", rep)
	}
	if rec, err := newer.Get(context.Background(), newerEntry.Name); err != nil || rec.Drill != nil {
		t.Errorf("record after a drill that proved nothing: %+v (%v)", rec.Drill, err)
	}
	assertNothingLeft(t, tmp3)
}

func TestDrillNomad(t *testing.T) {
	nomad := servers.StartNomad(t)
	bin := servers.Binary(t, "nomad")
	job, _ := json.Marshal(map[string]any{"Job": map[string]any{"ID": "web", "Name": "web", "Type": "service", "Datacenters": []string{"nowhere"},
		"TaskGroups": []any{map[string]any{"Name": "g", "Count": 1, "Tasks": []any{map[string]any{"Name": "t", "Driver": "raw_exec",
			"Config": map[string]any{"command": "/bin/true"}}}}}}})
	nomad.MustDo(t, http.MethodPut, "/v1/jobs", "", job)
	for _, p := range []string{"drill/v1", "drill/v2"} {
		body, _ := json.Marshal(map[string]any{"Items": map[string]string{"k": p}})
		nomad.MustDo(t, http.MethodPut, "/v1/var/"+p, "", body)
	}
	src, err := source.New(source.Config{Kind: source.Nomad, Address: nomad.Addr})
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.Local(t)
	takeSnapshots(t, "nomad-main", src, st, 1)
	taken := storedEntry(t, st)

	_, rep, tmp := drillOnce(t, st, bin, nil)
	if rep.Result != controlapi.ResultSuccess || rep.Drill.Outcome != controlapi.DrillOK {
		t.Fatalf("drill of a good snapshot: %+v (drill %+v)", rep, rep.Drill)
	}
	t.Logf("drill of %s on %s in %s: %s; warnings %q", rep.Snapshot, rep.Drill.Server, rep.FinishedAt.Sub(rep.StartedAt), summarizeChecks(rep.Drill.Checks), rep.Warnings)
	// No client runs in the tests (a Nomad client as root sets up cgroups
	// on the host): nodes are compared, at zero.
	for name, want := range map[string]uint64{drill.CheckJobs: 1, drill.CheckVariables: 2, drill.CheckNodes: 0} {
		if c := checkOf(t, rep, name); c.Result != controlapi.CheckMatch || c.Archive != want || c.Server != want {
			t.Errorf("%s: %+v, want %d on both sides", name, c, want)
		}
	}
	if rec, err := st.Get(context.Background(), taken.Name); err != nil || rec.Drill == nil || rec.Drill.Result != store.DrillOK {
		t.Fatalf("record after the drill: %+v (%v)", rec.Drill, err)
	}
	assertNothingLeft(t, tmp)

	drillTampered(t, st, taken, "nomad-main", "drill/v2", "drill/v1", bin, "variables: 2 in the archive, 1 on the restored server")
}

// raftSnapshotStore is a store holding one verified snapshot of an
// in-process dev cluster (its state is neither Consul's nor Nomad's).
func raftSnapshotStore(t *testing.T) *store.Local {
	t.Helper()
	_, leader := startCluster(t, 1)
	st := storetest.Local(t)
	takeSnapshots(t, "src", raftSource(t, leader.HTTPAddr), st, 1)
	return st
}

// fakeServer writes a shell script that says it is Consul 1.22.7 and, as
// a server, records its pid and its child's in pids and never answers.
func fakeServer(t *testing.T, dir, body string) (bin, pids string) {
	t.Helper()
	pids = filepath.Join(dir, "pids")
	bin = filepath.Join(dir, "consul")
	script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = version ]; then echo 'Consul v1.22.7'; exit 0; fi\necho $$ >> %s\n%s\n", pids, body)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, pids
}

func readPids(t *testing.T, path string) []int {
	t.Helper()
	data, _ := os.ReadFile(path)
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, n)
	}
	return pids
}

func TestDrillMissingBinaryFailsCleanly(t *testing.T) {
	st := raftSnapshotStore(t)
	metrics := &recorder{}
	j, rep, tmp := drillOnce(t, st, "/nonexistent/raftsnap-test/consul", func(o *DrillOptions) { o.Metrics = metrics })
	if rep.Result != controlapi.ResultFailure || rep.Drill.Outcome != controlapi.DrillError ||
		!strings.Contains(rep.Error, "binary /nonexistent/raftsnap-test/consul does not exist") {
		t.Fatalf("drill with a missing binary: %+v", rep)
	}
	if got := metrics.results(); got != "failure/drill_server" {
		t.Errorf("metrics %q", got)
	}
	// The status said so before any drill ran.
	if s := j.Status(); !strings.Contains(s.Problem, "does not exist") || len(metrics.ready) == 0 || metrics.ready[0] {
		t.Errorf("problem %q, source ready %v", s.Problem, metrics.ready)
	}
	// A drill that could not run says nothing about the snapshot.
	if e := storedEntry(t, st); e.Drill != nil {
		t.Errorf("record changed by a drill that did not run: %+v", e.Drill)
	}
	assertNothingLeft(t, tmp)
}

func TestDrillServerThatNeverLeadsFailsCleanly(t *testing.T) {
	st := raftSnapshotStore(t)
	bin, pidFile := fakeServer(t, t.TempDir(), "sleep 600 &\necho $! >> \"$(dirname $0)/pids\"\nwait")
	// The script's pid file is next to it, not in the drills' directory.
	_ = pidFile
	j, tmp := newDrill(t, st, bin, func(o *DrillOptions) { o.StartTimeout = 2 * time.Second })
	startJob(t, j)
	began := time.Now()
	rep := wakeAndWait(t, j)
	if rep.Result != controlapi.ResultFailure || rep.Drill.Outcome != controlapi.DrillError ||
		!strings.Contains(rep.Error, "did not become leader within 2s") || rep.Drill.Server != "consul 1.22.7" {
		t.Fatalf("drill with a server that never leads: %+v", rep)
	}
	if d := time.Since(began); d > 30*time.Second {
		t.Errorf("the failure took %s", d)
	}
	pids := readPids(t, filepath.Join(filepath.Dir(bin), "pids"))
	if len(pids) != 2 {
		t.Fatalf("the fake server recorded pids %v, want itself and its child", pids)
	}
	assertNothingLeft(t, tmp, pids...)
}

func TestDrillServerThatExitsFailsWithItsLog(t *testing.T) {
	st := raftSnapshotStore(t)
	bin, _ := fakeServer(t, t.TempDir(), "echo 'error: no way' >&2\nexit 3")
	_, rep, tmp := drillOnce(t, st, bin, nil)
	if rep.Result != controlapi.ResultFailure || !strings.Contains(rep.Error, "exited before it became leader (exit status 3)") ||
		!strings.Contains(rep.Error, "error: no way") {
		t.Fatalf("drill with a server that exits: %+v", rep)
	}
	assertNothingLeft(t, tmp)
}

func TestDrillResetAndStopLeaveNothing(t *testing.T) {
	st := raftSnapshotStore(t)
	bin, _ := fakeServer(t, t.TempDir(), "sleep 600 &\necho $! >> \"$(dirname $0)/pids\"\nwait")
	pidsFile := filepath.Join(filepath.Dir(bin), "pids")
	j, tmp := newDrill(t, st, bin, nil)
	stop := startJob(t, j)

	starting := func() bool {
		c := j.Status().Current
		return c != nil && c.Phase == controlapi.PhaseStartingServer && len(readPids(t, pidsFile)) == 2
	}
	ch, _, err := j.Wakeup()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the drill server to start", starting)
	if err := j.Reset(); err != nil {
		t.Fatal(err)
	}
	if rep := awaitReport(t, ch); rep.Result != controlapi.ResultCanceled || rep.Drill.Outcome != controlapi.DrillCanceled {
		t.Fatalf("reset drill: %+v", rep)
	}
	assertNothingLeft(t, tmp, readPids(t, pidsFile)...)

	// A stop (the daemon's shutdown) does not wait for the drill either.
	os.Remove(pidsFile)
	if _, _, err := j.Wakeup(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the drill server to start again", starting)
	began := time.Now()
	stop()
	if d := time.Since(began); d > 15*time.Second {
		t.Errorf("stopping took %s", d)
	}
	if rep := j.Status().LastRun; rep == nil || rep.Result != controlapi.ResultCanceled {
		t.Errorf("drill stopped by a shutdown: %+v", rep)
	}
	assertNothingLeft(t, tmp, readPids(t, pidsFile)...)
}

func TestDrillSweepsWhatADeadDaemonLeft(t *testing.T) {
	tmp := t.TempDir()
	// A directory whose owner process is gone (a pid that cannot run).
	dead := filepath.Join(tmp, drill.DirPrefix+"old-123")
	if err := os.MkdirAll(filepath.Join(dead, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dead, "owner"), []byte("4194304 1\n"), 0o600)
	// This process's own directory stays.
	mine := filepath.Join(tmp, drill.DirPrefix+"mine-1")
	os.MkdirAll(mine, 0o700)
	self, err := procstat.Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(mine, "owner"), []byte(fmt.Sprintf("%d %d\n", self.PID, self.StartTime)), 0o600)
	drill.Sweep(tmp, nil)
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("a dead daemon's drill directory was not removed: %v", err)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("a live daemon's drill directory was removed: %v", err)
	}
}
