package job

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
)

// HistorySize is how many finished runs a job's status keeps.
const HistorySize = 20

// Causes of a canceled run, as controlapi.RunReport.Error says them.
var (
	errReset    = errors.New("canceled by a reset signal")
	errShutdown = errors.New("canceled: the job is stopping")
)

// runner is the machinery the three jobs share: the schedule, the wakeup
// queue (at most one pending run, its waiters merged), reset, history and
// the status snapshot. The job-specific work is execute.
type runner struct {
	name, typ string
	logger    *slog.Logger
	metrics   Metrics
	now       func() time.Time
	// source, target and snapshot describe the job in its status (see
	// controlapi.JobStatus).
	source, target, snapshot string
	// checkSource, when set, tells whether the job's source or target can
	// be used now (its settings' files read); problem is its last verdict.
	checkSource func() error
	problem     string
	// clock, when set, arms the schedule and backoff timers (a test's fake
	// clock); nil means real timers.
	clock Clock
	// interval 0 means the job runs only when woken up.
	interval, jitter time.Duration
	// execute does one run; it fills the report's job fields and returns
	// the run's error. It is called on the Run goroutine.
	execute func(ctx context.Context, r *activeRun) error
	// firstRun, when set, is asked at the start of Run whether to run at
	// once, or else when the next run is due (zero: interval from now).
	firstRun func(ctx context.Context) (runNow bool, next time.Time)
	// cancelOnStop cancels a run in progress as soon as the job is asked
	// to stop, instead of letting it finish within the shutdown grace: for
	// runs that lose nothing by stopping (a drill).
	cancelOnStop bool
	// refreshStore, when set, re-reads the store summary. Status calls it
	// when the summary is older than storeStaleAfter, because other jobs
	// (or people) change the store between this job's own runs.
	refreshStore func()
	refreshing   atomic.Bool
	// listErrs is the last listing error logged per store: a store that
	// keeps failing (bad credentials) is logged at ERROR once per change,
	// not at every status refresh.
	listErrs sync.Map // store String() → error message

	wake chan struct{} // capacity 1: "look at the pending flag"

	mu            sync.Mutex
	current       *activeRun
	cancelCurrent context.CancelCauseFunc
	pending       bool
	pendingWaits  []chan controlapi.RunReport
	lastRun       *controlapi.RunReport
	lastSuccess   *time.Time
	nextRun       *time.Time
	history       []controlapi.RunReport
	pruning       *controlapi.PruneSummary
	store         *controlapi.StoreSummary
	stores        []controlapi.StoreSummary // a job with several stores
	storeAt       time.Time
	looping       bool
	// stopped is set when Run returned for good (its context ended).
	stopped bool
	// nextTrigger, when set, labels the next scheduled run instead of
	// "schedule" (a start-up catch-up delayed by jitter).
	nextTrigger string

	// gate, when set, makes the job act only while this agent holds its
	// role (gate.go); term is the current term's context.
	gate        Gate
	term, outer context.Context
}

// storeStaleAfter bounds how old the store summary in a status may be.
var storeStaleAfter = 5 * time.Second

func newRunner(name, typ string, logger *slog.Logger, metrics Metrics, now func() time.Time) *runner {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = noMetrics{}
	}
	if now == nil {
		now = time.Now
	}
	return &runner{
		name: name, typ: typ,
		logger:  logger.With("job", name),
		metrics: metrics,
		now:     now,
		wake:    make(chan struct{}, 1),
	}
}

// activeRun is the run in progress: its report so far and its progress.
type activeRun struct {
	report  controlapi.RunReport
	logger  *slog.Logger
	waiters []chan controlapi.RunReport

	// stopping is closed when the job is asked to stop: the run may
	// finish, but must not start another attempt.
	stopping <-chan struct{}

	mu            sync.Mutex
	phase         string
	attempt       int
	bytesExpected int64
	transferStart time.Time
	bytesDone     atomic.Int64
}

func (a *activeRun) setPhase(phase string) {
	a.mu.Lock()
	a.phase = phase
	a.mu.Unlock()
}

// startAttempt resets the byte counters for a new transfer.
func (a *activeRun) startAttempt(n int, phase string, now time.Time) {
	a.mu.Lock()
	a.attempt, a.phase, a.transferStart, a.bytesExpected = n, phase, now, 0
	a.bytesDone.Store(0)
	a.mu.Unlock()
}

func (a *activeRun) setExpected(n int64) {
	a.mu.Lock()
	a.bytesExpected = n
	a.mu.Unlock()
}

// progressSink is a download's destination that also hears how it goes
// (source.Progress): the phase moves from connecting to waiting for the
// server once the request is out, and a Content-Length gives the bytes
// expected, for the percentage and ETA in status.
type progressSink struct {
	io.Writer
	run *activeRun
}

func (p progressSink) Sent() {
	p.run.mu.Lock()
	if p.run.phase == controlapi.PhaseConnecting {
		p.run.phase = controlapi.PhaseWaiting
	}
	p.run.mu.Unlock()
}

func (p progressSink) Expect(n int64) { p.run.setExpected(n) }

// countingWriter adds what goes through it to the run's progress, and
// switches the phase from connecting to downloading on the first byte.
type countingWriter struct{ run *activeRun }

func (c countingWriter) Write(p []byte) (int, error) {
	if c.run.bytesDone.Add(int64(len(p))) == int64(len(p)) && len(p) > 0 {
		c.run.setPhase(controlapi.PhaseDownloading)
	}
	return len(p), nil
}

func (a *activeRun) progress(now time.Time) *controlapi.RunProgress {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := &controlapi.RunProgress{
		ID: a.report.ID, Phase: a.phase, StartedAt: a.report.StartedAt, Attempt: a.attempt,
		BytesDone: a.bytesDone.Load(), BytesExpected: a.bytesExpected,
	}
	if elapsed := now.Sub(a.transferStart).Seconds(); elapsed > 0 && !a.transferStart.IsZero() {
		p.BytesPerSecond = float64(p.BytesDone) / elapsed
	}
	return p
}

// Name and Type implement Job.
func (r *runner) Name() string { return r.name }
func (r *runner) Type() string { return r.typ }

// Wakeup queues a run. Wakeups arriving while one is pending merge into it;
// every caller's channel receives the report of that run.
func (r *runner) Wakeup() (<-chan controlapi.RunReport, bool, error) {
	if err := r.standby(); err != nil {
		return nil, false, err
	}
	done := make(chan controlapi.RunReport, 1)
	r.mu.Lock()
	if r.stopped {
		// Its Run has returned (shutdown, or a reload removed or replaced
		// it): nothing would ever serve the wakeup.
		r.mu.Unlock()
		return nil, false, ErrStopped
	}
	r.pending = true
	r.pendingWaits = append(r.pendingWaits, done)
	queued := r.current != nil
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return done, queued, nil
}

// Reset cancels the run in progress and drops the pending one; waiters of
// the dropped run get a canceled report.
func (r *runner) Reset() error {
	r.mu.Lock()
	waits := r.pendingWaits
	r.pending, r.pendingWaits = false, nil
	if r.cancelCurrent != nil {
		r.cancelCurrent(errReset)
	}
	r.mu.Unlock()
	if len(waits) > 0 {
		now := r.now()
		deliver(waits, controlapi.RunReport{Trigger: controlapi.TriggerWakeup, StartedAt: now, FinishedAt: now, Result: controlapi.ResultCanceled,
			Error: "the queued run was dropped by a reset signal"})
	}
	r.logger.Info("reset", "run_canceled", r.isBusy(), "pending_dropped", len(waits))
	return nil
}

// Abort implements Job.
func (r *runner) Abort() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancelCurrent != nil {
		r.cancelCurrent(errShutdown)
	}
}

func (r *runner) isBusy() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current != nil
}

func deliver(waits []chan controlapi.RunReport, rep controlapi.RunReport) {
	for _, w := range waits {
		w <- rep // capacity 1, one send each
		close(w)
	}
}

// Run schedules runs until ctx is done; a run in progress is then canceled
// and waited for, and waiters of a pending run get a canceled report.
func (r *runner) Run(ctx context.Context) {
	r.mu.Lock()
	if r.looping {
		r.mu.Unlock()
		r.logger.Error("Run called while the job is already running; ignored")
		return
	}
	r.looping = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.looping = false
		r.stopped = ctx.Err() != nil
		r.setNextLocked(nil)
		var waits []chan controlapi.RunReport
		if ctx.Err() != nil {
			waits = r.pendingWaits
			r.pending, r.pendingWaits = false, nil
		}
		r.mu.Unlock()
		if len(waits) > 0 {
			now := r.now()
			deliver(waits, controlapi.RunReport{Trigger: controlapi.TriggerWakeup, StartedAt: now, FinishedAt: now, Result: controlapi.ResultCanceled,
				Error: errShutdown.Error()})
		}
	}()

	r.recheckSource()
	if r.gate != nil {
		r.runGated(ctx)
		return
	}
	r.schedule(ctx)
}

// schedule runs the job's first run check, then its schedule and wakeups,
// until ctx ends (the job stops, or a gated job's term ends).
func (r *runner) schedule(ctx context.Context) {
	if r.firstRun != nil {
		runNow, next := r.firstRun(ctx)
		if runNow {
			r.runOnce(ctx, controlapi.TriggerStartup, nil)
		} else if !next.IsZero() {
			r.setNext(next)
		}
	}
	for {
		if ctx.Err() != nil {
			return
		}
		if waits, ok := r.takePending(); ok {
			r.runOnce(ctx, controlapi.TriggerWakeup, waits)
			continue
		}
		var timer <-chan time.Time
		if r.interval > 0 {
			next := r.ensureNext()
			var stop func() bool
			timer, stop = r.newTimer(max(0, next.Sub(r.now())))
			select {
			case <-ctx.Done():
				stop()
				return
			case <-r.wake:
				stop()
				continue
			case <-timer:
				r.runOnce(ctx, r.takeScheduledTrigger(), nil)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
	}
}

func (r *runner) takePending() ([]chan controlapi.RunReport, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.pending {
		return nil, false
	}
	waits := r.pendingWaits
	r.pending, r.pendingWaits = false, nil
	return waits, true
}

// takeScheduledTrigger names the scheduled run about to start: "schedule",
// or the trigger a first run delayed by jitter was given ("startup").
func (r *runner) takeScheduledTrigger() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	trigger := controlapi.TriggerSchedule
	if r.nextTrigger != "" {
		trigger, r.nextTrigger = r.nextTrigger, ""
	}
	return trigger
}

func (r *runner) setNext(t time.Time) {
	r.mu.Lock()
	r.setNextLocked(&t)
	r.mu.Unlock()
}

// setNextLocked records the next scheduled run (nil: none) and tells the
// metrics; the caller holds mu.
func (r *runner) setNextLocked(t *time.Time) {
	r.nextRun = t
	r.metrics.NextRun(r.name, t)
}

// recoverLastSuccess makes t the last success when the job has none yet
// (after a start or a reload the job's own history is empty, but its
// snapshots in the store say when it last succeeded).
func (r *runner) recoverLastSuccess(t time.Time) {
	r.mu.Lock()
	set := r.lastSuccess == nil
	if set {
		r.lastSuccess = &t
	}
	r.mu.Unlock()
	if set {
		r.metrics.LastSuccess(r.name, t)
	}
}

// ensureNext returns the next scheduled time, computing interval + jitter
// from now when none is set.
func (r *runner) ensureNext() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nextRun == nil {
		next := r.now().Add(r.interval + r.randomJitter())
		r.setNextLocked(&next)
	}
	return *r.nextRun
}

func (r *runner) randomJitter() time.Duration {
	if r.jitter <= 0 {
		return 0
	}
	return rand.N(r.jitter)
}

// runOnce executes one run and records it.
func (r *runner) runOnce(parent context.Context, trigger string, waits []chan controlapi.RunReport) {
	if parent.Err() != nil {
		// Asked to stop between taking the work and starting it: no new
		// run starts once stopping began.
		now := r.now()
		deliver(waits, controlapi.RunReport{Trigger: trigger, StartedAt: now, FinishedAt: now, Result: controlapi.ResultCanceled,
			Error: errShutdown.Error()})
		return
	}
	id := newRunID()
	run := &activeRun{
		report:  controlapi.RunReport{ID: id, Trigger: trigger, StartedAt: r.now()},
		logger:  r.logger.With("run", id),
		waiters: waits,
	}
	run.phase = controlapi.PhaseConnecting
	run.stopping = parent.Done()
	// The run outlives a stop request (parent done) so that it can finish
	// within the shutdown grace; Reset and Abort cancel it.
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	if r.cancelOnStop {
		stop := context.AfterFunc(parent, func() { cancel(errShutdown) })
		defer stop()
	}
	if term, outer := r.roleContext(); term != nil {
		stop := context.AfterFunc(term, func() {
			// A term ended by the job stopping is no lost role: the run
			// may finish within the shutdown grace (its commit still
			// passes the fence, the role is released after it).
			if outer.Err() == nil {
				cancel(errLostRole)
			}
		})
		defer stop()
	}
	r.mu.Lock()
	r.current, r.cancelCurrent = run, cancel
	r.setNextLocked(nil)
	r.nextTrigger = "" // any run, e.g. a wakeup, settles a delayed catch-up
	r.mu.Unlock()
	run.logger.Info("run started", "trigger", trigger)

	var err error
	panicked := true
	var panicValue any
	func() {
		defer func() {
			if panicked {
				panicValue = recover()
				err = fmt.Errorf("internal error: panic: %v", panicValue)
				run.logger.Error("run panicked", "panic", fmt.Sprint(panicValue), "stack", string(debug.Stack()))
			}
		}()
		err = r.execute(ctx, run)
		panicked = false
	}()
	cause := context.Cause(ctx)
	cancel(nil)
	r.finish(run, err, cause)
	if panicked {
		// The supervisor counts the crash and restarts Run; the report is
		// already recorded and delivered.
		panic(panicValue)
	}
}

func (r *runner) finish(run *activeRun, err, cause error) {
	rep := run.report
	rep.FinishedAt = r.now()
	reason := ""
	switch {
	case err != nil && cause != nil:
		rep.Result = controlapi.ResultCanceled
		switch {
		case errors.Is(cause, errReset):
			rep.Error = errReset.Error()
		case errors.Is(cause, errLostRole):
			rep.Error = errLostRole.Error()
		default:
			rep.Error = errShutdown.Error()
		}
		reason = ReasonCanceled
	case err != nil:
		rep.Result = controlapi.ResultFailure
		rep.Error = err.Error()
		reason = FailureReason(err)
	default:
		rep.Result = controlapi.ResultSuccess
	}
	d := rep.FinishedAt.Sub(rep.StartedAt)
	attrs := []any{"result", rep.Result, "duration", d.Round(time.Millisecond)}
	if rep.Snapshot != "" {
		attrs = append(attrs, "snapshot", rep.Snapshot, "bytes", rep.Bytes, "index", rep.Index)
	}
	if rep.Error != "" {
		attrs = append(attrs, "err", rep.Error, "reason", reason)
		run.logger.Error("run finished", attrs...)
	} else {
		run.logger.Info("run finished", attrs...)
	}
	if r.gate != nil && rep.Result != controlapi.ResultCanceled {
		r.gate.RunFinished(rep.Result == controlapi.ResultFailure)
	}
	r.metrics.LastAttempt(r.name, rep.StartedAt)
	r.metrics.RunFinished(r.name, r.typ, rep.Result, reason, d, rep.Bytes)
	if rep.Result == controlapi.ResultSuccess {
		r.metrics.LastSuccess(r.name, rep.FinishedAt)
	}

	r.mu.Lock()
	r.current, r.cancelCurrent = nil, nil
	if r.interval > 0 {
		// Set here, not by the loop, so the status never shows a finished
		// run without its successor's time. Counted from the run's start,
		// so the schedule does not drift by each run's duration; a run
		// longer than the interval is followed at once.
		next := rep.StartedAt.Add(r.interval + r.randomJitter())
		r.setNextLocked(&next)
	}
	r.lastRun = &rep
	if rep.Result == controlapi.ResultSuccess {
		t := rep.FinishedAt
		r.lastSuccess = &t
	}
	r.history = append([]controlapi.RunReport{rep}, r.history...)
	if len(r.history) > HistorySize {
		r.history = r.history[:HistorySize]
	}
	r.mu.Unlock()
	r.recheckSource()
	r.metrics.Reported(r.name, r.typ, rep)
	deliver(run.waiters, rep)
}

// recheckSource refreshes the job's problem: at start, so that a restore
// job that never runs on its own still shows that it could not, and after
// every run, so that a fixed token clears it.
func (r *runner) recheckSource() {
	if r.checkSource == nil {
		return
	}
	problem := ""
	if err := r.checkSource(); err != nil {
		problem = err.Error()
	}
	r.metrics.SourceReady(r.name, problem == "")
	r.mu.Lock()
	r.problem = problem
	r.mu.Unlock()
}

// refreshStaleStore re-reads the store summary if it is stale; concurrent
// callers do not pile up on the directory listing.
func (r *runner) refreshStaleStore() {
	if r.refreshStore == nil {
		return
	}
	r.mu.Lock()
	stale := time.Since(r.storeAt) > storeStaleAfter
	r.mu.Unlock()
	if stale && r.refreshing.CompareAndSwap(false, true) {
		defer r.refreshing.Store(false)
		r.refreshStore()
	}
}

// setPruning and setStore record summaries shown in the status.
func (r *runner) setPruning(p *controlapi.PruneSummary) {
	r.mu.Lock()
	r.pruning = p
	r.mu.Unlock()
}

func (r *runner) setStore(s *controlapi.StoreSummary) {
	r.mu.Lock()
	r.store = s
	r.storeAt = time.Now()
	r.mu.Unlock()
}

// setStores records the summaries of a job's several stores.
func (r *runner) setStores(s []controlapi.StoreSummary) {
	r.mu.Lock()
	r.stores = s
	r.storeAt = time.Now()
	r.mu.Unlock()
}

// Status returns a copy of the job's status.
func (r *runner) Status() controlapi.JobStatus { return r.status(true) }

// Summary returns the job's status without its history and pruning
// decisions: small and the same size whatever the job has done, for the
// default /status answer.
func (r *runner) Summary() controlapi.JobStatus { return r.status(false) }

func (r *runner) status(full bool) controlapi.JobStatus {
	r.refreshStaleStore()
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := controlapi.JobStatus{Name: r.name, Type: r.typ, Source: r.source, Target: r.target, Snapshot: r.snapshot, Problem: r.problem,
		IntervalSeconds: r.interval.Seconds()}
	if full {
		st.History = make([]controlapi.RunReport, len(r.history))
		copy(st.History, r.history)
		for i := range st.History {
			st.History[i].Pruning = pruneCounts(st.History[i].Pruning)
		}
	}
	switch {
	case r.current != nil:
		st.State = controlapi.StateRunning
		st.Current = r.current.progress(now)
	case r.lastRun != nil && r.lastRun.Result == controlapi.ResultFailure:
		st.State = controlapi.StateError
	case r.interval > 0 && r.looping:
		st.State = controlapi.StateWaiting
	default:
		st.State = controlapi.StateIdle
	}
	if r.lastRun != nil {
		last := *r.lastRun
		last.Pruning = pruneCounts(last.Pruning)
		st.LastRun = &last
	}
	if r.lastSuccess != nil {
		t := *r.lastSuccess
		st.LastSuccessAt = &t
	}
	if r.nextRun != nil && r.interval > 0 {
		t := *r.nextRun
		st.NextRunAt = &t
	}
	if r.pending {
		st.PendingSignal = controlapi.OpWakeup
	}
	if r.gate != nil {
		h := r.gate.Status()
		st.HA = &h
	}
	if full {
		st.Pruning = clonePrune(r.pruning)
	} else {
		st.Pruning = pruneCounts(r.pruning)
	}
	if r.store != nil {
		s := *r.store
		if s.NewestAt != nil {
			t := *s.NewestAt
			s.NewestAt = &t
		}
		s.Warnings = slices.Clone(s.Warnings)
		st.Store = &s
	}
	for _, s := range r.stores {
		s.Warnings = slices.Clone(s.Warnings)
		s.Pruning = pruneCounts(s.Pruning)
		st.Stores = append(st.Stores, s)
	}
	return st
}

// pruneCounts is a run's pruning summary for /status: counts and errors,
// without the per-snapshot decisions, which controlapi.JobStatus.Pruning carries for
// the last pass. Repeating them in every history entry made /status grow
// with history size x store size (650 KiB for 100 jobs keeping 3
// snapshots each; megabytes with larger stores).
func pruneCounts(p *controlapi.PruneSummary) *controlapi.PruneSummary {
	if p == nil {
		return nil
	}
	c := *p
	c.Errors = append([]string(nil), p.Errors...)
	c.Decisions = nil
	return &c
}

func clonePrune(p *controlapi.PruneSummary) *controlapi.PruneSummary {
	if p == nil {
		return nil
	}
	c := *p
	c.Errors = append([]string(nil), p.Errors...)
	c.Decisions = make([]controlapi.PruneDecision, len(p.Decisions))
	for i, d := range p.Decisions {
		d.Reasons = append([]string(nil), d.Reasons...)
		c.Decisions[i] = d
	}
	return &c
}

// newRunID is 8 random hex digits: short enough to read in a log line,
// unique enough within one job's history.
func newRunID() string {
	b := make([]byte, 4)
	_, _ = cryptoRead(b)
	return hex.EncodeToString(b)
}

var cryptoRead = crand.Read

// Clock is where a job's time and timers come from: the real clock unless
// a test injects its own (SnapshotOptions.Clock).
type Clock interface {
	Now() time.Time
	// NewTimer returns a channel that receives once d has passed, and a
	// function that stops the timer.
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

// useClock makes c the runner's clock, for its time too unless now is set.
func (r *runner) useClock(c Clock, now func() time.Time) {
	if c == nil {
		return
	}
	r.clock = c
	if now == nil {
		r.now = c.Now
	}
}

func (r *runner) newTimer(d time.Duration) (<-chan time.Time, func() bool) {
	if r.clock != nil {
		return r.clock.NewTimer(d)
	}
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// backoff waits d before run's next attempt, unless the run is canceled or
// the job is asked to stop meanwhile; it reports whether the next attempt
// may start.
func (r *runner) backoff(ctx context.Context, run *activeRun, d time.Duration) bool {
	c, stop := r.newTimer(d)
	defer stop()
	select {
	case <-ctx.Done():
		return false
	case <-run.stopping:
		return false
	case <-c:
		return true
	}
}

// listFailed logs that the store st could not be listed: at ERROR when
// this is new or a different error, at DEBUG when it repeats.
func (r *runner) listFailed(st fmt.Stringer, msg string, err error) {
	prev, seen := r.listErrs.Swap(st.String(), err.Error())
	level := slog.LevelError
	if seen && prev == err.Error() {
		level = slog.LevelDebug
	}
	r.logger.Log(context.Background(), level, msg, "store", st.String(), "err", err)
}

// listed notes that the store st could be listed, saying so once after a
// failure.
func (r *runner) listed(st fmt.Stringer) {
	if _, was := r.listErrs.LoadAndDelete(st.String()); was {
		r.logger.Info("store can be listed again", "store", st.String())
	}
}
