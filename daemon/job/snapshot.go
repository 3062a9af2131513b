package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/retention"
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
	// Store is the job's store, when it has one; Stores lists them when it
	// keeps its snapshots in several (Store is then ignored).
	Store  store.Store
	Stores []JobStore
	// Interval between runs (required); Jitter adds a random delay in
	// [0, Jitter) to each scheduled run.
	Interval, Jitter time.Duration
	// Timeout bounds each attempt (0: none).
	Timeout time.Duration
	Retries RetryPolicy
	// Policy prunes this job's own snapshots after each successful run;
	// nil means never prune.
	Policy  retention.Planner
	Logger  *slog.Logger
	Metrics Metrics
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Clock, when set, gives the job its timers (schedule, retry backoff)
	// and, unless Now is set, its time: tests inject a fake clock.
	Clock Clock
	// OnClusterChange is what to do with a snapshot whose raft servers
	// share none with the job's previous snapshot's: ClusterChangeFail
	// ("" too: not stored, the run fails) or ClusterChangeWarn (stored, the
	// run report carries a warning).
	OnClusterChange string
	// Hooks run before and after each snapshot (see hooks.go).
	Hooks []Hook
}

// OnClusterChange values.
const (
	ClusterChangeFail = "fail"
	ClusterChangeWarn = "warn"
)

// ClusterChangedError is a snapshot refused because it comes from another
// cluster than the job's previous snapshots.
type ClusterChangedError struct {
	Source   string
	Servers  []string // raft server IDs of the refused snapshot
	Previous []string // raft server IDs of the job's newest snapshot
	// PreviousSnapshot names that newest snapshot.
	PreviousSnapshot string
}

func (e *ClusterChangedError) Error() string {
	return fmt.Sprintf("snapshot from %s comes from a different cluster (raft servers %s) than this job's previous snapshot %s (raft servers %s); not stored. "+
		"If the cluster was replaced on purpose, set on_cluster_change: warn for one run, or give the job a new name",
		e.Source, strings.Join(e.Servers, ", "), e.PreviousSnapshot, strings.Join(e.Previous, ", "))
}

// SnapshotJob takes snapshots from a source into its stores on a
// schedule, verifying them while they stream, then prunes each store and
// copies into a store the snapshots it missed.
type SnapshotJob struct {
	*runner
	opts   SnapshotOptions
	owner  retention.Owner
	stores []JobStore
	health []*storeHealth // one per store
	// view reads the job's snapshots across its stores.
	view store.Store
}

var _ Job = (*SnapshotJob)(nil)

// NewSnapshotJob checks opts and builds the job.
func NewSnapshotJob(opts SnapshotOptions) (*SnapshotJob, error) {
	if err := checkOptions(config.JobSnapshot, opts.Name,
		optionCheck{opts.Source == nil, "no source"},
		optionCheck{opts.Store == nil && len(opts.Stores) == 0, "no store"},
		optionCheck{opts.Interval <= 0, fmt.Sprintf("interval must be positive, got %s", opts.Interval)},
		optionCheck{opts.Jitter < 0 || opts.Timeout < 0, "jitter and timeout must not be negative"},
		optionCheck{opts.Retries.Max < 0 || opts.Retries.Initial < 0 || opts.Retries.MaxBackoff < 0, "retries must not be negative"},
		optionCheck{opts.OnClusterChange != "" && opts.OnClusterChange != ClusterChangeFail && opts.OnClusterChange != ClusterChangeWarn,
			fmt.Sprintf("on_cluster_change must be fail or warn, got %q", opts.OnClusterChange)}); err != nil {
		return nil, err
	}
	// One store is a list of one: nothing below reads opts.Store.
	if len(opts.Stores) == 0 {
		opts.Stores = []JobStore{{Store: opts.Store}}
	}
	opts.Store = nil
	j := &SnapshotJob{opts: opts, owner: retention.OwnedBy(opts.Name), stores: opts.Stores}
	for i, js := range j.stores {
		if js.Store == nil {
			return nil, fmt.Errorf("snapshot job %s: store %d is missing", opts.Name, i+1)
		}
		j.health = append(j.health, &storeHealth{})
	}
	j.view = StoreView(j.stores)
	j.runner = newRunner(opts.Name, config.JobSnapshot, opts.Logger, opts.Metrics, opts.Now)
	j.useClock(opts.Clock, opts.Now)
	j.interval, j.jitter = opts.Interval, opts.Jitter
	j.source = opts.Source.String()
	j.checkSource = sourceCheck(opts.Source)
	j.execute = j.run
	j.runner.refreshStore = func() { j.refreshStore() }
	j.firstRun = j.catchUp
	return j, nil
}

// catchUp runs at once when this job's newest snapshot is older than the
// interval (or there is none); otherwise the next run is due one interval
// after the newest snapshot. A newest snapshot dated in the future is
// reported and its date not trusted: the next run is due one interval
// from now, as if it had just been taken.
func (j *SnapshotJob) catchUp(ctx context.Context) (bool, time.Time) {
	now := j.now()
	// An object store's Clean lists afresh: an agent becoming active (ha)
	// sees the snapshot the previous one stored a moment ago, not a
	// listing it cached while it stood by.
	j.cleanStores(ctx)
	sum := j.refreshStore()
	if sum != nil && sum.NewestAt != nil {
		last := *sum.NewestAt
		if ahead := last.Sub(now); ahead > 0 {
			j.logger.Warn("the newest snapshot is dated in the future; scheduling as if it were taken now",
				"snapshot", sum.Newest, "ahead", ahead.Round(time.Second), "created_at", last)
			last = now
		}
		j.recoverLastSuccess(last)
		if due := last.Add(j.interval); now.Before(due) {
			return false, due.Add(j.randomJitter())
		}
	}
	// Catching up. With jitter, the catch-up waits a random part of it too:
	// many jobs on one cluster starting together would otherwise all ask
	// for a snapshot at once (Consul answers such a burst with 500s).
	if delay := j.randomJitter(); delay > 0 {
		j.mu.Lock()
		j.nextTrigger = controlapi.TriggerStartup
		j.mu.Unlock()
		return false, now.Add(delay)
	}
	return true, time.Time{}
}

func (j *SnapshotJob) refreshStore() *controlapi.StoreSummary {
	return j.refreshStores()
}

// run is one run: the pre-snapshot hooks, the snapshot, the post-snapshot
// hooks.
func (j *SnapshotJob) run(ctx context.Context, run *activeRun) error {
	if err := j.runHooks(ctx, run, hookPre, nil); err != nil {
		return err
	}
	err := j.takeSnapshot(ctx, run)
	_ = j.runHooks(ctx, run, hookPost, err)
	return err
}

func (j *SnapshotJob) takeSnapshot(ctx context.Context, run *activeRun) error {
	var err error
	var entry store.Entry
	var results []store.UploadResult
	// stale is set once a consistent attempt failed for lack of a leader
	// and the source allows a stale fallback; that fallback attempt comes
	// at once and on top of the retries (a follower can answer now, and a
	// job with no retries still gets its snapshot).
	stale, extra := false, 0
	fallback, canFallBack := j.opts.Source.(source.StaleFallbackSource)
	canFallBack = canFallBack && fallback.StaleFallback()
	for attempt := 1; ; attempt++ {
		run.report.Attempts = attempt
		entry, results, err = j.attempt(ctx, run, attempt, stale)
		if err == nil || ctx.Err() != nil {
			break
		}
		if canFallBack && !stale && source.IsNoLeader(err) {
			stale, extra = true, 1
			run.logger.Warn("the cluster has no leader; falling back to a stale snapshot", "attempt", attempt, "err", err)
			run.report.Warnings = append(run.report.Warnings, fmt.Sprintf(
				"attempt %d found no leader (%v); fell back to a stale snapshot from a follower (stale_fallback)", attempt, err))
			continue
		}
		if attempt > j.opts.Retries.Max+extra || !retryable(err) {
			break
		}
		wait := max(j.opts.Retries.Backoff(attempt), retryAfter(err))
		run.logger.Warn("attempt failed; retrying", "attempt", attempt, "err", err, "reason", FailureReason(err), "backoff", wait)
		run.setPhase(controlapi.PhaseBackoff)
		if !j.backoff(ctx, run, wait) {
			break
		}
	}
	if err != nil {
		// A store that was down for an earlier run may be back: its copies
		// are not held up by this run's failure.
		if ctx.Err() == nil {
			j.copyMissing(ctx, run)
		}
		j.refreshStore()
		return err
	}
	run.report.Snapshot, run.report.Bytes = entry.Name, entry.Size
	run.report.Index, run.report.Term = entry.Index, entry.Term
	run.report.Stale = entry.Stale

	committed := make([]string, len(j.stores))
	for i, r := range results {
		if r.Err == nil {
			committed[i] = r.Entry.Name
			j.health[i].ok()
		} else {
			j.health[i].miss(entry.Name)
		}
	}
	run.setPhase(controlapi.PhasePruning)
	j.pruneStores(ctx, run, committed)
	j.copyMissing(ctx, run)
	j.refreshStore()
	return nil
}

// attempt downloads one snapshot into the job's stores, verifying it on
// the way, and commits it where it could be written. The stores' outcomes
// are in results, in the job's store order.
func (j *SnapshotJob) attempt(ctx context.Context, run *activeRun, n int, stale bool) (entry store.Entry, results []store.UploadResult, err error) {
	started := j.now()
	run.startAttempt(n, controlapi.PhaseConnecting, started)
	if j.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, j.opts.Timeout)
		defer cancel()
	}
	upload := store.NewUpload(ctx, j.name, started, j.storeList(), store.UploadOptions{Logger: run.logger})
	defer upload.Abort()

	verifier := snapshot.NewVerifier(ctx, j.opts.Source.VerifyOptions())
	sink := progressSink{Writer: io.MultiWriter(storeWriter{upload}, verifier, countingWriter{run}), run: run}
	var (
		res     *source.SaveResult
		saveErr error
	)
	if fallback, ok := j.opts.Source.(source.StaleFallbackSource); ok && stale {
		res, saveErr = fallback.SaveStale(ctx, sink)
	} else {
		res, saveErr = j.opts.Source.Save(ctx, sink)
	}
	if saveErr != nil {
		verifier.Abort()
	}
	report, verifyErr := verifier.Close()
	if saveErr == nil && verifyErr != nil && ctx.Err() != nil {
		// Timeout or reset stopped the verification: not the archive's fault.
		saveErr = verifyErr
	}
	switch {
	case saveErr != nil:
		// A cut download is also a truncated archive: the download error
		// is the cause. Verification errors surfacing through the writer
		// keep their *snapshot.Error for classification.
		if j.opts.Timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return store.Entry{}, nil, &TimeoutError{Timeout: j.opts.Timeout, Err: saveErr}
		}
		return store.Entry{}, nil, saveErr
	case verifyErr != nil:
		// It may quote the archive's first bytes, which the server chose.
		return store.Entry{}, nil, fmt.Errorf("snapshot from %s failed verification, not stored: %w", j.opts.Source, source.Redact(j.opts.Source, verifyErr))
	}
	warnings := res.Warnings // raft-dir: newer snapshots skipped as damaged, no log store
	if res.LogLag != nil && res.LogLag.Missing > 0 {
		warnings = append(warnings, res.LogLag.String())
	}
	for _, w := range warnings {
		run.logger.Warn("snapshot source warning", "warning", w)
		run.report.Warnings = append(run.report.Warnings, w)
	}
	servers := serverIDs(report.Meta.Configuration)
	run.report.Servers = servers
	if err := j.checkCluster(run, servers); err != nil {
		return store.Entry{}, nil, err
	}
	run.setPhase(controlapi.PhaseCommitting)
	if err := j.fence(ctx); err != nil {
		return store.Entry{}, nil, err
	}
	now := j.now()
	results, err = upload.Commit(ctx, store.Entry{
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
		Servers:    servers,
		Stale:      res.Stale,
		LogLag:     res.LogLag,
	})
	j.recordOutcomes(run, results)
	if err != nil {
		if j.opts.Timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return store.Entry{}, results, &TimeoutError{Timeout: j.opts.Timeout, Err: &StoreError{Err: err}}
		}
		return store.Entry{}, results, &StoreError{Err: err}
	}
	for _, r := range results {
		if r.Err == nil {
			entry = r.Entry
			break
		}
	}
	run.logger.Info("snapshot stored", "snapshot", entry.Name, "bytes", entry.Size, "index", entry.Index, "term", entry.Term, "sha256", entry.SHA256)
	return entry, results, nil
}

// recordOutcomes puts what became of the snapshot in each store into the
// run's report (for a job with several stores) and the stores' health: a
// store that failed while another kept the snapshot is a warning.
func (j *SnapshotJob) recordOutcomes(run *activeRun, results []store.UploadResult) {
	committed := 0
	for _, r := range results {
		if r.Err == nil {
			committed++
		}
	}
	for i, r := range results {
		if r.Err != nil {
			j.health[i].failed(r.Err, j.now())
			if committed > 0 {
				run.logger.Warn("a store failed; the snapshot is in the others and will be copied into it at the next run", "store", r.Store.String(), "err", r.Err)
				run.report.Warnings = append(run.report.Warnings, fmt.Sprintf("not stored in %s (copied there at the next run): %v", r.Store.Location(), r.Err))
			}
		}
		if len(j.stores) > 1 {
			o := controlapi.StoreOutcome{Store: r.Store.Location(), Committed: r.Err == nil}
			if r.Err != nil {
				o.Error = r.Err.Error()
			}
			run.report.Stores = append(run.report.Stores, o)
		}
	}
}

// storeList is the job's stores.
func (j *SnapshotJob) storeList() []store.Store {
	list := make([]store.Store, len(j.stores))
	for i, js := range j.stores {
		list[i] = js.Store
	}
	return list
}

// maxRecordedServers bounds the server IDs kept per snapshot: a real raft
// configuration has a handful; a hostile meta.json must not bloat sidecars.
const maxRecordedServers = 64

// serverIDs is the sorted, de-duplicated server IDs of a raft configuration.
func serverIDs(cfg raft.Configuration) []string {
	seen := map[string]bool{}
	var ids []string
	for _, srv := range cfg.Servers {
		id := string(srv.ID)
		if id == "" || seen[id] || len(ids) == maxRecordedServers {
			continue
		}
		seen[id] = true
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// checkCluster compares a new snapshot's servers with the job's newest
// snapshot that recorded some. Disjoint sets mean another cluster: a
// rolling replacement of servers always keeps some in common between two
// snapshots, a different cluster (or a restore into a new one) shares none.
// Without servers on either side there is nothing to compare.
func (j *SnapshotJob) checkCluster(run *activeRun, servers []string) error {
	if len(servers) == 0 {
		return nil
	}
	entries, _, err := j.view.List(context.Background())
	if err != nil {
		return &StoreError{Err: err}
	}
	for _, prev := range entries { // newest first
		if !j.owner.Owns(prev) || !prev.Verified || len(prev.Servers) == 0 {
			continue
		}
		if sharesAny(servers, prev.Servers) {
			return nil
		}
		changed := &ClusterChangedError{Source: j.opts.Source.String(), Servers: servers, Previous: prev.Servers, PreviousSnapshot: prev.Name}
		if j.opts.OnClusterChange == ClusterChangeWarn {
			run.logger.Warn("snapshot comes from a different cluster; storing it (on_cluster_change: warn)",
				"servers", servers, "previous_servers", prev.Servers, "previous_snapshot", prev.Name)
			run.report.Warnings = append(run.report.Warnings, fmt.Sprintf(
				"snapshot comes from a different cluster (raft servers %s) than the previous snapshot %s (raft servers %s); stored because on_cluster_change is warn",
				strings.Join(servers, ", "), prev.Name, strings.Join(prev.Servers, ", ")))
			return nil
		}
		return changed
	}
	return nil
}

func sharesAny(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// storeWriter marks write errors as the stores', so ENOSPC is told apart
// from the source's failures; an archive the upload could not read the
// first member of keeps its *snapshot.Error (verification).
type storeWriter struct{ u *store.Upload }

func (w storeWriter) Write(b []byte) (int, error) {
	n, err := w.u.Write(b)
	var archiveErr *snapshot.Error
	if err != nil && !errors.As(err, &archiveErr) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return n, &StoreError{Err: err}
	}
	return n, err
}
