package job

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/retention"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

func TestScheduledSnapshotsAppearAndVerify(t *testing.T) {
	cluster, leader := startCluster(t, 3)
	ctx := testContext(t)
	if err := cluster.Put(ctx, "k", "v1"); err != nil {
		t.Fatal(err)
	}
	st := storetest.Local(t)
	var logs bytes.Buffer
	j, err := NewSnapshotJob(SnapshotOptions{
		Name: "dev", Source: raftSource(t, leader.HTTPAddr), Store: st,
		Interval: 100 * time.Millisecond, Jitter: 20 * time.Millisecond, Timeout: 30 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := j.Status(); s.State != controlapi.StateIdle || s.Type != "snapshot" || len(s.History) != 0 {
		t.Fatalf("before Run: %+v", s)
	}
	startJob(t, j)
	waitFor(t, "three successful runs", func() bool {
		h := j.Status().History
		return len(h) >= 3 && h[0].Result == controlapi.ResultSuccess && h[1].Result == controlapi.ResultSuccess && h[2].Result == controlapi.ResultSuccess
	})
	s := j.Status()
	for _, h := range s.History {
		if h.Result != controlapi.ResultSuccess {
			t.Errorf("run failed: %+v", h)
		}
	}
	oldest := s.History[len(s.History)-1]
	if (len(s.History) < HistorySize && oldest.Trigger != controlapi.TriggerStartup) || s.History[0].Trigger != controlapi.TriggerSchedule {
		t.Fatalf("triggers: first %q, last %q; %+v", oldest.Trigger, s.History[0].Trigger, s.History)
	}
	if s.LastSuccessAt == nil || s.LastRun == nil || s.Store == nil || s.Store.Snapshots < 3 {
		t.Fatalf("status %+v", s)
	}
	entries, foreign, err := st.List(context.Background())
	if err != nil || len(foreign) != 0 || len(entries) < 3 {
		t.Fatalf("store: %v %v %v", entries, foreign, err)
	}
	for _, e := range entries {
		if e.Job != "dev" || !e.Verified || e.Index == 0 || e.Source != "raft at "+leader.HTTPAddr || e.Headers["X-Raft-Index"] == "" {
			t.Fatalf("entry %+v", e)
		}
		if _, _, err := store.Verify(context.Background(), st, e.Name, snapshot.VerifyOptions{}, nil); err != nil {
			t.Fatalf("stored snapshot does not verify: %v", err)
		}
	}
	if s.History[0].Snapshot == "" || s.History[0].Bytes == 0 || s.History[0].ID == "" {
		t.Fatalf("report %+v", s.History[0])
	}
	if !strings.Contains(logs.String(), "job=dev run="+s.History[0].ID) {
		t.Fatalf("per-run log attributes missing:\n%s", logs.String())
	}
}

func TestWakeupWhileBusyQueuesOneRun(t *testing.T) {
	_, leader := startCluster(t, 1)
	p := testkit.NewProxy(t, leader.HTTPAddr)
	hold := make(chan struct{})
	p.Set(testkit.Fault{Hold: hold})
	st := storetest.Local(t)
	j, err := NewSnapshotJob(SnapshotOptions{Name: "busy", Source: raftSource(t, p.URL), Store: st, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	startJob(t, j)
	<-p.Received() // the startup run is stuck in the proxy
	// The request is out: the phase says the run waits for the server.
	waitFor(t, "the waiting phase", func() bool {
		s := j.Status()
		return s.State == controlapi.StateRunning && s.Current != nil && s.Current.Phase == controlapi.PhaseWaiting
	})
	first, queued1, _ := j.Wakeup()
	second, queued2, _ := j.Wakeup()
	if !queued1 || !queued2 {
		t.Fatal("wakeups on a busy job not reported as queued")
	}
	if s := j.Status(); s.PendingSignal != "wakeup" {
		t.Fatalf("pending signal %q", s.PendingSignal)
	}
	close(hold)
	a, b := awaitReport(t, first), awaitReport(t, second)
	if a.ID != b.ID || a.Trigger != controlapi.TriggerWakeup || a.Result != controlapi.ResultSuccess {
		t.Fatalf("merged wakeups got %+v and %+v", a, b)
	}
	s := j.Status()
	if len(s.History) != 2 || s.History[1].Trigger != controlapi.TriggerStartup || s.PendingSignal != "" || p.Requests() != 2 {
		t.Fatalf("history %+v, requests %d", s.History, p.Requests())
	}
	entries, _, _ := st.List(context.Background())
	if len(entries) != 2 {
		t.Fatalf("entries %v", entries)
	}
}

func TestResetCancelsSlowRun(t *testing.T) {
	_, leader := startCluster(t, 1)
	p := testkit.NewProxy(t, leader.HTTPAddr)
	p.Set(holdAfterFirstBytes)
	st := storetest.Local(t)
	j, err := NewSnapshotJob(SnapshotOptions{Name: "slow", Source: raftSource(t, p.URL), Store: st, Interval: time.Hour,
		Retries: RetryPolicy{Max: 3, Initial: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	stop := startJob(t, j)
	<-p.Held()
	waitFor(t, "bytes downloaded", func() bool {
		c := j.Status().Current
		return c != nil && c.BytesDone > 0 && c.Phase == controlapi.PhaseDownloading
	})
	// The first 64 bytes do not hold the archive's meta.json yet, so the
	// snapshot is not named and nothing is created in the store: the
	// upload holds them back (store.Upload).
	if files := partFiles(t, st.Dir()); len(files) != 0 {
		t.Fatalf("temp files %v before the snapshot was named", files)
	}
	pending, queued, _ := j.Wakeup()
	if !queued {
		t.Fatal("not queued")
	}
	if err := j.Reset(); err != nil {
		t.Fatal(err)
	}
	if rep := awaitReport(t, pending); rep.Result != controlapi.ResultCanceled {
		t.Fatalf("dropped pending run: %+v", rep)
	}
	awaitFirstRun(t, j)
	s := j.Status()
	if s.LastRun.Result != controlapi.ResultCanceled || !strings.Contains(s.LastRun.Error, "reset") || s.LastRun.Attempts != 1 {
		t.Fatalf("last run %+v", s.LastRun)
	}
	if s.State != controlapi.StateWaiting || s.Current != nil || s.PendingSignal != "" || s.NextRunAt == nil {
		t.Fatalf("after reset: %+v", s)
	}
	if left := partFiles(t, st.Dir()); len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
	if p.Requests() != 1 {
		t.Fatalf("a canceled run was retried: %d requests", p.Requests())
	}

	// Stopping mid-run past the shutdown's grace (stop aborts the run, see
	// startJob) cancels the run and removes its temp file too.
	ch, _, _ := j.Wakeup()
	<-p.Held()
	stop()
	if rep := awaitReport(t, ch); rep.Result != controlapi.ResultCanceled || !strings.Contains(rep.Error, "stopping") {
		t.Fatalf("run at shutdown: %+v", rep)
	}
	if left := partFiles(t, st.Dir()); len(left) != 0 {
		t.Fatalf("temp files left after stop: %v", left)
	}
}

func TestRetriesOn503(t *testing.T) {
	_, leader := startCluster(t, 1)
	p := testkit.NewProxy(t, leader.HTTPAddr)
	p.Queue(testkit.Fault{Status: http.StatusServiceUnavailable, Body: "overloaded\n", Header: map[string]string{"Retry-After": "1"}},
		testkit.Fault{Status: http.StatusServiceUnavailable, Body: "still overloaded\n"})
	metrics := &recorder{}
	j, err := NewSnapshotJob(SnapshotOptions{Name: "retry", Source: raftSource(t, p.URL), Store: storetest.Local(t), Interval: time.Hour,
		Retries: RetryPolicy{Max: 3, Initial: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	startJob(t, j)
	awaitFirstRun(t, j)
	rep := *j.Status().LastRun
	if rep.Result != controlapi.ResultSuccess || rep.Attempts != 3 || p.Requests() != 3 {
		t.Fatalf("report %+v after %d requests", rep, p.Requests())
	}
	times := p.RequestTimes()
	if gap := times[1].Sub(times[0]); gap < time.Second {
		t.Fatalf("Retry-After: 1 not honoured: retried after %s", gap)
	}
	if got := metrics.results(); got != "success/" {
		t.Fatalf("metrics %q", got)
	}
}

func TestNoRetryOn403(t *testing.T) {
	_, leader := startCluster(t, 1)
	p := testkit.NewProxy(t, leader.HTTPAddr)
	p.Set(testkit.Fault{Status: http.StatusForbidden, Body: "Permission denied\n"})
	metrics := &recorder{}
	st := storetest.Local(t)
	j, _ := NewSnapshotJob(SnapshotOptions{Name: "denied", Source: raftSource(t, p.URL), Store: st, Interval: time.Hour,
		Retries: RetryPolicy{Max: 5, Initial: time.Millisecond}, Metrics: metrics})
	startJob(t, j)
	rep := wakeAndWait(t, j)
	if rep.Result != controlapi.ResultFailure || rep.Attempts != 1 || !strings.Contains(rep.Error, "403 from raft") {
		t.Fatalf("report %+v", rep)
	}
	if got := p.Requests(); got != 2 { // startup run + wakeup run, one attempt each
		t.Fatalf("%d requests", got)
	}
	if got := metrics.results(); got != "failure/http_4xx,failure/http_4xx" {
		t.Fatalf("metrics %q", got)
	}
	if s := j.Status(); s.State != controlapi.StateError || s.LastSuccessAt != nil {
		t.Fatalf("status %+v", s)
	}
	if entries, foreign, _ := st.List(context.Background()); len(entries)+len(foreign) != 0 || len(partFiles(t, st.Dir())) != 0 {
		t.Fatalf("a failed run left files: %v %v", entries, foreign)
	}
}

func TestStartupCatchUp(t *testing.T) {
	_, leader := startCluster(t, 1)
	st := storetest.Local(t)
	src := raftSource(t, leader.HTTPAddr)
	first := takeSnapshots(t, "catch", src, st, 1)
	newest := first.Status().Store.NewestAt

	// Restarted within the interval: no run, next run one interval after
	// the newest snapshot.
	again, _ := NewSnapshotJob(SnapshotOptions{Name: "catch", Source: src, Store: st, Interval: time.Hour})
	stop := startJob(t, again)
	waitFor(t, "next run scheduled", func() bool { return again.Status().NextRunAt != nil })
	s := again.Status()
	if !s.NextRunAt.Equal(newest.Add(time.Hour)) || len(s.History) != 0 || s.State != controlapi.StateWaiting {
		t.Fatalf("restart within interval: next %v (newest %v), %+v", s.NextRunAt, newest, s)
	}
	stop()

	// Two hours later: the newest is too old, run at once.
	later, _ := NewSnapshotJob(SnapshotOptions{Name: "catch", Source: src, Store: st, Interval: time.Hour,
		Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	startJob(t, later)
	awaitFirstRun(t, later)
	if rep := later.Status().LastRun; rep.Trigger != controlapi.TriggerStartup || rep.Result != controlapi.ResultSuccess {
		t.Fatalf("catch-up %+v", rep)
	}
}

func TestPruningAfterSnapshot(t *testing.T) {
	_, leader := startCluster(t, 1)
	st := storetest.Local(t)
	src := raftSource(t, leader.HTTPAddr)
	// Another job's snapshots in the same store: never touched.
	takeSnapshots(t, "other", src, st, 2)
	// One of this job's snapshots with a corrupt sidecar: never deleted.
	corrupt := "mine-20200101T000000Z-1.snap"
	os.WriteFile(st.Dir()+"/"+corrupt, []byte("whatever"), 0o600)
	os.WriteFile(st.Dir()+"/"+corrupt+".json", []byte("{broken"), 0o600)

	metrics := &recorder{}
	var logs bytes.Buffer
	j, _ := NewSnapshotJob(SnapshotOptions{Name: "mine", Source: src, Store: st, Interval: time.Hour,
		Policy: lastN(t, 2), Metrics: metrics, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	startJob(t, j)
	awaitFirstRun(t, j)
	var last controlapi.RunReport
	for range 3 {
		last = wakeAndWait(t, j)
		if last.Result != controlapi.ResultSuccess {
			t.Fatalf("run %+v", last)
		}
	}
	entries, foreign, _ := st.List(context.Background())
	var mine, others []store.Entry
	for _, e := range entries {
		if e.Job == "mine" {
			mine = append(mine, e)
		} else {
			others = append(others, e)
		}
	}
	if len(mine) != 2 || len(others) != 2 || mine[0].Name != last.Snapshot {
		t.Fatalf("mine %v others %v (last %s)", mine, others, last.Snapshot)
	}
	if len(foreign) != 1 || foreign[0].Name != corrupt || !strings.Contains(foreign[0].Problem, "not valid JSON") {
		t.Fatalf("foreign %+v", foreign)
	}
	sum := last.Pruning
	// One foreign file (the corrupt pair), two snapshots of another job.
	if sum == nil || sum.Kept != 2 || sum.Destroyed != 1 || sum.Foreign != 1 || sum.OtherJobs != 2 || len(sum.Decisions) != 3 {
		t.Fatalf("prune summary %+v", sum)
	}
	if d := sum.Decisions[2]; d.Keep || len(d.Reasons) == 0 {
		t.Fatalf("oldest decision %+v", d)
	}
	if metrics.pruned != 2 || metrics.foreign != 1 {
		t.Fatalf("pruned metric %d, foreign %d", metrics.pruned, metrics.foreign)
	}
	if !strings.Contains(logs.String(), "pruning: destroyed snapshot") || !strings.Contains(logs.String(), retention.ReasonNoRule) {
		t.Fatalf("destroys not logged with reasons:\n%s", logs.String())
	}
	if s := j.Status(); s.Pruning == nil || s.Store.Snapshots != 2 {
		t.Fatalf("status %+v", s)
	}
}

// destroyEverything is a policy that would destroy every snapshot: the job
// must still keep the newest verified one.
type destroyEverything struct{}

func (destroyEverything) Plan(snaps []retention.Snapshot, now time.Time) []retention.Decision {
	var out []retention.Decision
	for _, s := range snaps {
		out = append(out, retention.Decision{Snapshot: s, Reasons: []string{"destroy all"}})
	}
	return out
}

// startDestroyingPrune starts a prune job of job a's snapshots in st with
// the destroyEverything policy, logging into the buffer returned.
func startDestroyingPrune(t *testing.T, st store.Store) (*PruneJob, *bytes.Buffer) {
	t.Helper()
	logs := &bytes.Buffer{}
	pj, err := NewPruneJob(PruneOptions{Name: "prune", Store: st, Interval: time.Hour, Policy: destroyEverything{},
		Owners: []string{"a"}, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	startJob(t, pj)
	return pj, logs
}

func TestPruneJobKeepsNewestVerified(t *testing.T) {
	_, leader := startCluster(t, 1)
	st := storetest.Local(t)
	src := raftSource(t, leader.HTTPAddr)
	snap := takeSnapshots(t, "a", src, st, 2)
	pj, logs := startDestroyingPrune(t, st)
	rep := wakeAndWait(t, pj)
	if rep.Result != controlapi.ResultSuccess || rep.Pruning == nil || rep.Pruning.Kept != 1 || rep.Pruning.Destroyed != 1 {
		t.Fatalf("report %+v", rep)
	}
	entries, _, _ := st.List(context.Background())
	if len(entries) != 1 || entries[0].Name != snap.Status().LastRun.Snapshot {
		t.Fatalf("left %v", entries)
	}
	if !strings.Contains(logs.String(), "chose to destroy the newest verified") {
		t.Fatalf("guard not logged:\n%s", logs.String())
	}
	if _, err := NewPruneJob(PruneOptions{Name: "p", Store: st, Interval: time.Hour}); err == nil {
		t.Fatal("prune job without policy accepted")
	}
}

// TestPruneJobCleansLeftovers: each pass of a prune job over an object
// store removes what its owners' interrupted writes left there once stale
// (here an archive without its manifest), and leaves another job's.
func TestPruneJobCleansLeftovers(t *testing.T) {
	ctx := testContext(t)
	b := memblob.OpenBucket(nil)
	remote := bucket.New(b, bucket.Config{Provider: bucket.S3, Bucket: "mem", Prefix: "snap/"}, bucket.Options{StaleAfter: time.Nanosecond}, nil)
	t.Cleanup(func() { remote.Close() })
	ours, theirs := "snap/"+store.NewName("a", time.Now(), 5, 1), "snap/"+store.NewName("b", time.Now(), 5, 1)
	for _, key := range []string{ours, theirs} {
		if err := b.WriteAll(ctx, key, []byte("an upload completed, its manifest never written"), nil); err != nil {
			t.Fatal(err)
		}
	}
	pj, logs := startDestroyingPrune(t, remote)
	if rep := wakeAndWait(t, pj); rep.Result != controlapi.ResultSuccess {
		t.Fatalf("prune: %+v", rep)
	}
	if ok, err := b.Exists(ctx, ours); err != nil || ok {
		t.Fatalf("the owner's archive without manifest is still there after a prune (%v)", err)
	}
	if ok, err := b.Exists(ctx, theirs); err != nil || !ok {
		t.Fatalf("another job's archive without manifest was removed by a prune of job a's (%v)", err)
	}
	if !strings.Contains(logs.String(), "removed leftovers of interrupted writes") {
		t.Fatalf("the clean is not logged:\n%s", logs.String())
	}
}

func TestRestoreJob(t *testing.T) {
	ctx := testContext(t)
	st, taken := snapshotOfOneNode(t, "color", "blue")
	if taken.Result != controlapi.ResultSuccess {
		t.Fatalf("snapshot %+v", taken)
	}

	target, targetLeader := startCluster(t, 3)
	if err := target.Put(ctx, "color", "red"); err != nil {
		t.Fatal(err)
	}
	metrics := &recorder{}
	rj, err := NewRestoreJob(RestoreOptions{Name: "back", Store: st, FromJob: "src", Target: raftSource(t, targetLeader.HTTPAddr), Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	startJob(t, rj)
	if s := rj.Status(); s.NextRunAt != nil || (s.State != controlapi.StateIdle) {
		t.Fatalf("restore job status before wakeup: %+v", s)
	}
	rep := wakeAndWait(t, rj)
	if rep.Result != controlapi.ResultSuccess || rep.Snapshot != taken.Snapshot || rep.Index != taken.Index || rep.Bytes != taken.Bytes {
		t.Fatalf("restore %+v, snapshot %+v", rep, taken)
	}
	if v, ok, err := target.Get(ctx, "color"); err != nil || !ok || v != "blue" {
		t.Fatalf("target color = %q %v %v", v, ok, err)
	}

	// A corrupted archive is refused before a byte is sent.
	if err := target.Put(ctx, "color", "green"); err != nil {
		t.Fatal(err)
	}
	testkit.FlipByte(t, st.Dir()+"/"+taken.Snapshot, taken.Bytes/2)
	rep = wakeAndWait(t, rj)
	if rep.Result != controlapi.ResultFailure || !strings.Contains(rep.Error, "fails verification") || !strings.Contains(rep.Error, "not restoring") {
		t.Fatalf("corrupt restore %+v", rep)
	}
	if v, _, _ := target.Get(ctx, "color"); v != "green" {
		t.Fatalf("target changed by a refused restore: %q", v)
	}
	if e, err := st.Get(context.Background(), taken.Snapshot); err != nil || e.Verified {
		t.Fatalf("corrupted entry still marked verified: %+v %v", e, err)
	}
	// With the only snapshot now unverified, "latest" has nothing to restore.
	rep = wakeAndWait(t, rj)
	if rep.Result != controlapi.ResultFailure || !strings.Contains(rep.Error, "no verified snapshot of job src") {
		t.Fatalf("third restore %+v", rep)
	}
	if got := metrics.results(); got != "success/,failure/verification,failure/other" {
		t.Fatalf("metrics %q", got)
	}
	if len(metrics.restores) != 3 || metrics.restores[0] != controlapi.ResultSuccess {
		t.Fatalf("restore metrics %v", metrics.restores)
	}
}

func TestAttemptTimeoutIsRetriedThenFails(t *testing.T) {
	_, leader := startCluster(t, 1)
	p := testkit.NewProxy(t, leader.HTTPAddr)
	p.Set(holdAfterFirstBytes)
	metrics := &recorder{}
	st := storetest.Local(t)
	j, _ := NewSnapshotJob(SnapshotOptions{Name: "stuck", Source: raftSource(t, p.URL), Store: st, Interval: time.Hour,
		Timeout: 300 * time.Millisecond, Retries: RetryPolicy{Max: 1, Initial: time.Millisecond}, Metrics: metrics})
	startJob(t, j)
	awaitFirstRun(t, j)
	rep := j.Status().LastRun
	if rep.Result != controlapi.ResultFailure || rep.Attempts != 2 || !strings.Contains(rep.Error, "timed out after 300ms") {
		t.Fatalf("report %+v", rep)
	}
	if got := metrics.results(); got != "failure/timeout" {
		t.Fatalf("metrics %q", got)
	}
	if left := partFiles(t, st.Dir()); len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
	if (RetryPolicy{Initial: time.Second}).Backoff(200) != maxUncappedBackoff {
		t.Fatal("uncapped backoff overflows")
	}
}
