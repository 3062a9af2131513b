package job

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot/retention"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// TestStatusStoreSummaryFollowsOtherWriters: a prune job's status shows
// snapshots another job wrote since the prune job last looked.
func TestStatusStoreSummaryFollowsOtherWriters(t *testing.T) {
	old := storeStaleAfter
	storeStaleAfter = 0
	t.Cleanup(func() { storeStaleAfter = old })

	st := storetest.Local(t)
	policy, err := retention.NewPolicy(mustRule(retention.NewLastN(5)))
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
	p, err := st.Create(context.Background(), "snap", "snap-20260101T000000Z-1.snap")
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

func mustRule(r retention.Rule, err error) retention.Rule {
	if err != nil {
		panic(err)
	}
	return r
}

// TestCatchUpWaitsPartOfTheJitter: with jitter, the start-up catch-up run is
// delayed by a random part of it (so many jobs on one cluster do not all
// ask at once), and is still labelled "startup".
func TestCatchUpWaitsPartOfTheJitter(t *testing.T) {
	st := storetest.Local(t)
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
