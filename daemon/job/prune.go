package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"

	"github.com/raftsnap/raftsnap/daemon/pruning"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/atomicfile"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// Planner is the retention engine: *pruning.Policy implements it. A nil
// Planner (or a nil *pruning.Policy) means "never prune".
type Planner interface {
	Plan(snaps []pruning.Snapshot, now time.Time) []pruning.Decision
}

func isNilPlanner(p Planner) bool {
	if p == nil {
		return true
	}
	v := reflect.ValueOf(p)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// Reasons the job adds to the engine's, for decisions it overrides.
const (
	reasonNoDecision   = "no decision from the policy (kept)"
	reasonGuardNewest  = "newest verified (never destroyed)"
	reasonDeleteFailed = "delete failed"
)

// owner decides which store entries a job may prune.
type owner func(store.Entry) bool

func ownedBy(jobs ...string) owner {
	if len(jobs) == 0 {
		return func(store.Entry) bool { return true }
	}
	return func(e store.Entry) bool { return slices.Contains(jobs, e.Job) }
}

// storeSummary lists st and summarises the entries owns accepts.
func storeSummary(st store.Store, owns owner) (*controlapi.StoreSummary, []store.Entry, []store.Foreign, error) {
	entries, foreign, err := st.List(context.Background())
	if err != nil {
		return nil, nil, nil, &StoreError{Err: err}
	}
	var mine []store.Entry
	for _, e := range entries {
		if owns(e) {
			mine = append(mine, e)
		}
	}
	sum := &controlapi.StoreSummary{Path: st.Location()}
	var newest *store.Entry
	sum.Snapshots, sum.TotalBytes, newest = store.Summary(mine)
	if newest != nil {
		t := newest.CreatedAt
		sum.Newest, sum.NewestAt = newest.Name, &t
	}
	return sum, mine, foreign, nil
}

// pruneStore applies planner to the entries of st that owns accepts. Other
// entries, foreign files and untrusted ones are counted as foreign and never
// touched. Whatever the planner says, the newest verified owned entry is
// kept and entries it gave no decision for are kept. Deletion failures are
// recorded in the summary's Errors and do not stop the pass.
//
// Before destroying anything, the entry that guard protects (the newest
// verified) is verified again, unless it is justVerified (the snapshot the
// calling run has just written and verified): its sidecar may say
// "verified" about a file that rotted since, and trusting it would let the
// policy destroy the older snapshot that is the real last good one.
func pruneStore(ctx context.Context, st store.Store, planner Planner, owns owner, now time.Time, justVerified string, logger *slog.Logger) (*controlapi.PruneSummary, error) {
	entries, foreign, err := st.List(ctx)
	if err != nil {
		return nil, &StoreError{Err: err}
	}
	sum := &controlapi.PruneSummary{At: now, Foreign: len(foreign)}
	for _, f := range foreign {
		// Files of ours that cannot be trusted (a corrupt sidecar, a size
		// mismatch) need the operator: say which and why, not just a count.
		if f.Problem != "" && !strings.HasSuffix(f.Name, atomicfile.TempSuffix) {
			logger.Warn("pruning: ignoring a store file that cannot be trusted", "file", f.Name, "problem", f.Problem)
		}
	}
	var (
		mine  []store.Entry
		snaps []pruning.Snapshot
	)
	for _, e := range entries {
		if !owns(e) {
			sum.Foreign++
			continue
		}
		mine = append(mine, e)
		snaps = append(snaps, pruning.Snapshot{Name: e.Name, Created: e.CreatedAt, Index: e.Index, Term: e.Term, Verified: e.Verified, Size: e.Size})
	}
	if len(mine) == 0 {
		return sum, nil
	}
	guard := newestVerified(mine, now)
	decided := map[string]pruning.Decision{}
	for _, d := range planner.Plan(snaps, now) {
		if _, dup := decided[d.Snapshot.Name]; !dup {
			decided[d.Snapshot.Name] = d
		}
	}
	if guard != "" && guard != justVerified && destroysAny(mine, decided, guard) {
		if _, _, err := store.Verify(ctx, st, guard, snapshot.VerifyOptions{}, logger); err != nil {
			var bad *store.VerificationError
			if !errors.As(err, &bad) {
				return sum, &StoreError{Err: fmt.Errorf("pruning stopped, nothing destroyed: cannot re-verify the newest verified snapshot %s: %w", guard, err)}
			}
			logger.Error("pruning: the newest verified snapshot fails verification now; nothing destroyed in this pass",
				"snapshot", guard, "err", bad.Err)
			sum.Errors = append(sum.Errors, fmt.Sprintf("%s: fails verification now (%v); marked unverified, nothing destroyed", guard, bad.Err))
			return sum, &StoreError{Err: fmt.Errorf("pruning stopped, nothing destroyed: the newest verified snapshot %s fails verification now (%v); it is marked unverified, and the next pass protects the newest snapshot that verifies", guard, bad.Err)}
		}
	}
	for _, e := range mine { // newest first
		d, ok := decided[e.Name]
		pd := controlapi.PruneDecision{Snapshot: e.Name, Keep: true, Reasons: slices.Clone(d.Reasons)}
		switch {
		case !ok:
			pd.Reasons = []string{reasonNoDecision}
		case d.Keep:
		case e.Name == guard:
			logger.Error("pruning policy chose to destroy the newest verified snapshot; kept", "snapshot", e.Name, "reasons", d.Reasons)
			pd.Reasons = append(pd.Reasons, reasonGuardNewest)
		default:
			if err := ctx.Err(); err != nil {
				return sum, err
			}
			if err := st.Delete(ctx, e.Name); err != nil {
				logger.Error("pruning: cannot destroy snapshot", "snapshot", e.Name, "err", err)
				sum.Errors = append(sum.Errors, fmt.Sprintf("%s: %v", e.Name, err))
				pd.Reasons = append(pd.Reasons, reasonDeleteFailed)
				break
			}
			logger.Info("pruning: destroyed snapshot", "snapshot", e.Name, "created_at", e.CreatedAt, "index", e.Index, "reasons", d.Reasons)
			pd.Keep = false
		}
		if pd.Keep {
			sum.Kept++
		} else {
			sum.Destroyed++
		}
		sum.Decisions = append(sum.Decisions, pd)
	}
	if len(sum.Errors) > 0 {
		return sum, &StoreError{Err: errors.New("pruning could not destroy " + fmt.Sprint(len(sum.Errors)) + " snapshot(s); see the pruning errors")}
	}
	return sum, nil
}

// destroysAny tells whether the plan destroys an entry other than guard.
func destroysAny(mine []store.Entry, decided map[string]pruning.Decision, guard string) bool {
	for _, e := range mine {
		if d, ok := decided[e.Name]; ok && !d.Keep && e.Name != guard {
			return true
		}
	}
	return false
}

// newestVerified names the newest verified entry not dated in the future,
// or else the newest verified one at all.
func newestVerified(newestFirst []store.Entry, now time.Time) string {
	fallback := ""
	for _, e := range newestFirst {
		if !e.Verified {
			continue
		}
		if !e.CreatedAt.After(now) {
			return e.Name
		}
		if fallback == "" {
			fallback = e.Name
		}
	}
	return fallback
}

// PruneOptions configure NewPruneJob.
type PruneOptions struct {
	Name     string
	Store    store.Store
	Interval time.Duration
	Jitter   time.Duration
	// Policy decides; required (a prune job without one would do nothing).
	Policy Planner
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
	opts PruneOptions
	owns owner
}

var _ Job = (*PruneJob)(nil)

// NewPruneJob checks opts and builds the job.
func NewPruneJob(opts PruneOptions) (*PruneJob, error) {
	switch {
	case opts.Name == "":
		return nil, errors.New("prune job: no name")
	case opts.Store == nil:
		return nil, fmt.Errorf("prune job %s: no store", opts.Name)
	case isNilPlanner(opts.Policy):
		return nil, fmt.Errorf("prune job %s: no pruning policy", opts.Name)
	case opts.Interval <= 0:
		return nil, fmt.Errorf("prune job %s: interval must be positive, got %s", opts.Name, opts.Interval)
	case opts.Jitter < 0:
		return nil, fmt.Errorf("prune job %s: jitter must not be negative", opts.Name)
	}
	j := &PruneJob{opts: opts, owns: ownedBy(opts.Owners...)}
	j.runner = newRunner(opts.Name, config.JobPrune, opts.Logger, opts.Metrics, opts.Now)
	j.interval, j.jitter = opts.Interval, opts.Jitter
	j.execute = j.run
	j.runner.refreshStore = j.refreshStore
	j.firstRun = func(context.Context) (bool, time.Time) {
		j.refreshStore()
		return false, time.Time{}
	}
	return j, nil
}

func (j *PruneJob) run(ctx context.Context, run *activeRun) error {
	run.startAttempt(1, controlapi.PhasePruning, j.now())
	run.report.Attempts = 1
	sum, err := pruneStore(ctx, j.opts.Store, j.opts.Policy, j.owns, j.now(), "", run.logger)
	if sum != nil {
		run.report.Pruning = sum
		j.setPruning(sum)
		j.metrics.Pruned(j.name, sum.Destroyed)
	}
	j.refreshStore()
	return err
}

func (j *PruneJob) refreshStore() {
	if sum, _, _, err := storeSummary(j.opts.Store, j.owns); err == nil {
		j.setStore(sum)
		j.metrics.StoreStats(j.name, sum.Snapshots, sum.TotalBytes)
	} else {
		j.logger.Error("cannot list store", "err", err)
	}
}
