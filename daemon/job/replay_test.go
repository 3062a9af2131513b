package job

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"

	"github.com/raftsnap/raftsnap/daemon/pruning"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// TestReplayHourlySnapshotsThroughStorePruning takes a year of hourly
// snapshots with ±5 minutes of jitter into a real store, runs the daemon's
// pruning (pruneStore, as the snapshot job does after every run) after each
// one, and checks that
//   - the snapshot just taken is never destroyed,
//   - another job's snapshot in the same store is never touched,
//   - what survives at the end is exactly what the policy keeps when it is
//     applied once to the whole history (the policy's definition).
func TestReplayHourlySnapshotsThroughStorePruning(t *testing.T) {
	dir := t.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		// tmpfs makes the thousands of fsyncs cheap; the code path is the same.
		d, err := os.MkdirTemp("/dev/shm", "raftsnap-replay-")
		if err == nil {
			dir = d
			t.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(dir, logger)
	if err != nil {
		t.Fatal(err)
	}
	var rules []pruning.Rule
	grid, err := pruning.ParseGrid("1x1h(keep=all) | 24x1h | 14x1d | 8x1w")
	if err != nil {
		t.Fatal(err)
	}
	rules = append(rules, grid)
	policy, err := pruning.NewPolicy(rules...)
	if err != nil {
		t.Fatal(err)
	}

	commit := func(job string, at time.Time, index uint64) store.Entry {
		t.Helper()
		p, err := st.Create(context.Background(), job)
		if err != nil {
			t.Fatal(err)
		}
		content := []byte("archive bytes are not read by pruning")
		if _, err := p.Write(content); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(content)
		e, err := p.Commit(context.Background(), store.Entry{CreatedAt: at, Index: index, Term: 1, Verified: true, SHA256: hex.EncodeToString(sum[:])})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	foreign := commit("other-job", start.Add(-48*time.Hour), 1)

	rng := rand.New(rand.NewPCG(1, 2))
	var history []pruning.Snapshot
	owns := ownedBy("replay")
	hours := 365 * 24
	if testing.Short() {
		// The fast loop: 80 days, still past every bucket of the grid
		// (1h + 24h + 14d + 8w).
		hours = 80 * 24
	}
	var now time.Time
	for h := 0; h < hours; h++ {
		jitter := time.Duration(rng.IntN(601)-300) * time.Second
		now = start.Add(time.Duration(h)*time.Hour + jitter)
		e := commit("replay", now, uint64(h+10))
		history = append(history, pruning.Snapshot{Name: e.Name, Created: e.CreatedAt, Index: e.Index, Term: 1, Verified: true, Size: e.Size})

		sum, err := pruneStore(context.Background(), st, policy, owns, now, e.Name, logger)
		if err != nil {
			t.Fatalf("hour %d: %v", h, err)
		}
		if i := slices.IndexFunc(sum.Decisions, func(d controlapi.PruneDecision) bool { return d.Snapshot == e.Name }); i < 0 || !sum.Decisions[i].Keep {
			t.Fatalf("hour %d: the snapshot just taken (%s) was destroyed or not considered", h, e.Name)
		}
	}

	entries, _, err := st.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var survivors []string
	sawForeign := false
	for _, e := range entries {
		if e.Name == foreign.Name {
			sawForeign = true
			continue
		}
		survivors = append(survivors, e.Name)
	}
	if !sawForeign {
		t.Fatal("another job's snapshot was destroyed")
	}
	var want []string
	for _, d := range policy.Plan(history, now) {
		if d.Keep {
			want = append(want, d.Snapshot.Name)
		}
	}
	slices.Sort(survivors)
	slices.Sort(want)
	if !slices.Equal(survivors, want) {
		t.Fatalf("after %d hours the store holds %d snapshots, the policy applied to the whole history keeps %d\nstore:  %v\npolicy: %v",
			hours, len(survivors), len(want), survivors, want)
	}
	// 1 (current hour) + 24 hourly + 14 daily + 8 weekly at most, and the
	// replay is long enough to fill every bucket.
	if len(survivors) < 40 || len(survivors) > 1+1+24+14+8 {
		t.Fatalf("%d survivors; the policy should keep about 47", len(survivors))
	}
	t.Logf("%d hourly snapshots taken, %d kept", hours, len(survivors))
}

// TestStatusStoreSummaryFollowsOtherWriters: a prune job's status shows
// snapshots another job wrote since the prune job last looked.
func TestStatusStoreSummaryFollowsOtherWriters(t *testing.T) {
	old := storeStaleAfter
	storeStaleAfter = 0
	t.Cleanup(func() { storeStaleAfter = old })

	st, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := pruning.NewPolicy(mustRule(pruning.NewLastN(5)))
	if err != nil {
		t.Fatal(err)
	}
	j, err := NewPruneJob(PruneOptions{Name: "prune", Store: st, Interval: time.Hour, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	if s := j.Status().Store; s == nil || s.Snapshots != 0 {
		t.Fatalf("empty store summary: %+v", s)
	}
	p, err := st.Create(context.Background(), "snap")
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("x")
	p.Write(content)
	sum := sha256.Sum256(content)
	if _, err := p.Commit(context.Background(), store.Entry{Index: 1, Verified: true, SHA256: hex.EncodeToString(sum[:])}); err != nil {
		t.Fatal(err)
	}
	if s := j.Status().Store; s == nil || s.Snapshots != 1 || s.TotalBytes != 1 {
		t.Fatalf("store summary after another job wrote a snapshot: %+v", s)
	}
}

func mustRule(r pruning.Rule, err error) pruning.Rule {
	if err != nil {
		panic(err)
	}
	return r
}

// TestCatchUpWaitsPartOfTheJitter: with jitter, the start-up catch-up run is
// delayed by a random part of it (so many jobs on one cluster do not all
// ask at once), and is still labelled "startup".
func TestCatchUpWaitsPartOfTheJitter(t *testing.T) {
	st, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	j, err := NewSnapshotJob(SnapshotOptions{
		Name: "snap", Source: closedPortSource(t), Store: st,
		Interval: time.Hour, Jitter: 10 * time.Minute, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	runNow, next := j.catchUp(context.Background())
	if runNow || next.Before(now) || !next.Before(now.Add(10*time.Minute)) {
		t.Fatalf("catch-up with 10m jitter: runNow=%v next=%v; want a delayed run within 10m of %v", runNow, next, now)
	}
	if got := j.takeScheduledTrigger(); got != controlapi.TriggerStartup {
		t.Fatalf("the delayed catch-up is labelled %q, want %q", got, controlapi.TriggerStartup)
	}
	if got := j.takeScheduledTrigger(); got != controlapi.TriggerSchedule {
		t.Fatalf("the run after it is labelled %q, want %q", got, controlapi.TriggerSchedule)
	}
}

// closedPortSource is a raft source on a loopback port nothing listens on;
// the catch-up decision never contacts it.
func closedPortSource(t *testing.T) source.Source {
	t.Helper()
	src, err := source.New(source.Config{Kind: source.Raft, Address: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	return src
}
