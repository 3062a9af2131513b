package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot/retention"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// isNilPlanner tells a missing policy ("never prune") from a real one; a
// nil *retention.Policy in the interface counts as missing.
func isNilPlanner(p retention.Planner) bool {
	if p == nil {
		return true
	}
	v := reflect.ValueOf(p)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// storeSummary lists st and summarises the entries owner owns, newest
// first. A newest snapshot dated after now is reported in the summary's
// warnings: its date is not trusted.
func (r *runner) storeSummary(st store.Store, owner retention.Owner) (*controlapi.StoreSummary, []store.Entry, error) {
	entries, _, err := r.list(context.Background(), st)
	if err != nil {
		return nil, nil, &StoreError{Err: err}
	}
	mine, _ := owner.Split(entries)
	return summarize(st.Location(), mine, r.now()), mine, nil
}

// list lists st, and tells the metrics what the store holds (all of it,
// whatever job owns it).
func (r *runner) list(ctx context.Context, st store.Store) ([]store.Entry, []store.Foreign, error) {
	entries, foreign, err := st.List(ctx)
	if m, ok := r.metrics.(StoreMetrics); ok && ctx.Err() == nil {
		m.StoreListed(st.Location(), entries, err)
	}
	return entries, foreign, err
}

// futureDated says that snapshot name is dated ahead of the clock.
func futureDated(name string, ahead time.Duration) string {
	return fmt.Sprintf("the newest snapshot %s is dated %s in the future (a clock was wrong when it was taken); its date is not trusted: scheduling and retention windows ignore it",
		name, ahead.Round(time.Second))
}

// prune runs the retention pass over the job's store and records its
// summary; errors other than the run's cancellation are the store's.
func (r *runner) prune(ctx context.Context, run *activeRun, st store.Store, planner retention.Planner, opts retention.PassOptions) error {
	opts.Logger = run.logger
	res, err := retention.Prune(ctx, st, planner, opts)
	if res != nil {
		sum := pruneSummary(res, opts.Now)
		run.report.Pruning = sum
		r.setPruning(sum)
		r.metrics.Pruned(r.name, sum.Destroyed, sum.Foreign)
	}
	if err != nil && !(ctx.Err() != nil && errors.Is(err, ctx.Err())) {
		err = &StoreError{Err: err}
	}
	return err
}

// pruneSummary is a pass's result as /status reports it.
func pruneSummary(res *retention.Result, at time.Time) *controlapi.PruneSummary {
	sum := &controlapi.PruneSummary{At: at, Foreign: res.Foreign, OtherJobs: len(res.Ignored) - res.Foreign, Errors: res.Errors}
	sum.Kept, sum.Destroyed = res.Counts()
	for _, d := range res.Decisions {
		sum.Decisions = append(sum.Decisions, controlapi.PruneDecision{Snapshot: d.Name, Keep: d.Keep, Reasons: d.Reasons})
	}
	return sum
}

// PruneOptions configure NewPruneJob.
type PruneOptions struct {
	Name     string
	Store    store.Store
	Interval time.Duration
	Jitter   time.Duration
	// Policy decides; required (a prune job without one would do nothing).
	Policy retention.Planner
	// Owners are the jobs whose snapshots this job prunes; empty means
	// every entry with a sidecar.
	Owners  []string
	Logger  *slog.Logger
	Metrics Metrics
	Now     func() time.Time
}

// PruneJob applies a retention policy to a store on its interval and on
// wakeup.
type PruneJob struct {
	*runner
	opts  PruneOptions
	owner retention.Owner
}

var _ Job = (*PruneJob)(nil)

// NewPruneJob checks opts and builds the job.
func NewPruneJob(opts PruneOptions) (*PruneJob, error) {
	if err := checkOptions(config.JobPrune, opts.Name,
		optionCheck{opts.Store == nil, "no store"},
		optionCheck{isNilPlanner(opts.Policy), "no pruning policy"},
		optionCheck{opts.Interval <= 0, fmt.Sprintf("interval must be positive, got %s", opts.Interval)},
		optionCheck{opts.Jitter < 0, "jitter must not be negative"}); err != nil {
		return nil, err
	}
	j := &PruneJob{opts: opts, owner: retention.OwnedBy(opts.Owners...)}
	j.runner = newStoreJobRunner(opts.Name, config.JobPrune, opts.Logger, opts.Metrics, opts.Now, opts.Interval, opts.Jitter)
	j.execute, j.runner.refreshStore = j.run, j.refreshStore
	return j, nil
}

// newStoreJobRunner is the runner of a job that works on stores on its
// interval (prune and scrub jobs) or only when woken up (restore jobs, no
// interval): at start it only reads its stores' summaries (refreshStore),
// and first runs one interval later.
func newStoreJobRunner(name, typ string, logger *slog.Logger, metrics Metrics, now func() time.Time, interval, jitter time.Duration) *runner {
	r := newRunner(name, typ, logger, metrics, now)
	r.interval, r.jitter = interval, jitter
	r.firstRun = func(context.Context) (bool, time.Time) {
		r.refreshStore()
		return false, time.Time{}
	}
	return r
}

func (j *PruneJob) run(ctx context.Context, run *activeRun) error {
	run.startAttempt(1, controlapi.PhasePruning, j.now())
	run.report.Attempts = 1
	err := j.prune(ctx, run, j.opts.Store, j.opts.Policy, retention.PassOptions{Owner: j.owner, Now: j.now()})
	// What interrupted writes of its owners left (an object store's
	// incomplete uploads, archives without manifest), once stale.
	j.cleanStore(ctx, j.opts.Store, j.opts.Owners)
	j.refreshStore()
	return err
}

func (j *PruneJob) refreshStore() {
	j.refreshJobStore(j.opts.Store, j.owner)
}
