package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/daemon/drill"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/retention"
	"github.com/raftsnap/raftsnap/snapshot/statebin"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// DrillOptions configure NewDrillJob.
type DrillOptions struct {
	Name  string
	Store store.Store
	// FromJob, when set, limits the drill to the snapshots that job wrote.
	FromJob string
	// Binary is the consul or nomad binary the throwaway server runs.
	Binary string
	// Interval 0 means only on wakeup.
	Interval, Jitter time.Duration
	// Timeout bounds a whole drill: start, restore, checks (0: none).
	Timeout time.Duration
	// TempDir is where throwaway servers keep their data ("": $TMPDIR or
	// /tmp).
	TempDir string
	// StartTimeout bounds the wait for the server to lead (0:
	// drill.DefaultStartTimeout).
	StartTimeout time.Duration
	// UserAgent is sent to the throwaway server.
	UserAgent string
	Logger    *slog.Logger
	Metrics   Metrics
	Now       func() time.Time
}

// DrillMetrics is what a Metrics may also implement to hear of drills.
type DrillMetrics interface {
	// DrillFinished counts a drill by outcome: controlapi.DrillOK,
	// DrillFailed, DrillError or DrillCanceled.
	DrillFinished(job, outcome string)
	// LastDrill is the job's last conclusive drill (ok or failed), also
	// as read back from the store's records when the job starts.
	LastDrill(job string, ok bool, at time.Time, lastOK *time.Time)
}

// DrillError is a drill that did not prove its snapshot restorable.
// Outcome is controlapi.DrillFailed (the snapshot did not restore as its
// archive says) or controlapi.DrillError (the drill could not run).
type DrillError struct {
	Outcome string
	Err     error
}

func (e *DrillError) Error() string { return e.Err.Error() }
func (e *DrillError) Unwrap() error { return e.Err }

// DrillJob restores the newest verified snapshot of a store into a
// throwaway server and checks what the server reports against the
// archive, on its interval (if any) and on wakeup.
type DrillJob struct {
	*runner
	opts  DrillOptions
	owner retention.Owner

	lastDrill *controlapi.DrillOutcome // guarded by runner.mu
}

var _ Job = (*DrillJob)(nil)

// NewDrillJob checks opts and builds the job.
func NewDrillJob(opts DrillOptions) (*DrillJob, error) {
	if err := checkOptions(config.JobDrill, opts.Name,
		optionCheck{opts.Store == nil, "no store"},
		optionCheck{opts.Binary == "", "no binary"},
		optionCheck{opts.Interval < 0 || opts.Jitter < 0 || opts.Timeout < 0, "interval, jitter and timeout must not be negative"}); err != nil {
		return nil, err
	}
	j := &DrillJob{opts: opts, owner: ownerFromJob(opts.FromJob)}
	j.runner = newRunner(opts.Name, config.JobDrill, opts.Logger, opts.Metrics, opts.Now)
	j.interval, j.jitter = opts.Interval, opts.Jitter
	// A drill loses nothing by stopping: on shutdown its server goes at
	// once rather than after the shutdown grace.
	j.cancelOnStop = true
	j.target = "throwaway server from " + opts.Binary
	// A binary that is not there shows in the status and metrics at once,
	// not only when a drill fails on it.
	j.checkSource = func() error { return drill.CheckBinary(opts.Binary) }
	j.execute = j.run
	j.runner.refreshStore = func() { j.refreshStore() }
	j.firstRun = j.catchUp
	return j, nil
}

// Status adds the last drill to the runner's status.
func (j *DrillJob) Status() controlapi.JobStatus {
	st := j.runner.Status()
	j.mu.Lock()
	if j.lastDrill != nil {
		d := *j.lastDrill
		st.LastDrill = &d
	}
	j.mu.Unlock()
	return st
}

func (j *DrillJob) drillMetrics() DrillMetrics {
	m, _ := j.metrics.(DrillMetrics)
	return m
}

// catchUp reads the job's last drills back from the store's records, and
// drills at once when the last one is older than the interval and there
// is something to drill; otherwise the first drill is an interval away.
func (j *DrillJob) catchUp(context.Context) (bool, time.Time) {
	entries := j.refreshStore()
	var last, lastOK *store.DrillRecord
	lastName := ""
	for i := range entries {
		d := entries[i].Drill
		if d == nil || d.Job != j.name {
			continue
		}
		if last == nil || d.At.After(last.At) {
			last, lastName = d, entries[i].Name
		}
		if d.Result == store.DrillOK && (lastOK == nil || d.At.After(lastOK.At)) {
			lastOK = d
		}
	}
	if last != nil {
		j.setLastDrill(lastName, *last, lastOK)
	}
	if lastOK != nil {
		j.recoverLastSuccess(lastOK.At)
	}
	if j.interval <= 0 {
		return false, time.Time{}
	}
	now := j.now()
	if last != nil && now.Sub(last.At) < j.interval {
		return false, last.At.Add(j.interval)
	}
	if _, ok := retention.NewestVerified(retention.FromEntries(entries), now); ok {
		return true, time.Time{}
	}
	return false, time.Time{}
}

func (j *DrillJob) setLastDrill(name string, d store.DrillRecord, lastOK *store.DrillRecord) {
	out := &controlapi.DrillOutcome{Snapshot: name, Result: d.Result, At: d.At, Reason: d.Reason, Index: d.Index, Server: d.Server,
		DurationSeconds: d.Duration}
	j.mu.Lock()
	j.lastDrill = out
	j.mu.Unlock()
	if m := j.drillMetrics(); m != nil {
		var okAt *time.Time
		if lastOK != nil {
			t := lastOK.At
			okAt = &t
		}
		m.LastDrill(j.name, d.Result == store.DrillOK, d.At, okAt)
	}
}

func (j *DrillJob) refreshStore() []store.Entry {
	return j.refreshJobStore(j.opts.Store, j.owner)
}

// run is one drill: pick, verify (decoding the state's record counts in
// the same pass), start the server, restore, check, stop and remove the
// server, record the outcome with the snapshot.
func (j *DrillJob) run(ctx context.Context, run *activeRun) (err error) {
	runCtx := ctx
	started := j.now()
	rep := &controlapi.DrillReport{Outcome: controlapi.DrillError}
	run.report.Drill = rep
	run.report.Attempts = 1
	defer func() {
		outcome := rep.Outcome
		if err != nil && runCtx.Err() != nil {
			outcome = controlapi.DrillCanceled
			rep.Outcome = outcome
		}
		if m := j.drillMetrics(); m != nil {
			m.DrillFinished(j.name, outcome)
		}
	}()
	if j.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, j.opts.Timeout)
		defer cancel()
	}
	fail := func(outcome string, err error) error {
		rep.Outcome = outcome
		if j.opts.Timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) && runCtx.Err() == nil {
			err = &TimeoutError{Timeout: j.opts.Timeout, Err: err}
		}
		return &DrillError{Outcome: outcome, Err: err}
	}

	run.startAttempt(1, controlapi.PhaseListing, j.now())
	name, err := j.pick()
	if err != nil {
		return err // nothing to drill: reason other (or store_io)
	}
	run.report.Snapshot = name

	// The archive is verified completely, its state's records counted in
	// the same pass, before the server is even started. The restore below
	// reads it again through store.Send, which verifies it once more as it
	// sends and cuts the upload if it changed since: a drill spends a
	// second read to learn the flavour and the counts before it starts a
	// server. An encrypted store's snapshot is decrypted as it is read
	// (the job's identity_file, through its agecrypt store).
	run.setPhase(controlapi.PhaseVerifying)
	state := statebin.NewWriter(statebin.Auto)
	entry, report, err := store.Verify(ctx, j.opts.Store, name, snapshot.VerifyOptions{State: state}, run.logger)
	stateErr := state.Close()
	if err != nil {
		var verr *store.VerificationError
		if errors.As(err, &verr) {
			// The record already says unverified; the drill says why too.
			failErr := fmt.Errorf("drill of %s failed: %w", name, err)
			j.record(ctx, run, name, store.DrillRecord{Result: store.DrillFailed, Reason: err.Error()}, started)
			return fail(controlapi.DrillFailed, failErr)
		}
		return fail(controlapi.DrillError, &StoreError{Err: err})
	}
	run.report.Bytes, run.report.Index, run.report.Term = entry.Size, report.Meta.Index, report.Meta.Term
	exp := drill.Expect{Index: report.Meta.Index, State: state.Summary()}
	if stateErr != nil {
		exp.StateError = stateErr.Error()
	}
	if report.Sealed {
		return fail(controlapi.DrillError, fmt.Errorf("%s is a Vault snapshot, which cannot be drilled yet (a throwaway Vault needs the source cluster's unseal keys; see docs/drills.md)", name))
	}

	run.setPhase(controlapi.PhaseStartingServer)
	bin, err := drill.Probe(ctx, j.opts.Binary)
	if err != nil {
		return fail(controlapi.DrillError, fmt.Errorf("cannot drill %s: %w", name, err))
	}
	rep.Server = bin.String()
	if exp.State != nil && string(exp.State.Flavor) != bin.Kind {
		return fail(controlapi.DrillError, fmt.Errorf("cannot drill %s: it is a %s snapshot (its state.bin says so), and binary %s is %s",
			name, exp.State.Flavor, j.opts.Binary, bin))
	}
	srv, err := drill.Start(ctx, drill.Options{Binary: bin, Job: j.name, TempDir: j.opts.TempDir, StartTimeout: j.opts.StartTimeout,
		UserAgent: j.opts.UserAgent, Logger: run.logger})
	if err != nil {
		return fail(controlapi.DrillError, fmt.Errorf("cannot drill %s: %w", name, err))
	}
	bin = srv.Binary // the version the running server reports
	rep.Server = bin.String()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		if err := srv.Stop(); err != nil {
			run.logger.Error("cannot stop or remove the drill server", "err", err)
			run.report.Warnings = append(run.report.Warnings, "the throwaway server was not cleaned up: "+err.Error())
		}
	}
	defer stop()

	run.startAttempt(1, controlapi.PhaseRestoring, j.now())
	run.setExpected(entry.Size)
	target, err := srv.Target()
	if err != nil {
		return fail(controlapi.DrillError, err)
	}
	run.logger.Info("drilling snapshot", "snapshot", name, "index", report.Meta.Index, "server", bin.String(), "address", srv.Addr)
	_, _, err = store.Send(ctx, j.opts.Store, name, snapshot.SendOptions{}, run.logger, func(archive io.Reader, size int64) error {
		return target.Restore(ctx, io.TeeReader(archive, countingWriter{run}), size)
	})
	if err != nil {
		var verr *store.VerificationError
		if errors.As(err, &verr) {
			// It changed since it verified: the upload was cut short.
			j.record(ctx, run, name, store.DrillRecord{Result: store.DrillFailed, Reason: verr.Error()}, started)
			return fail(controlapi.DrillFailed, fmt.Errorf("drill of %s failed: %w", name, err))
		}
		var rerr *store.ReadError
		if errors.As(err, &rerr) {
			return fail(controlapi.DrillError, &StoreError{Err: err})
		}
		if ctx.Err() != nil {
			return fail(controlapi.DrillError, err)
		}
		reason := fmt.Sprintf("%s refused the snapshot: %v", bin, err)
		if died, ok := srv.Died(2 * time.Second); ok {
			reason += "; " + died
		}
		if unknownRecordTypes(reason) {
			// Not the snapshot's fault: the binary is older than the
			// cluster (or of another edition). Nothing is recorded.
			return fail(controlapi.DrillError, fmt.Errorf("cannot drill %s: %s; the binary does not know some of the snapshot's record types: "+
				"use a binary of the version (and edition) the cluster runs", name, reason))
		}
		j.record(ctx, run, name, store.DrillRecord{Result: store.DrillFailed, Reason: reason, Server: bin.String()}, started)
		return fail(controlapi.DrillFailed, fmt.Errorf("drill of %s failed: %s", name, reason))
	}

	run.setPhase(controlapi.PhaseChecking)
	res, err := srv.Check(ctx, exp)
	if err != nil {
		return fail(controlapi.DrillError, fmt.Errorf("drill of %s: %w", name, err))
	}
	stop()
	rep.RestoredIndex, rep.Checks = res.RestoredIndex, res.Checks
	if len(res.SourceVersions) > 0 {
		rep.SourceVersion = res.SourceVersions[0].Text
	}
	if problem := drill.CheckVersions(bin, res.SourceVersions); problem != "" {
		return fail(controlapi.DrillError, fmt.Errorf("cannot drill %s: %s", name, problem))
	}
	for _, c := range res.Checks {
		if c.Result == controlapi.CheckNotCompared {
			run.report.Warnings = append(run.report.Warnings, fmt.Sprintf("%s not compared: %s", c.Name, c.Note))
		}
	}
	if exp.State == nil {
		run.report.Warnings = append(run.report.Warnings, "record counts not compared: the archive's state.bin does not decode: "+exp.StateError)
	}
	rec := store.DrillRecord{Result: store.DrillOK, Index: res.RestoredIndex, Server: bin.String()}
	if m := res.Mismatches(); m != "" {
		rec.Result, rec.Reason = store.DrillFailed, m
		j.record(ctx, run, name, rec, started)
		return fail(controlapi.DrillFailed, fmt.Errorf("drill of %s failed: %s", name, m))
	}
	rep.Outcome = controlapi.DrillOK
	j.record(ctx, run, name, rec, started)
	run.logger.Info("drill ok: the snapshot restored and the server reports what the archive holds",
		"snapshot", name, "restored_index", res.RestoredIndex, "checks", summarizeChecks(res.Checks))
	return nil
}

// pick returns the newest verified snapshot: the one a restore of
// "latest" sends and pruning protects.
func (j *DrillJob) pick() (string, error) {
	_, entries, err := j.storeSummary(j.opts.Store, j.owner)
	if err != nil {
		return "", err
	}
	latest, err := newestVerified(entries, j.now(), j.opts.FromJob, j.opts.Store, "drill")
	if err != nil {
		return "", err
	}
	return latest.Name, nil
}

// record writes a conclusive outcome into the snapshot's record and the
// job's status and metrics. The record is read again just before, so that
// what changed meanwhile (a re-verification) is kept.
func (j *DrillJob) record(ctx context.Context, run *activeRun, name string, rec store.DrillRecord, started time.Time) {
	now := j.now()
	rec.Job, rec.At, rec.Duration = j.name, now.UTC(), now.Sub(started).Seconds()
	var lastOK *store.DrillRecord
	if rec.Result == store.DrillOK {
		lastOK = &rec
	} else if prev := j.lastOKRecord(); prev != nil {
		lastOK = prev
	}
	j.setLastDrill(name, rec, lastOK)
	// The record is written even when the run's context ended (a
	// timeout during the checks): it must not be lost.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	entry, err := j.opts.Store.Get(wctx, name)
	if err == nil {
		entry.Drill = &rec
		err = j.opts.Store.Update(wctx, entry)
	}
	if err != nil && !errors.Is(err, store.ErrReadOnly) {
		run.logger.Error("cannot record the drill's outcome with the snapshot", "snapshot", name, "err", err)
		run.report.Warnings = append(run.report.Warnings, "the outcome could not be recorded with the snapshot: "+err.Error())
	}
	j.refreshStore()
}

// lastOKRecord is the job's last ok drill, from its status.
func (j *DrillJob) lastOKRecord() *store.DrillRecord {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.lastSuccess == nil {
		return nil
	}
	return &store.DrillRecord{Result: store.DrillOK, At: *j.lastSuccess}
}

// unknownRecordTypes tells whether a restore was refused (or the server
// died of it) for record types the server does not know: Consul's and
// Nomad's FSMs say so in these words.
func unknownRecordTypes(msg string) bool {
	return strings.Contains(msg, "Unrecognized msg type") || strings.Contains(msg, "Unrecognized snapshot type") ||
		strings.Contains(msg, "Consul CE cannot restore it")
}

func summarizeChecks(checks []controlapi.DrillCheck) string {
	parts := make([]string, 0, len(checks))
	for _, c := range checks {
		parts = append(parts, fmt.Sprintf("%s %d/%d %s", c.Name, c.Server, c.Archive, c.Result))
	}
	return strings.Join(parts, ", ")
}
