package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/retention"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// ScrubOptions configure NewScrubJob.
type ScrubOptions struct {
	Name string
	// Stores are scrubbed each on its own: every copy of a snapshot is
	// read, not only the one a Union would pick.
	Stores []store.Store
	// Owners are the jobs whose snapshots are read; empty means all.
	Owners []string
	// Sample is how many of each store's snapshots a run reads.
	Sample Sample
	// Interval between runs (required); Jitter adds a random delay.
	Interval, Jitter time.Duration
	// Timeout bounds a whole run (0: none).
	Timeout time.Duration
	Logger  *slog.Logger
	Metrics Metrics
	Now     func() time.Time
}

// Sample is how many snapshots a scrub run reads in a store: all of them,
// a fraction (at least one), or at most a count.
type Sample struct {
	All      bool
	Fraction float64
	Count    int
}

// of is how many of n snapshots the sample reads.
func (s Sample) of(n int) int {
	switch {
	case s.Count > 0:
		return min(s.Count, n)
	case s.Fraction > 0 && n > 0:
		return min(n, max(1, int(math.Ceil(s.Fraction*float64(n)))))
	}
	return n
}

// ScrubMetrics is what a Metrics may also implement to hear what each
// scrub run read.
type ScrubMetrics interface {
	Scrubbed(job string, ok, rotted int)
}

// ScrubJob reads stored snapshots again on its interval and checks each
// against its record (store.Verify): a snapshot whose file no longer
// matches is recorded unverified, with the reason, so that it never counts
// as the last good one again. Those verified longest ago are read first,
// so that a sample reaches every snapshot in turn.
type ScrubJob struct {
	*runner
	opts  ScrubOptions
	owner retention.Owner
}

var _ Job = (*ScrubJob)(nil)

// NewScrubJob checks opts and builds the job.
func NewScrubJob(opts ScrubOptions) (*ScrubJob, error) {
	if err := checkOptions(config.JobScrub, opts.Name,
		optionCheck{len(opts.Stores) == 0 || slices.Contains(opts.Stores, nil), "no store"},
		optionCheck{opts.Interval <= 0, fmt.Sprintf("interval must be positive, got %s", opts.Interval)},
		optionCheck{opts.Jitter < 0 || opts.Timeout < 0, "jitter and timeout must not be negative"},
		optionCheck{opts.Sample.Fraction < 0 || opts.Sample.Fraction > 1 || opts.Sample.Count < 0, "sample out of range"}); err != nil {
		return nil, err
	}
	j := &ScrubJob{opts: opts, owner: retention.OwnedBy(opts.Owners...)}
	j.runner = newStoreJobRunner(opts.Name, config.JobScrub, opts.Logger, opts.Metrics, opts.Now, opts.Interval, opts.Jitter)
	j.execute, j.runner.refreshStore = j.run, j.refreshStore
	return j, nil
}

func (j *ScrubJob) run(ctx context.Context, run *activeRun) error {
	if j.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, j.opts.Timeout)
		defer cancel()
	}
	run.report.Attempts = 1
	run.startAttempt(1, controlapi.PhaseListing, j.now())
	sum := &controlapi.ScrubSummary{}
	run.report.Scrub = sum
	defer j.refreshStore()
	var storeErr, rotErr error
	ok := 0
	for _, st := range j.opts.Stores {
		logger := run.logger.With("store", st.Location())
		entries, _, err := j.list(ctx, st)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			logger.Error("cannot list store to scrub it", "err", err)
			run.report.Warnings = append(run.report.Warnings, fmt.Sprintf("cannot list %s: %v", st.Location(), err))
			storeErr = firstErr(storeErr, &StoreError{Err: err})
			continue
		}
		mine, _ := j.owner.Split(entries)
		sum.Total += len(mine)
		run.setPhase(controlapi.PhaseScrubbing)
		for _, e := range pickForScrub(mine, j.opts.Sample) {
			entry, _, err := store.Verify(ctx, st, e.Name, snapshot.VerifyOptions{}, logger)
			var rotted *store.VerificationError
			switch {
			case err == nil:
				ok++
				sum.Checked++
				sum.Bytes += entry.Size
			case errors.As(err, &rotted), errors.Is(err, store.ErrDamaged):
				// Damaged: the file no longer matches its record at all (a
				// size that differs); the store stops listing it.
				sum.Checked++
				sum.Failed++
				sum.Bytes += e.Size
				sum.Failures = append(sum.Failures, fmt.Sprintf("%s in %s: %v", e.Name, st.Location(), err))
				logger.Error("a stored snapshot no longer matches its record: marked unverified", "snapshot", e.Name, "err", err)
				rotErr = firstErr(rotErr, &store.VerificationError{Name: e.Name, Err: err})
			case ctx.Err() != nil:
				return ctx.Err()
			default:
				// The store could not be read: this store is skipped, the
				// snapshot keeps its verdict (nothing says it rotted).
				logger.Error("cannot read a snapshot to scrub it", "snapshot", e.Name, "err", err)
				run.report.Warnings = append(run.report.Warnings, fmt.Sprintf("cannot read %s from %s: %v", e.Name, st.Location(), err))
				storeErr = firstErr(storeErr, &StoreError{Err: err})
			}
			if err != nil && !errors.As(err, &rotted) && !errors.Is(err, store.ErrDamaged) {
				break
			}
		}
	}
	if m, is := j.metrics.(ScrubMetrics); is {
		m.Scrubbed(j.name, ok, sum.Failed)
	}
	if rotErr != nil {
		return fmt.Errorf("%d of %d snapshots read failed verification and are now marked unverified; first: %w", sum.Failed, sum.Checked, rotErr)
	}
	return storeErr
}

// firstErr keeps the first error.
func firstErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

// pickForScrub is the sample of entries a run reads: those verified
// longest ago first (never-verified ones before all), so that successive
// runs cover the store.
func pickForScrub(entries []store.Entry, sample Sample) []store.Entry {
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b store.Entry) int {
		if c := a.VerifiedAt.Compare(b.VerifiedAt); c != 0 {
			return c
		}
		return store.CompareNewestFirst(b.Position(), a.Position()) // older snapshots first
	})
	return sorted[:sample.of(len(sorted))]
}

// refreshStore records the scrubbed stores' summaries: how many snapshots
// each holds, and how many of them are marked unverified.
func (j *ScrubJob) refreshStore() {
	sums, _ := j.summarizeStores(j.opts.Stores, j.owner)
	j.reportStores(sums)
}
