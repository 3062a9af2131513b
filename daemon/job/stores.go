package job

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot/retention"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// JobStore is one of a snapshot job's stores, with its retention.
type JobStore struct {
	Store store.Store
	// Policy prunes the job's snapshots in this store; nil means the job's
	// Policy.
	Policy retention.Planner
	// Type names the store's kind in the status: local, s3, azure, gcs.
	Type string
}

// StoreMetrics is what a Metrics may also implement to hear how stores
// stand: JobStores after each run and status refresh of a job (its view
// of its stores: errors, copies behind), StoreListed at every listing of a
// store by any job (what the store holds).
type StoreMetrics interface {
	JobStores(job string, stores []controlapi.StoreSummary)
	StoreListed(location string, entries []store.Entry, err error)
}

// maxCopiesPerRun bounds the snapshots a run copies into a store that is
// behind (after an outage, or when a store is added to a job): the rest
// follow at the next runs.
const maxCopiesPerRun = 24

// storeHealth is what a job remembers of one of its stores between runs.
type storeHealth struct {
	mu      sync.Mutex
	lastErr string
	at      *time.Time
	pruning *controlapi.PruneSummary
	// missed are the snapshots this store failed to take while another
	// store committed them: copied at the next runs even when the store
	// holds a newer one by then (until the daemon restarts; after that,
	// only snapshots newer than its newest count as missing).
	missed map[string]bool
}

// miss records that the store lacks a snapshot the job committed elsewhere.
func (h *storeHealth) miss(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.missed == nil {
		h.missed = map[string]bool{}
	}
	h.missed[name] = true
}

// hasMissed tells whether the store failed to take name.
func (h *storeHealth) hasMissed(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.missed[name]
}

// done forgets that the store missed name (it holds it now).
func (h *storeHealth) done(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.missed, name)
}

func (h *storeHealth) failed(err error, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastErr, h.at = err.Error(), &at
}

func (h *storeHealth) ok() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastErr, h.at = "", nil
}

// StoreView is how a job reads its snapshots: the one store, or a Union of
// its stores (the newest verified copy of each, whichever store has it).
func StoreView(stores []JobStore) store.Store {
	if len(stores) == 1 {
		return stores[0].Store
	}
	list := make([]store.Store, len(stores))
	for i, js := range stores {
		list[i] = js.Store
	}
	return store.NewUnion(list...)
}

// storeListing is one store's listing of the job's own snapshots.
type storeListing struct {
	mine    []store.Entry // newest first
	foreign int
	err     error
}

// listStores lists every store of the job.
func (j *SnapshotJob) listStores(ctx context.Context) []storeListing {
	out := make([]storeListing, len(j.stores))
	for i, js := range j.stores {
		entries, foreign, err := j.list(ctx, js.Store)
		if err != nil {
			out[i].err = err
			continue
		}
		out[i].mine, _ = j.owner.Split(entries)
		out[i].foreign = len(foreign)
	}
	return out
}

// policy is store i's retention.
func (j *SnapshotJob) policy(i int) retention.Planner {
	if p := j.stores[i].Policy; !isNilPlanner(p) {
		return p
	}
	return j.opts.Policy
}

// missing is what store i should hold and does not, newest first: the
// job's verified snapshots in its other stores that are newer than store
// i's newest (older ones it may have pruned on purpose) or that it failed
// to take when they were written, and that its retention would keep. ok is false when that cannot be said (store i
// cannot be listed).
func (j *SnapshotJob) missing(i int, ls []storeListing, now time.Time) (missing []store.Entry, ok bool) {
	if ls[i].err != nil {
		return nil, false
	}
	have := map[string]bool{}
	for _, e := range ls[i].mine {
		have[e.Name] = true
	}
	seen := map[string]bool{}
	var candidates []store.Entry
	for k, l := range ls {
		if k == i {
			continue
		}
		for _, e := range l.mine {
			if !e.Verified || have[e.Name] || seen[e.Name] {
				continue
			}
			if len(ls[i].mine) > 0 && store.CompareNewestFirst(e.Position(), ls[i].mine[0].Position()) >= 0 && !j.health[i].hasMissed(e.Name) {
				continue
			}
			seen[e.Name] = true
			candidates = append(candidates, e)
		}
	}
	if len(candidates) == 0 {
		return nil, true
	}
	store.SortNewestFirst(candidates)
	if p := j.policy(i); !isNilPlanner(p) {
		plan := retention.Decide(p, retention.FromEntries(append(slices.Clone(ls[i].mine), candidates...)), now)
		keep := map[string]bool{}
		for _, d := range plan.Decisions {
			if d.Keep {
				keep[d.Name] = true
			}
		}
		candidates = slices.DeleteFunc(candidates, func(e store.Entry) bool { return !keep[e.Name] })
	}
	return candidates, true
}

// refreshStores lists the job's stores, records their summaries in the
// status (and the metrics), and returns the first store's, or nil when it
// cannot be listed.
func (j *SnapshotJob) refreshStores() *controlapi.StoreSummary {
	now := j.now()
	ls := j.listStores(context.Background())
	sums := make([]controlapi.StoreSummary, len(j.stores))
	var first *controlapi.StoreSummary
	for i, js := range j.stores {
		sum := summarize(js.Store.Location(), ls[i].mine, now)
		sum.Type = js.Type
		h := j.health[i]
		if ls[i].err != nil {
			j.listFailed(js.Store, "cannot list store", ls[i].err)
			h.failed(ls[i].err, now)
			sum.Unlisted = true
		} else {
			j.listed(js.Store)
			sum.Foreign = ls[i].foreign
			if missing, ok := j.missing(i, ls, now); ok {
				sum.Behind = len(missing)
			}
		}
		h.mu.Lock()
		sum.LastError, sum.LastErrorAt = h.lastErr, h.at
		if len(j.stores) > 1 {
			sum.Pruning = pruneCounts(h.pruning)
		}
		h.mu.Unlock()
		sums[i] = *sum
		if i == 0 && ls[0].err == nil {
			first = sum
		}
	}
	if first != nil || len(j.stores) > 1 {
		s0 := sums[0]
		j.setStore(&s0)
	}
	if len(j.stores) > 1 {
		j.setStores(sums)
		// The job's view in its one-store gauges: the union of its copies.
		var all []store.Entry
		seen := map[string]bool{}
		for _, l := range ls {
			for _, e := range l.mine {
				if !seen[e.Name] {
					seen[e.Name] = true
					all = append(all, e)
				}
			}
		}
		n, bytes, _ := store.Summary(all)
		j.metrics.StoreStats(j.name, n, bytes)
	} else if first != nil {
		j.metrics.StoreStats(j.name, first.Snapshots, first.TotalBytes)
	}
	if m, ok := j.metrics.(StoreMetrics); ok {
		m.JobStores(j.name, sums)
	}
	if first == nil && len(j.stores) > 1 {
		// Scheduling goes by the newest snapshot in any store.
		return newestOf(sums)
	}
	return first
}

// newestOf is the summary whose newest snapshot is the newest.
func newestOf(sums []controlapi.StoreSummary) *controlapi.StoreSummary {
	var best *controlapi.StoreSummary
	for i := range sums {
		if sums[i].NewestAt != nil && (best == nil || sums[i].NewestAt.After(*best.NewestAt)) {
			best = &sums[i]
		}
	}
	return best
}

// summarize is a StoreSummary of mine (newest first) in the store at path.
func summarize(path string, mine []store.Entry, now time.Time) *controlapi.StoreSummary {
	sum := &controlapi.StoreSummary{Path: path}
	var newest *store.Entry
	sum.Snapshots, sum.TotalBytes, newest = store.Summary(mine)
	for _, e := range mine {
		if !e.Verified {
			sum.Unverified++
		}
		if e.Encryption != nil {
			sum.Encrypted++
		}
	}
	if newest != nil {
		t := newest.CreatedAt
		sum.Newest, sum.NewestAt = newest.Name, &t
		if ahead := t.Sub(now); ahead > 0 {
			sum.Warnings = []string{futureDated(newest.Name, ahead)}
		}
	}
	return sum
}

// pruneStores runs the retention pass over each store of the job (each
// with its own policy; the newest verified snapshot of each store is
// protected in it), then removes what interrupted writes left in the
// stores that can (object stores). committed names the snapshot this run
// verified and stored in each store ("" where it did not).
func (j *SnapshotJob) pruneStores(ctx context.Context, run *activeRun, committed []string) {
	total, foreign := 0, 0
	for i, js := range j.stores {
		policy := j.policy(i)
		if isNilPlanner(policy) {
			continue
		}
		opts := retention.PassOptions{Owner: j.owner, Now: j.now(), JustVerified: committed[i]}
		if i == 0 {
			if err := j.prune(ctx, run, js.Store, policy, opts); err != nil {
				// The snapshot is safe; the failed pruning is reported in the
				// summary and the log, and does not fail the run.
				run.logger.Error("pruning after snapshot failed", "store", js.Store.String(), "err", err)
				j.health[i].failed(err, j.now())
			}
			if run.report.Pruning != nil {
				total += run.report.Pruning.Destroyed
				foreign += run.report.Pruning.Foreign
			}
			continue
		}
		opts.Logger = run.logger.With("store", js.Store.Location())
		res, err := retention.Prune(ctx, js.Store, policy, opts)
		if res != nil {
			sum := pruneSummary(res, opts.Now)
			j.health[i].mu.Lock()
			j.health[i].pruning = sum
			j.health[i].mu.Unlock()
			// The foreign gauge counts the job's stores together.
			foreign += sum.Foreign
			j.metrics.Pruned(j.name, sum.Destroyed, foreign)
		}
		if err != nil && ctx.Err() == nil {
			run.logger.Error("pruning after snapshot failed", "store", js.Store.String(), "err", err)
			j.health[i].failed(err, j.now())
		}
	}
	j.cleanStores(ctx)
}

// cleanStores removes what interrupted writes of this job left in its
// stores that can tell (object stores: incomplete uploads, archives
// without their manifest), once older than their grace period.
func (j *SnapshotJob) cleanStores(ctx context.Context) {
	for _, js := range j.stores {
		j.cleanStore(ctx, js.Store, []string{j.name})
	}
}

// cleanStore removes what interrupted writes of jobs (any job when none is
// named) left in st, if st can tell (store.Cleaner), and logs it; a
// failure is logged, and the next pass tries again.
func (r *runner) cleanStore(ctx context.Context, st store.Store, jobs []string) {
	c, ok := st.(store.Cleaner)
	if !ok {
		return
	}
	removed, err := c.Clean(ctx, jobs)
	if len(removed) > 0 {
		r.logger.Warn("removed leftovers of interrupted writes", "store", st.String(), "removed", removed)
	}
	if err != nil && ctx.Err() == nil {
		r.logger.Warn("cannot remove leftovers of interrupted writes; trying again at the next run", "store", st.String(), "err", err)
	}
}

// copyMissing copies into each store the snapshots it lacks (see missing),
// newest first, at most maxCopiesPerRun per store and run, each read from
// a store holding it and checked against its committed SHA-256. The
// outcomes go into the run's report; a failure is a warning, never the
// run's failure.
func (j *SnapshotJob) copyMissing(ctx context.Context, run *activeRun) {
	if len(j.stores) < 2 {
		return
	}
	ls := j.listStores(ctx)
	now := j.now()
	for i, js := range j.stores {
		missing, ok := j.missing(i, ls, now)
		if !ok || len(missing) == 0 {
			continue
		}
		run.setPhase(controlapi.PhaseCopying)
		outcome := j.outcome(run, js.Store.Location())
		for n, e := range missing {
			if n == maxCopiesPerRun || ctx.Err() != nil {
				break
			}
			from := j.holder(ls, i, e.Name)
			if from == nil {
				continue
			}
			cctx, cancel := ctx, context.CancelFunc(func() {})
			if j.opts.Timeout > 0 {
				cctx, cancel = context.WithTimeout(ctx, j.opts.Timeout)
			}
			copied, err := store.Copy(cctx, from, js.Store, e.Name)
			cancel()
			if err != nil {
				var src *store.CopySourceError
				where := "into " + js.Store.Location()
				if errors.As(err, &src) {
					where = "from " + from.Location()
				} else {
					j.health[i].failed(err, j.now())
				}
				run.logger.Warn("cannot copy a snapshot into a store that lacks it; trying again at the next run",
					"snapshot", e.Name, "store", js.Store.String(), "from", from.String(), "err", err)
				run.report.Warnings = append(run.report.Warnings, fmt.Sprintf("copying %s %s failed: %v", e.Name, where, err))
				if !errors.As(err, &src) {
					break // this store fails: the next run tries again
				}
				continue
			}
			run.logger.Info("copied a snapshot into a store that lacked it", "snapshot", copied.Name, "store", js.Store.String(), "from", from.String())
			outcome.Copied = append(outcome.Copied, copied.Name)
			j.health[i].ok()
			j.health[i].done(copied.Name)
		}
	}
}

// holder is a store other than i listing name verified, preferring the
// job's first stores.
func (j *SnapshotJob) holder(ls []storeListing, i int, name string) store.Store {
	for k, l := range ls {
		if k == i {
			continue
		}
		for _, e := range l.mine {
			if e.Name == name && e.Verified {
				return j.stores[k].Store
			}
		}
	}
	return nil
}

// outcome is the run report's entry for the store at location, created
// when missing.
func (j *SnapshotJob) outcome(run *activeRun, location string) *controlapi.StoreOutcome {
	for i := range run.report.Stores {
		if run.report.Stores[i].Store == location {
			return &run.report.Stores[i]
		}
	}
	run.report.Stores = append(run.report.Stores, controlapi.StoreOutcome{Store: location})
	return &run.report.Stores[len(run.report.Stores)-1]
}

// summarizeStores lists each store and summarises the snapshots owner owns
// in it; a store that cannot be listed has an Unlisted summary with the
// error (and nil entries).
func (r *runner) summarizeStores(stores []store.Store, owner retention.Owner) ([]controlapi.StoreSummary, [][]store.Entry) {
	sums := make([]controlapi.StoreSummary, len(stores))
	entries := make([][]store.Entry, len(stores))
	for i, st := range stores {
		sum, mine, err := r.storeSummary(st, owner)
		if err != nil {
			r.listFailed(st, "cannot list store", err)
			at := r.now()
			sums[i] = controlapi.StoreSummary{Path: st.Location(), Unlisted: true, LastError: err.Error(), LastErrorAt: &at}
			continue
		}
		r.listed(st)
		sums[i], entries[i] = *sum, mine
	}
	return sums, entries
}

// reportStores records in the status and the metrics the summaries of a
// job's stores (a prune, restore, scrub or drill job's; snapshot jobs have
// refreshStores): the first store's as the job's store, each one's when
// it has several.
func (r *runner) reportStores(sums []controlapi.StoreSummary) {
	if len(sums) == 0 {
		return
	}
	if !sums[0].Unlisted || len(sums) > 1 {
		s0 := sums[0]
		r.setStore(&s0)
	}
	if len(sums) > 1 {
		r.setStores(slices.Clone(sums))
	}
	count, bytes, listed := 0, int64(0), false
	for _, s := range sums {
		if !s.Unlisted {
			count, bytes, listed = count+s.Snapshots, bytes+s.TotalBytes, true
		}
	}
	if listed {
		r.metrics.StoreStats(r.name, count, bytes)
	}
	if m, ok := r.metrics.(StoreMetrics); ok {
		m.JobStores(r.name, sums)
	}
}

// members is the stores behind st: a Union's, else st itself.
func members(st store.Store) []store.Store {
	if u, ok := st.(*store.Union); ok {
		return u.Stores()
	}
	return []store.Store{st}
}

// refreshJobStore reports the summaries of the stores behind st (a prune,
// restore or drill job's store, or the Union of a snapshot job's stores)
// and returns the entries owner owns in st, nil when it cannot be listed.
func (r *runner) refreshJobStore(st store.Store, owner retention.Owner) []store.Entry {
	ms := members(st)
	sums, entries := r.summarizeStores(ms, owner)
	r.reportStores(sums)
	if len(ms) == 1 {
		return entries[0]
	}
	_, mine, err := r.storeSummary(st, owner)
	if err != nil {
		r.listFailed(st, "cannot list stores", err)
		return nil
	}
	return mine
}

// newestVerified is the newest verified of a store's entries (see
// retention.NewestVerified), those of job fromJob when it is set. When
// there is none, the error says where none was found to do what (verb:
// "restore", "drill").
func newestVerified(entries []store.Entry, now time.Time, fromJob string, st store.Store, verb string) (retention.Snapshot, error) {
	latest, ok := retention.NewestVerified(retention.FromEntries(entries), now)
	if !ok {
		scope := "the store"
		if fromJob != "" {
			scope = "job " + fromJob
		}
		return retention.Snapshot{}, fmt.Errorf("no verified snapshot of %s in %s to %s", scope, st.Location(), verb)
	}
	return latest, nil
}
