package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// RetryPolicy says how a failed attempt is retried: Max more attempts,
// waiting Initial, then twice as long each time, at most MaxBackoff (a
// server's Retry-After is honoured when longer).
type RetryPolicy struct {
	Max        int
	Initial    time.Duration
	MaxBackoff time.Duration
}

// maxUncappedBackoff bounds the doubling when no MaxBackoff is set.
const maxUncappedBackoff = time.Hour

// Backoff is the wait before retry number n (1-based).
func (p RetryPolicy) Backoff(n int) time.Duration {
	d := p.Initial
	if d <= 0 {
		d = time.Second
	}
	for i := 1; i < n; i++ {
		d *= 2
		if (p.MaxBackoff > 0 && d >= p.MaxBackoff) || d >= maxUncappedBackoff {
			d = min(d, maxUncappedBackoff)
			break
		}
	}
	if p.MaxBackoff > 0 && d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	return d
}

// SnapshotOptions configure NewSnapshotJob.
type SnapshotOptions struct {
	Name   string
	Source source.Source
	Store  *store.Local
	// Interval between runs (required); Jitter adds a random delay in
	// [0, Jitter) to each scheduled run.
	Interval, Jitter time.Duration
	// Timeout bounds each attempt (0: none).
	Timeout time.Duration
	Retries RetryPolicy
	// Policy prunes this job's own snapshots after each successful run;
	// nil means never prune.
	Policy  Planner
	Logger  *slog.Logger
	Metrics Metrics
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// SnapshotJob takes snapshots from a source into a store on a schedule,
// verifying them while they stream, then prunes.
type SnapshotJob struct {
	*runner
	opts SnapshotOptions
	owns owner
}

var _ Job = (*SnapshotJob)(nil)

// NewSnapshotJob checks opts and builds the job.
func NewSnapshotJob(opts SnapshotOptions) (*SnapshotJob, error) {
	switch {
	case opts.Name == "":
		return nil, errors.New("snapshot job: no name")
	case opts.Source == nil:
		return nil, fmt.Errorf("snapshot job %s: no source", opts.Name)
	case opts.Store == nil:
		return nil, fmt.Errorf("snapshot job %s: no store", opts.Name)
	case opts.Interval <= 0:
		return nil, fmt.Errorf("snapshot job %s: interval must be positive, got %s", opts.Name, opts.Interval)
	case opts.Jitter < 0 || opts.Timeout < 0:
		return nil, fmt.Errorf("snapshot job %s: jitter and timeout must not be negative", opts.Name)
	case opts.Retries.Max < 0 || opts.Retries.Initial < 0 || opts.Retries.MaxBackoff < 0:
		return nil, fmt.Errorf("snapshot job %s: retries must not be negative", opts.Name)
	}
	j := &SnapshotJob{opts: opts, owns: ownedBy(opts.Name)}
	j.runner = newRunner(opts.Name, "snapshot", opts.Logger, opts.Metrics, opts.Now)
	j.interval, j.jitter = opts.Interval, opts.Jitter
	j.execute = j.run
	j.runner.refreshStore = func() { j.refreshStore() }
	j.firstRun = j.catchUp
	return j, nil
}

// catchUp runs at once when this job's newest snapshot is older than the
// interval (or there is none); otherwise the next run is due one interval
// after the newest snapshot.
func (j *SnapshotJob) catchUp(context.Context) (bool, time.Time) {
	sum := j.refreshStore()
	if sum == nil || sum.NewestAt == nil {
		return true, time.Time{}
	}
	due := sum.NewestAt.Add(j.interval)
	if !j.now().Before(due) {
		return true, time.Time{}
	}
	return false, due.Add(j.randomJitter())
}

func (j *SnapshotJob) refreshStore() *StoreSummary {
	sum, _, _, err := storeSummary(j.opts.Store, j.owns)
	if err != nil {
		j.logger.Error("cannot list store", "err", err)
		return nil
	}
	j.setStore(sum)
	j.metrics.StoreStats(j.name, sum.Snapshots, sum.TotalBytes)
	return sum
}

func (j *SnapshotJob) run(ctx context.Context, run *activeRun) error {
	var err error
	var entry store.Entry
	for attempt := 1; ; attempt++ {
		run.report.Attempts = attempt
		entry, err = j.attempt(ctx, run, attempt)
		if err == nil || ctx.Err() != nil || attempt > j.opts.Retries.Max || !retryable(err) {
			break
		}
		wait := max(j.opts.Retries.Backoff(attempt), retryAfter(err))
		run.logger.Warn("attempt failed; retrying", "attempt", attempt, "err", err, "reason", FailureReason(err), "backoff", wait)
		run.setPhase(PhaseBackoff)
		if !sleepCtx(ctx, wait) {
			break
		}
	}
	if err != nil {
		j.refreshStore()
		return err
	}
	run.report.Snapshot, run.report.Bytes = entry.Name, entry.Size
	run.report.Index, run.report.Term = entry.Index, entry.Term

	if !isNilPlanner(j.opts.Policy) {
		run.setPhase(PhasePruning)
		sum, perr := pruneStore(ctx, j.opts.Store, j.opts.Policy, j.owns, j.now(), run.logger)
		if sum != nil {
			run.report.Pruning = sum
			j.setPruning(sum)
			j.metrics.Pruned(j.name, sum.Destroyed)
		}
		if perr != nil {
			// The snapshot is safe; the failed pruning is reported in the
			// summary and the log, and does not fail the run.
			run.logger.Error("pruning after snapshot failed", "err", perr)
		}
	}
	j.refreshStore()
	return nil
}

// attempt downloads one snapshot into the store, verifying it on the way.
func (j *SnapshotJob) attempt(ctx context.Context, run *activeRun, n int) (store.Entry, error) {
	started := j.now()
	run.startAttempt(n, PhaseConnecting, started)
	if j.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, j.opts.Timeout)
		defer cancel()
	}
	pending, err := j.opts.Store.Create(j.name)
	if err != nil {
		return store.Entry{}, &StoreError{Err: err}
	}
	defer pending.Abort()

	verifier := snapshot.NewVerifier(j.opts.Source.VerifyOptions())
	res, saveErr := j.opts.Source.Save(ctx, io.MultiWriter(storeWriter{pending}, verifier, countingWriter{run}))
	if saveErr != nil {
		verifier.Abort()
	}
	report, verifyErr := verifier.Close()
	switch {
	case saveErr != nil:
		// A cut download is also a truncated archive: the download error
		// is the cause. Verification errors surfacing through the writer
		// keep their *snapshot.Error for classification.
		if j.opts.Timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return store.Entry{}, &TimeoutError{Timeout: j.opts.Timeout, Err: saveErr}
		}
		return store.Entry{}, saveErr
	case verifyErr != nil:
		return store.Entry{}, fmt.Errorf("snapshot from %s failed verification, not stored: %w", j.opts.Source, verifyErr)
	}
	run.setPhase(PhaseCommitting)
	now := j.now()
	entry, err := pending.Commit(store.Entry{
		Source:     j.opts.Source.String(),
		CreatedAt:  started,
		Size:       report.ArchiveBytes,
		SHA256:     report.ArchiveSHA256,
		Index:      report.Meta.Index,
		Term:       report.Meta.Term,
		RaftID:     report.Meta.ID,
		Headers:    res.Headers,
		Verified:   true,
		VerifiedAt: now,
		Sealed:     report.Sealed,
	})
	if err != nil {
		return store.Entry{}, &StoreError{Err: err}
	}
	run.logger.Info("snapshot stored", "snapshot", entry.Name, "bytes", entry.Size, "index", entry.Index, "term", entry.Term, "sha256", entry.SHA256)
	return entry, nil
}

// storeWriter marks write errors as the store's, so ENOSPC is told apart
// from the source's failures.
type storeWriter struct{ p *store.Pending }

func (w storeWriter) Write(b []byte) (int, error) {
	n, err := w.p.Write(b)
	if err != nil {
		return n, &StoreError{Err: err}
	}
	return n, nil
}
