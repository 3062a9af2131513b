package job

// The runner's logic (wakeup queue, reset, history, schedule, retries and
// the stale fallback) driven by an in-memory source and a fake clock: each
// step waits for an event (a source call, an armed timer, a report), so
// these run in milliseconds. The same behaviours through a real dev cluster
// and a fault proxy are in job_test.go.

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/memsource"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

var clockStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// memJob is a snapshot job on a memory source, a real store and a fake
// clock, started; it runs its start-up run at once (the store is empty).
func memJob(t *testing.T, src *memsource.Source, opts SnapshotOptions) (*SnapshotJob, *testkit.FakeClock, func()) {
	t.Helper()
	clock := testkit.NewFakeClock(clockStart)
	opts.Source, opts.Clock = src, clock
	if opts.Name == "" {
		opts.Name = "mem"
	}
	if opts.Store == nil {
		opts.Store = storetest.Local(t)
	}
	if opts.Interval == 0 {
		opts.Interval = time.Hour
	}
	j, err := NewSnapshotJob(opts)
	if err != nil {
		t.Fatal(err)
	}
	return j, clock, startJob(t, j)
}

// TestRunnerWakeupsWhileBusyMergeIntoOnePendingRun: wakeups during a run
// queue one run and all get its report; a wakeup during that run queues the
// next one.
func TestRunnerWakeupsWhileBusyMergeIntoOnePendingRun(t *testing.T) {
	src := memsource.New(t, memsource.Options{})
	startup, second := make(chan struct{}), make(chan struct{})
	src.Next(memsource.Answer{Partial: 10, Hold: startup}, memsource.Answer{Hold: second})
	j, _, _ := memJob(t, src, SnapshotOptions{})

	if c := src.Started(t); c.N != 1 {
		t.Fatalf("first call %+v", c)
	}
	a, queuedA, errA := j.Wakeup()
	b, queuedB, errB := j.Wakeup()
	if errA != nil || errB != nil || !queuedA || !queuedB {
		t.Fatalf("wakeups on a busy job: queued %v %v, errors %v %v", queuedA, queuedB, errA, errB)
	}
	if s := j.Status(); s.State != controlapi.StateRunning || s.PendingSignal != controlapi.OpWakeup || s.Current == nil {
		t.Fatalf("status while busy with a wakeup queued: %+v", s)
	}
	close(startup)
	if c := src.Started(t); c.N != 2 {
		t.Fatalf("the queued run made call %+v, want the second", c)
	}
	if s := j.Status(); s.PendingSignal != "" {
		t.Fatalf("the queued run started but a signal is still pending: %+v", s)
	}
	c, queuedC, _ := j.Wakeup()
	if !queuedC {
		t.Fatal("a wakeup during the queued run was not queued")
	}
	close(second)
	repA, repB, repC := awaitReport(t, a), awaitReport(t, b), awaitReport(t, c)
	if repA.ID != repB.ID || repA.Trigger != controlapi.TriggerWakeup || repA.Result != controlapi.ResultSuccess {
		t.Fatalf("merged wakeups got %+v and %+v", repA, repB)
	}
	if repC.ID == repA.ID || repC.Result != controlapi.ResultSuccess {
		t.Fatalf("the wakeup during the merged run got %+v, want a run of its own", repC)
	}
	h := j.Status().History
	if len(h) != 3 || h[0].ID != repC.ID || h[1].ID != repA.ID || h[2].Trigger != controlapi.TriggerStartup {
		t.Fatalf("history %+v, want newest first: %s, %s, the start-up run", h, repC.ID, repA.ID)
	}
	if n := len(src.Calls()); n != 3 {
		t.Fatalf("%d source calls for three runs", n)
	}
}

// TestRunnerResetCancelsRunningAndQueued: a reset cancels the run in
// progress (not retried) and drops the queued one, whose waiters are told.
func TestRunnerResetCancelsRunningAndQueued(t *testing.T) {
	src := memsource.New(t, memsource.Options{})
	never := make(chan struct{})
	src.Next(memsource.Answer{Partial: 10, Hold: never})
	j, clock, _ := memJob(t, src, SnapshotOptions{Retries: RetryPolicy{Max: 3, Initial: time.Millisecond}})
	src.Started(t)
	pending, queued, _ := j.Wakeup()
	if !queued {
		t.Fatal("wakeup during a run not queued")
	}
	if err := j.Reset(); err != nil {
		t.Fatal(err)
	}
	if rep := awaitReport(t, pending); rep.Result != controlapi.ResultCanceled || !strings.Contains(rep.Error, "dropped by a reset") {
		t.Fatalf("the dropped queued run reported %+v", rep)
	}
	if d := clock.NextTimer(t); d != time.Hour {
		t.Fatalf("after the reset the job armed a %s timer, want its 1h schedule", d)
	}
	s := j.Status()
	if s.LastRun == nil || s.LastRun.Result != controlapi.ResultCanceled || s.LastRun.Error != errReset.Error() || s.LastRun.Attempts != 1 {
		t.Fatalf("the reset run: %+v", s.LastRun)
	}
	if s.State != controlapi.StateWaiting || s.Current != nil || s.PendingSignal != "" || s.NextRunAt == nil || !s.NextRunAt.Equal(clockStart.Add(time.Hour)) {
		t.Fatalf("after reset: %+v", s)
	}
	if n := len(src.Calls()); n != 1 {
		t.Fatalf("a canceled run was retried: %d calls", n)
	}
	// A reset with nothing to cancel is not an error and changes nothing.
	if err := j.Reset(); err != nil {
		t.Fatalf("reset of an idle job: %v", err)
	}
	if got := j.Status(); len(got.History) != 1 || got.State != controlapi.StateWaiting {
		t.Fatalf("reset of an idle job changed it: %+v", got)
	}
}

// TestRunnerHistoryIsBoundedNewestFirst: the status keeps the last
// HistorySize runs, newest first, and LastRun is the newest.
func TestRunnerHistoryIsBoundedNewestFirst(t *testing.T) {
	src := memsource.New(t, memsource.Options{})
	j, clock, _ := memJob(t, src, SnapshotOptions{})
	clock.NextTimer(t) // the start-up run is done
	var ids []string
	for range HistorySize + 5 {
		clock.Advance(time.Minute) // distinct start times (not due yet: 1h)
		rep := wakeAndWait(t, j)
		if rep.Result != controlapi.ResultSuccess {
			t.Fatalf("run %+v", rep)
		}
		ids = append(ids, rep.ID)
	}
	s := j.Status()
	if len(s.History) != HistorySize {
		t.Fatalf("history holds %d runs, want %d", len(s.History), HistorySize)
	}
	for i, r := range s.History {
		if want := ids[len(ids)-1-i]; r.ID != want {
			t.Fatalf("history[%d] is run %s, want %s (newest first)", i, r.ID, want)
		}
		if i > 0 && !r.StartedAt.Before(s.History[i-1].StartedAt) {
			t.Fatalf("history[%d] started %s, not before history[%d] at %s", i, r.StartedAt, i-1, s.History[i-1].StartedAt)
		}
	}
	if s.LastRun == nil || s.LastRun.ID != ids[len(ids)-1] {
		t.Fatalf("last run %+v, want %s", s.LastRun, ids[len(ids)-1])
	}
}

// TestRunnerScheduleFollowsTheClock: the next run is due one interval
// after the last one started, and runs when the clock gets there.
func TestRunnerScheduleFollowsTheClock(t *testing.T) {
	src := memsource.New(t, memsource.Options{})
	j, clock, _ := memJob(t, src, SnapshotOptions{Interval: 10 * time.Minute})
	if d := clock.NextTimer(t); d != 10*time.Minute {
		t.Fatalf("after the start-up run the job waits %s, want its interval", d)
	}
	if s := j.Status(); s.NextRunAt == nil || !s.NextRunAt.Equal(clockStart.Add(10*time.Minute)) || s.State != controlapi.StateWaiting {
		t.Fatalf("status after the start-up run: %+v", s)
	}
	src.Started(t) // the start-up run's call
	clock.Advance(10*time.Minute - time.Second)
	// Advance fires due timers before it returns: one still armed means
	// no run was started early.
	if n := clock.Pending(); n != 1 {
		t.Fatalf("%d timers armed a second before the run is due, want the schedule's", n)
	}
	clock.Advance(time.Second)
	if c := src.Started(t); c.N != 2 {
		t.Fatalf("call %+v, want the scheduled run's", c)
	}
	clock.NextTimer(t)
	if s := j.Status(); s.LastRun == nil || s.LastRun.Trigger != controlapi.TriggerSchedule || !s.NextRunAt.Equal(clockStart.Add(20*time.Minute)) {
		t.Fatalf("after the scheduled run: %+v", s)
	}
}

// TestRunnerRetriesWithBackoffAndRetryAfter: a transient failure is
// retried after the policy's doubling backoff, or the server's Retry-After
// when longer; the job shows the backoff phase meanwhile.
func TestRunnerRetriesWithBackoffAndRetryAfter(t *testing.T) {
	src := memsource.New(t, memsource.Options{})
	src.Next(
		memsource.Answer{Err: &source.Error{Kind: source.Raft, StatusCode: 503, Message: "overloaded"}},
		memsource.Answer{Err: &source.Error{Kind: source.Raft, StatusCode: 429, Message: "slow down", RetryAfter: 5 * time.Second}},
		memsource.Answer{Partial: 20, Err: &source.Error{Kind: source.Raft, Message: "response body cut short"}},
	)
	metrics := &recorder{}
	j, clock, _ := memJob(t, src, SnapshotOptions{Metrics: metrics,
		Retries: RetryPolicy{Max: 3, Initial: 100 * time.Millisecond, MaxBackoff: time.Second}})
	for i, want := range []time.Duration{100 * time.Millisecond, 5 * time.Second, 400 * time.Millisecond} {
		if d := clock.NextTimer(t); d != want {
			t.Fatalf("backoff %d: %s, want %s", i+1, d, want)
		}
		if c := j.Status().Current; c == nil || c.Phase != controlapi.PhaseBackoff || c.Attempt != i+1 {
			t.Fatalf("during backoff %d: %+v", i+1, c)
		}
		clock.Advance(want)
	}
	clock.NextTimer(t) // the schedule, armed once the run finished
	rep := j.Status().LastRun
	if rep == nil || rep.Result != controlapi.ResultSuccess || rep.Attempts != 4 || len(src.Calls()) != 4 {
		t.Fatalf("report %+v after %d calls", rep, len(src.Calls()))
	}
	if got := metrics.results(); got != "success/" {
		t.Fatalf("metrics %q", got)
	}
}

// TestRunnerRetriesEndInFailure: the retry budget spent, the run fails
// with the last error; a permanent error is not retried at all.
func TestRunnerRetriesEndInFailure(t *testing.T) {
	t.Run("budget spent", func(t *testing.T) {
		src := memsource.New(t, memsource.Options{})
		for range 2 {
			src.Next(memsource.Answer{Err: &source.Error{Kind: source.Raft, StatusCode: 503, Message: "overloaded"}})
		}
		metrics := &recorder{}
		j, clock, _ := memJob(t, src, SnapshotOptions{Metrics: metrics, Retries: RetryPolicy{Max: 1, Initial: time.Second}})
		if d := clock.NextTimer(t); d != time.Second {
			t.Fatalf("backoff %s", d)
		}
		clock.Advance(time.Second)
		clock.NextTimer(t) // the schedule: the run is over
		rep := j.Status().LastRun
		if rep.Result != controlapi.ResultFailure || rep.Attempts != 2 || !strings.Contains(rep.Error, "503") {
			t.Fatalf("report %+v", rep)
		}
		if got := metrics.results(); got != "failure/"+ReasonHTTP5xx {
			t.Fatalf("metrics %q", got)
		}
	})
	t.Run("permanent", func(t *testing.T) {
		src := memsource.New(t, memsource.Options{})
		src.Next(memsource.Answer{Err: &source.ConfigError{Kind: source.Raft, Field: "Address", Reason: "not a URL"}})
		j, clock, _ := memJob(t, src, SnapshotOptions{Retries: RetryPolicy{Max: 5, Initial: time.Second}})
		if d := clock.NextTimer(t); d != time.Hour {
			t.Fatalf("a permanent error was followed by a %s wait, want the 1h schedule (no retry)", d)
		}
		if rep := j.Status().LastRun; rep.Result != controlapi.ResultFailure || rep.Attempts != 1 || len(src.Calls()) != 1 {
			t.Fatalf("report %+v after %d calls", rep, len(src.Calls()))
		}
	})
}

// noLeader is how a server says it knows no leader (source.IsNoLeader).
var noLeader = &source.Error{Kind: source.Raft, StatusCode: 503, Message: "no leader is known"}

// TestRunnerStaleFallback: with stale_fallback, a consistent attempt that
// finds no leader is followed at once (no backoff) by a stale one, on top
// of the retry budget; without it, the run fails.
func TestRunnerStaleFallback(t *testing.T) {
	t.Run("falls back at once", func(t *testing.T) {
		src := memsource.New(t, memsource.Options{StaleFallback: true})
		src.Next(memsource.Answer{Err: noLeader})
		j, clock, _ := memJob(t, src, SnapshotOptions{Retries: RetryPolicy{Max: 0}})
		if d := clock.NextTimer(t); d != time.Hour {
			t.Fatalf("the fallback waited %s first, want no wait (next timer: the 1h schedule)", d)
		}
		rep := j.Status().LastRun
		if rep.Result != controlapi.ResultSuccess || rep.Attempts != 2 || !rep.Stale ||
			len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "fell back to a stale snapshot") {
			t.Fatalf("report %+v", rep)
		}
		if calls := src.Calls(); len(calls) != 2 || calls[0].Stale || !calls[1].Stale {
			t.Fatalf("calls %+v, want a consistent then a stale one", calls)
		}
		entries, _, err := j.view.List(context.Background())
		if err != nil || len(entries) != 1 || !entries[0].Stale {
			t.Fatalf("stored %+v (%v), want one snapshot marked stale", entries, err)
		}
	})
	t.Run("fallback fails too", func(t *testing.T) {
		src := memsource.New(t, memsource.Options{StaleFallback: true})
		src.Next(memsource.Answer{Err: noLeader}, memsource.Answer{Err: noLeader})
		j, clock, _ := memJob(t, src, SnapshotOptions{Retries: RetryPolicy{Max: 0}})
		clock.NextTimer(t)
		if rep := j.Status().LastRun; rep.Result != controlapi.ResultFailure || rep.Attempts != 2 || len(src.Calls()) != 2 {
			t.Fatalf("report %+v after calls %+v", rep, src.Calls())
		}
	})
	t.Run("on top of the retry budget", func(t *testing.T) {
		// One retry allowed: the fallback does not spend it, so a failed
		// stale attempt is still retried (stale again) after the backoff.
		src := memsource.New(t, memsource.Options{StaleFallback: true})
		src.Next(memsource.Answer{Err: noLeader}, memsource.Answer{Err: noLeader})
		j, clock, _ := memJob(t, src, SnapshotOptions{Retries: RetryPolicy{Max: 1, Initial: time.Second}})
		// The backoff after attempt 2 (the fallback counts as an attempt).
		d, want := clock.NextTimer(t), (RetryPolicy{Initial: time.Second}).Backoff(2)
		if d != want {
			t.Fatalf("after the failed fallback the job waits %s, want the %s backoff", d, want)
		}
		clock.Advance(d)
		clock.NextTimer(t)
		rep := j.Status().LastRun
		if rep.Result != controlapi.ResultSuccess || rep.Attempts != 3 || !rep.Stale {
			t.Fatalf("report %+v", rep)
		}
		if calls := src.Calls(); len(calls) != 3 || calls[0].Stale || !calls[1].Stale || !calls[2].Stale {
			t.Fatalf("calls %+v, want consistent, stale, stale", calls)
		}
	})
	t.Run("not configured", func(t *testing.T) {
		src := memsource.New(t, memsource.Options{})
		src.Next(memsource.Answer{Err: noLeader})
		j, clock, _ := memJob(t, src, SnapshotOptions{Retries: RetryPolicy{Max: 0}})
		clock.NextTimer(t)
		if rep := j.Status().LastRun; rep.Result != controlapi.ResultFailure || rep.Attempts != 1 || rep.Stale {
			t.Fatalf("report %+v", rep)
		}
		if calls := src.Calls(); len(calls) != 1 || calls[0].Stale {
			t.Fatalf("calls %+v, want one consistent call", calls)
		}
	})
}

// TestListErrorsLoggedOncePerChange: a store that keeps failing to list
// (bad credentials, refreshed by every status call) is logged at ERROR
// when the error is new or changes, not at each refresh; its recovery is
// said once.
func TestListErrorsLoggedOncePerChange(t *testing.T) {
	var logs bytes.Buffer
	r := &runner{logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	st := stringer("s3://backups/x/")
	denied, missing := errors.New("403 access denied"), errors.New("404 no such bucket")
	for _, err := range []error{denied, denied, denied, missing, missing} {
		r.listFailed(st, "cannot list store", err)
	}
	r.listed(st)
	r.listed(st)
	r.listFailed(st, "cannot list store", denied)
	out := logs.String()
	if n := strings.Count(out, "level=ERROR"); n != 3 {
		t.Errorf("%d errors logged, want 3 (denied, missing, denied after a recovery):\n%s", n, out)
	}
	if n := strings.Count(out, "store can be listed again"); n != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", n, out)
	}
}

type stringer string

func (s stringer) String() string { return string(s) }
