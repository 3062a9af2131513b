package retention

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

var discard = slog.New(slog.DiscardHandler)

// rot flips one byte in the middle of e's archive: bit rot, same size.
func rot(t *testing.T, e store.Entry) {
	t.Helper()
	testkit.FlipByte(t, e.Path, e.Size/2)
}

// verdicts renders decisions as "name keep reasons" lines, for comparing.
func verdicts(ds []Decision) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Name + " " + map[bool]string{true: "KEEP", false: "DESTROY"}[d.Keep] + " " + strings.Join(d.Reasons, "; ")
	}
	return out
}

// TestPruneReverifiesTheSnapshotItProtects: the newest snapshot's sidecar
// says "verified", but its file has rotted since. A policy keeping only the
// newest must not destroy the older, good snapshot on the sidecar's word:
// the pass stops before destroying anything and marks the bad one
// unverified; the next pass protects the good one and removes the bad.
func TestPruneReverifiesTheSnapshotItProtects(t *testing.T) {
	st := storetest.Local(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	good := storetest.Commit(t, st, "snap", 1, 5, now.Add(-2*time.Hour))
	rotten := storetest.Commit(t, st, "snap", 1, 6, now.Add(-time.Hour))

	rot(t, rotten)

	policy := mustPolicy(t, must(t)(NewLastN(1)))
	opts := PassOptions{Owner: OwnedBy("snap"), Now: now, Logger: discard}
	res, err := Prune(context.Background(), st, policy, opts)
	if err == nil || !strings.Contains(err.Error(), "nothing destroyed") || !strings.Contains(err.Error(), rotten.Name) {
		t.Fatalf("first pass: want it to stop on the rotten newest snapshot, got %v (result %+v)", err, res)
	}
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0], rotten.Name) {
		t.Errorf("first pass errors %q, want one naming %s", res.Errors, rotten.Name)
	}
	for _, e := range []store.Entry{good, rotten} {
		if _, err := os.Stat(e.Path); err != nil {
			t.Fatalf("first pass destroyed %s: %v", e.Name, err)
		}
	}
	if e, err := st.Get(context.Background(), rotten.Name); err != nil || e.Verified {
		t.Fatalf("the rotten snapshot's sidecar should now say unverified: %+v, %v", e, err)
	}

	if _, err := Prune(context.Background(), st, policy, opts); err != nil {
		t.Fatalf("second pass: %v", err)
	}
	if _, err := os.Stat(good.Path); err != nil {
		t.Fatalf("the good snapshot was destroyed: %v", err)
	}
	if _, err := os.Stat(rotten.Path); !os.IsNotExist(err) {
		t.Fatalf("the rotten, unverified snapshot should be gone after the second pass: %v", err)
	}
}

// TestPruneDryRunIsThePassMinusTheDeletes: over a store opened read-only,
// a dry run decides exactly what the real pass then does (decisions,
// reasons, ignored files) and changes nothing. It trusts the sidecars, as
// documented: it does not read the archive it protects.
func TestPruneDryRunIsThePassMinusTheDeletes(t *testing.T) {
	st := storetest.Local(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		storetest.Commit(t, st, "snap", 1, uint64(10+i), now.Add(-time.Duration(5-i)*time.Hour))
	}
	other := storetest.Commit(t, st, "other", 1, 3, now.Add(-time.Minute))
	if err := os.WriteFile(filepath.Join(st.Dir(), "notes.txt"), []byte("hand-written"), 0o600); err != nil {
		t.Fatal(err)
	}
	policy := mustPolicy(t, must(t)(NewLastN(2)))
	before := testkit.TreeDigest(t, st.Dir())

	ro, err := store.OpenReadOnly(st.Dir())
	if err != nil {
		t.Fatal(err)
	}
	dry, err := Prune(context.Background(), ro, policy, PassOptions{Owner: OwnedBy("snap"), Now: now, DryRun: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if after := testkit.TreeDigest(t, st.Dir()); after != before {
		t.Fatalf("the dry run changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if kept, destroyed := dry.Counts(); kept != 2 || destroyed != 3 {
		t.Fatalf("dry run kept %d, destroyed %d; want 2 and 3:\n%s", kept, destroyed, strings.Join(verdicts(dry.Decisions), "\n"))
	}
	wantIgnored := []Ignored{{Name: "notes.txt", Reason: "not a snapshot with a sidecar"}, {Name: other.Name, Reason: "snapshot of job other"}}
	if !slices.Equal(dry.Ignored, wantIgnored) {
		t.Errorf("ignored %+v, want %+v", dry.Ignored, wantIgnored)
	}

	real, err := Prune(context.Background(), st, policy, PassOptions{Owner: OwnedBy("snap"), Now: now, Logger: discard})
	if err != nil {
		t.Fatalf("real pass: %v", err)
	}
	if got, want := verdicts(real.Decisions), verdicts(dry.Decisions); !slices.Equal(got, want) {
		t.Errorf("the real pass decided otherwise than its dry run:\nreal %q\ndry  %q", got, want)
	}
	if !slices.Equal(real.Ignored, dry.Ignored) {
		t.Errorf("ignored: real %+v, dry %+v", real.Ignored, dry.Ignored)
	}
	entries, _, err := st.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Errorf("after the real pass the store lists %d snapshots, want 2 of snap and other's", len(entries))
	}

	// The dry run trusts the sidecars: with the protected archive rotten,
	// it still shows the plan, while the real pass stops.
	storetest.Commit(t, st, "snap", 1, 20, now.Add(-time.Minute))
	rot(t, storetest.Commit(t, st, "snap", 1, 21, now))
	dry, err = Prune(context.Background(), ro, policy, PassOptions{Owner: OwnedBy("snap"), Now: now, DryRun: true})
	if _, destroyed := dry.Counts(); err != nil || destroyed != 2 {
		t.Fatalf("dry run over a rotten protected archive: %v, %d destroyed; want the plan (2 destroyed)", err, destroyed)
	}
	if _, err := Prune(context.Background(), st, policy, PassOptions{Owner: OwnedBy("snap"), Now: now, Logger: discard}); err == nil || !strings.Contains(err.Error(), "nothing destroyed") {
		t.Fatalf("real pass over a rotten protected archive: %v, want it to stop", err)
	}
}

// TestPrunePlansEachJobOnItsOwn: a prune job owning two jobs that snapshot
// different clusters. Their raft positions cannot be compared (one
// cluster is at index 900,000, the other at 90): planned together, "last 1"
// would keep only the busier cluster's snapshot and destroy every one of
// the other's. Each job is planned on its own and keeps its newest.
func TestPrunePlansEachJobOnItsOwn(t *testing.T) {
	st := storetest.Local(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	busyOld := storetest.Commit(t, st, "consul", 3, 900_000, now.Add(-2*time.Hour))
	busyNew := storetest.Commit(t, st, "consul", 3, 900_100, now.Add(-time.Hour))
	quietOld := storetest.Commit(t, st, "nomad", 1, 80, now.Add(-90*time.Minute))
	quietNew := storetest.Commit(t, st, "nomad", 1, 90, now.Add(-30*time.Minute))

	res, err := Prune(context.Background(), st, mustPolicy(t, must(t)(NewLastN(1))), PassOptions{Owner: OwnedBy(), Now: now, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		busyNew.Name + " KEEP newest verified; last 1",
		busyOld.Name + " DESTROY no rule keeps it",
		quietNew.Name + " KEEP newest verified; last 1",
		quietOld.Name + " DESTROY no rule keeps it",
	}
	if got := verdicts(res.Decisions); !slices.Equal(got, want) {
		t.Fatalf("decisions\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// plannerFunc lets a test plug in a planner that misbehaves.
type plannerFunc func([]Snapshot, time.Time) []Decision

func (f plannerFunc) Plan(snaps []Snapshot, now time.Time) []Decision { return f(snaps, now) }

// TestDecideEnforcesTheInvariantsOnAnyPlanner: whatever a planner says,
// each job's newest verified snapshot (not in the future) survives, and a
// snapshot it says nothing about is kept.
func TestDecideEnforcesTheInvariantsOnAnyPlanner(t *testing.T) {
	snaps := []Snapshot{
		{Name: "skewed", Created: t0.Add(time.Hour), Term: 1, Index: 9, Verified: true, Job: "a"},
		{Name: "newest", Created: t0.Add(-time.Hour), Term: 1, Index: 8, Verified: true, Job: "a"},
		{Name: "forgotten", Created: t0.Add(-2 * time.Hour), Term: 1, Index: 7, Verified: true, Job: "a"},
		{Name: "older", Created: t0.Add(-3 * time.Hour), Term: 1, Index: 6, Verified: true, Job: "a"},
		{Name: "b-only", Created: t0.Add(-4 * time.Hour), Term: 1, Index: 1, Verified: true, Job: "b"},
	}
	destroyAllButForgotten := plannerFunc(func(snaps []Snapshot, _ time.Time) []Decision {
		var out []Decision
		for _, s := range snaps {
			if s.Name != "forgotten" {
				out = append(out, Decision{Snapshot: s, Reasons: []string{"destroy all"}})
			}
		}
		return out
	})
	plan := Decide(destroyAllButForgotten, snaps, t0)
	want := []string{
		"skewed DESTROY destroy all",
		"newest KEEP destroy all; " + ReasonGuardNewest,
		"forgotten KEEP " + ReasonNoDecision,
		"older DESTROY destroy all",
		"b-only KEEP destroy all; " + ReasonGuardNewest,
	}
	if got := verdicts(plan.Decisions); !slices.Equal(got, want) {
		t.Fatalf("decisions\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(plan.Protected) != 2 || plan.Protected[0].Name != "newest" || plan.Protected[1].Name != "b-only" {
		t.Errorf("protected %+v, want newest and b-only", plan.Protected)
	}
}

// TestDecideGivesDuplicatesOneDecisionEach: a --snapshots file may list a
// name twice; each line gets its own verdict, as the engine gives them.
func TestDecideGivesDuplicatesOneDecisionEach(t *testing.T) {
	dup := Snapshot{Name: "same", Created: t0.Add(-time.Hour), Verified: true}
	plan := Decide(mustPolicy(t, must(t)(NewLastN(1))), []Snapshot{dup, dup}, t0)
	want := []string{"same KEEP newest verified; last 1", "same DESTROY no rule keeps it"}
	if got := verdicts(plan.Decisions); !slices.Equal(got, want) {
		t.Fatalf("decisions %q, want %q", got, want)
	}
}

func TestNewestVerifiedDistrustsFutureDates(t *testing.T) {
	cases := []struct {
		name  string
		snaps []Snapshot
		want  string
	}{
		{"by raft position, not date", []Snapshot{
			{Name: "older-future-dated", Created: t0.Add(30 * 24 * time.Hour), Term: 1, Index: 5, Verified: true},
			{Name: "newer", Created: t0.Add(-time.Minute), Term: 1, Index: 10, Verified: true},
		}, "newer"},
		{"a future date is passed over", []Snapshot{
			{Name: "newer-future-dated", Created: t0.Add(time.Hour), Term: 1, Index: 10, Verified: true},
			{Name: "older", Created: t0.Add(-time.Hour), Term: 1, Index: 5, Verified: true},
		}, "older"},
		{"unless there is nothing else", []Snapshot{
			{Name: "future-dated", Created: t0.Add(time.Hour), Term: 1, Index: 10, Verified: true},
			{Name: "unverified", Created: t0.Add(-time.Hour), Term: 1, Index: 5},
		}, "future-dated"},
		{"none verified", []Snapshot{{Name: "unverified", Created: t0.Add(-time.Hour)}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := NewestVerified(c.snaps, t0)
			if got.Name != c.want || ok != (c.want != "") {
				t.Fatalf("NewestVerified = %q, %v; want %q", got.Name, ok, c.want)
			}
		})
	}
}

// TestReplayHourlySnapshotsThroughStorePruning takes a year of hourly
// snapshots with ±5 minutes of jitter into a real store, runs the pass
// (as the snapshot job does after every run) after each one, and checks
// that
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
	policy := mustPolicy(t, must(t)(ParseGrid("1x1h(keep=all) | 24x1h | 14x1d | 8x1w")))

	commit := func(job string, at time.Time, index uint64) store.Entry {
		t.Helper()
		return storetest.CommitFake(t, st, job, 1, index, at, []byte("archive bytes are not read by pruning"))
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	foreign := commit("other-job", start.Add(-48*time.Hour), 1)

	rng := rand.New(rand.NewPCG(1, 2))
	var history []Snapshot
	owner := OwnedBy("replay")
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
		history = append(history, FromEntry(e))

		res, err := Prune(context.Background(), st, policy, PassOptions{Owner: owner, Now: now, JustVerified: e.Name, Logger: logger})
		if err != nil {
			t.Fatalf("hour %d: %v", h, err)
		}
		if i := slices.IndexFunc(res.Decisions, func(d Decision) bool { return d.Name == e.Name }); i < 0 || !res.Decisions[i].Keep {
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
			want = append(want, d.Name)
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

// TestPruneLogsWhatItDestroys: every destroy is logged with its reasons, and
// a policy that asks to destroy the newest verified snapshot is logged as
// an error.
func TestPruneLogsWhatItDestroys(t *testing.T) {
	st := storetest.Local(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	newest := storetest.Commit(t, st, "snap", 1, 2, now.Add(-time.Hour))
	older := storetest.Commit(t, st, "snap", 1, 1, now.Add(-2*time.Hour))
	var logs bytes.Buffer
	destroyAll := plannerFunc(func(snaps []Snapshot, _ time.Time) []Decision {
		out := make([]Decision, len(snaps))
		for i, s := range snaps {
			out[i] = Decision{Snapshot: s, Reasons: []string{"destroy all"}}
		}
		return out
	})
	if _, err := Prune(context.Background(), st, destroyAll, PassOptions{Owner: OwnedBy("snap"), Now: now, Logger: slog.New(slog.NewTextHandler(&logs, nil))}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`level=ERROR msg="pruning policy chose to destroy the newest verified snapshot; kept" snapshot=` + newest.Name + ` reasons="[destroy all]"`,
		`level=INFO msg="pruning: destroyed snapshot" snapshot=` + older.Name,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}
