package job

import (
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/snapshot/retention"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// TestScrubFlagsRottedSnapshots: a snapshot job keeps its snapshots in a
// directory and a bucket (gocloud's in-memory driver); one archive rots in
// each. A scrub of both stores reads every copy, fails with reason
// verification, records the two rotted copies unverified with the reason
// (so that the newest good snapshot is now an older one), and counts
// them in its report, its metrics and the stores' summaries.
func TestScrubFlagsRottedSnapshots(t *testing.T) {
	ctx := testContext(t)
	_, leader := startCluster(t, 1)
	local := storetest.Local(t)
	b := memblob.OpenBucket(nil)
	remote := bucket.New(b, bucket.Config{Provider: bucket.S3, Bucket: "mem", Prefix: "snap/"}, bucket.Options{}, nil)
	t.Cleanup(func() { remote.Close() })

	sj, err := NewSnapshotJob(SnapshotOptions{Name: "snap", Source: raftSource(t, leader.HTTPAddr),
		Stores: []JobStore{{Store: local}, {Store: remote, Type: "s3"}}, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	stop := startJob(t, sj)
	awaitFirstRun(t, sj)
	wakeAndWait(t, sj)
	wakeAndWait(t, sj)
	stop()

	entries, _, err := local.List(ctx)
	if err != nil || len(entries) != 3 {
		t.Fatalf("local store lists %d snapshots (%v), want 3", len(entries), err)
	}
	store.SortNewestFirst(entries)
	newest, oldest := entries[0], entries[2]
	// Rot: a flipped byte in the middle of the newest local archive (same
	// size), and one near the end of the oldest archive in the bucket.
	testkit.FlipByte(t, newest.Path, newest.Size/2)
	data, err := b.ReadAll(ctx, "snap/"+oldest.Name)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-20] ^= 0xff
	if err := b.WriteAll(ctx, "snap/"+oldest.Name, data, nil); err != nil {
		t.Fatal(err)
	}

	metrics := &recorder{}
	scrub, err := NewScrubJob(ScrubOptions{Name: "scrub", Stores: []store.Store{local, remote}, Owners: []string{"snap"},
		Sample: Sample{All: true}, Interval: time.Hour, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	startJob(t, scrub)
	rep := wakeAndWait(t, scrub)
	if got := metrics.results(); rep.Result != controlapi.ResultFailure || got != "failure/"+ReasonVerification {
		t.Fatalf("scrub of two rotted copies: %s %q (metrics %s), want failure/verification", rep.Result, rep.Error, got)
	}
	if s := rep.Scrub; s == nil || s.Checked != 6 || s.Failed != 2 || s.Total != 6 || len(s.Failures) != 2 {
		t.Fatalf("scrub summary %+v (warnings %q), want 6 checked, 2 failed", rep.Scrub, rep.Warnings)
	}
	if metrics.scrubbed != [2]int{4, 2} {
		t.Errorf("scrub metrics ok/rotted = %v, want [4 2]", metrics.scrubbed)
	}

	got, err := local.Get(ctx, newest.Name)
	if err != nil || got.Verified || got.VerifyError == "" {
		t.Fatalf("rotted local copy recorded as %+v (%v), want unverified with the reason", got, err)
	}
	if got, err := remote.Get(ctx, oldest.Name); err != nil || got.Verified || got.VerifyError == "" {
		t.Fatalf("rotted remote copy recorded as %+v (%v), want unverified with the reason", got, err)
	}
	entries, _, _ = local.List(ctx)
	good, ok := retention.NewestVerified(retention.FromEntries(entries), time.Now())
	if !ok || good.Name == newest.Name {
		t.Fatalf("newest good snapshot after the scrub: %+v (%v), want one older than the rotted %s", good, ok, newest.Name)
	}
	metrics.mu.Lock()
	defer metrics.mu.Unlock()
	for _, st := range []store.Store{local, remote} {
		if sum := metrics.storeSums[st.Location()]; sum.Snapshots != 3 || sum.Unverified != 1 {
			t.Errorf("summary of %s: %+v, want 3 snapshots, 1 unverified", st.Location(), sum)
		}
	}
}

// TestScrubSampleOldestVerifiedFirst: a sample reads the snapshots verified
// longest ago (never verified first), so that runs cover the whole store.
func TestScrubSampleOldestVerifiedFirst(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC) }
	entries := []store.Entry{
		{Name: "a", Index: 1, VerifiedAt: at(5)},
		{Name: "b", Index: 2, VerifiedAt: at(1)},
		{Name: "c", Index: 3},
		{Name: "d", Index: 4, VerifiedAt: at(3)},
	}
	names := func(es []store.Entry) string {
		var s []string
		for _, e := range es {
			s = append(s, e.Name)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		sample Sample
		want   string
	}{
		{Sample{All: true}, "c,b,d,a"},
		{Sample{Count: 2}, "c,b"},
		{Sample{Count: 9}, "c,b,d,a"},
		{Sample{Fraction: 0.1}, "c"}, // at least one
		{Sample{Fraction: 0.5}, "c,b"},
	} {
		if got := names(pickForScrub(entries, tc.sample)); got != tc.want {
			t.Errorf("sample %+v picked %s, want %s", tc.sample, got, tc.want)
		}
	}
}
