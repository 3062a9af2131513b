package job

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// TestCatchUpDistrustsAFutureDatedSnapshot: a snapshot written while the
// clock ran 30 days ahead made an hourly job wait 30 days after a restart,
// with nothing in the log. Its date is reported (log and status) and the
// next run is due one interval from now; a sound date still schedules as
// before.
func TestCatchUpDistrustsAFutureDatedSnapshot(t *testing.T) {
	now := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		created time.Time
		next    time.Time
		warns   bool
	}{
		{"dated 30 days ahead", now.Add(30 * 24 * time.Hour), now.Add(time.Hour), true},
		{"taken 10 minutes ago", now.Add(-10 * time.Minute), now.Add(50 * time.Minute), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := storetest.Local(t)
			snap := storetest.Commit(t, st, "snap", 1, 10, c.created)
			var logs bytes.Buffer
			j, err := NewSnapshotJob(SnapshotOptions{
				Name: "snap", Source: closedPortSource(t), Store: st, Interval: time.Hour,
				Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			runNow, next := j.catchUp(context.Background())
			if runNow || !next.Equal(c.next) {
				t.Fatalf("catch-up: runNow=%v next=%v; want the next run at %v", runNow, next, c.next)
			}
			warned := strings.Contains(logs.String(), "level=WARN")
			store := j.Status().Store
			if store == nil {
				t.Fatal("no store summary in the status")
			}
			if !c.warns {
				if warned || len(store.Warnings) > 0 {
					t.Fatalf("warned about a sound date: log %q, status %q", logs.String(), store.Warnings)
				}
				return
			}
			for _, want := range []string{"the newest snapshot is dated in the future", "snapshot=" + snap.Name, "ahead=720h0m0s"} {
				if !warned || !strings.Contains(logs.String(), want) {
					t.Errorf("log lacks a warning with %q:\n%s", want, logs.String())
				}
			}
			if len(store.Warnings) != 1 || !strings.Contains(store.Warnings[0], snap.Name+" is dated 720h0m0s in the future") {
				t.Errorf("status store warnings %q, want one naming %s and how far ahead it is", store.Warnings, snap.Name)
			}
		})
	}
}

// recordingTarget is a loopback server speaking the raft source's restore
// API; sent returns the SHA-256 of the last archive it received.
func recordingTarget(t *testing.T) (target source.Source, sent func() string) {
	t.Helper()
	var mu sync.Mutex
	var sum string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		if _, err := io.Copy(h, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		sum = hex.EncodeToString(h.Sum(nil))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return raftSource(t, srv.URL), func() string {
		mu.Lock()
		defer mu.Unlock()
		return sum
	}
}

// TestNewestByRaftPositionIsTheSameEverywhere: an older snapshot (lower
// raft index) dated in the future, written while the clock ran ahead,
// beside a current, newer one. Pruning named the newer one "newest
// verified" while restore "latest" sent the older one. Restore, pruning and
// the status now all take the newer one.
func TestNewestByRaftPositionIsTheSameEverywhere(t *testing.T) {
	st := storetest.Local(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	older := storetest.Commit(t, st, "snap", 2, 100, now.Add(2*time.Hour))
	newer := storetest.Commit(t, st, "snap", 2, 200, now.Add(-10*time.Minute))

	target, sent := recordingTarget(t)
	rj, err := NewRestoreJob(RestoreOptions{Name: "back", Store: st, FromJob: "snap", Target: target, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	startJob(t, rj)
	rep := wakeAndWait(t, rj)
	if rep.Result != controlapi.ResultSuccess || rep.Snapshot != newer.Name || sent() != newer.SHA256 {
		t.Fatalf("restore latest: %+v, sent sha256 %s; want %s (sha256 %s)", rep, sent(), newer.Name, newer.SHA256)
	}
	if s := rj.Status().Store; s == nil || s.Newest != newer.Name || !s.NewestAt.Equal(newer.CreatedAt) || len(s.Warnings) > 0 {
		t.Fatalf("status store summary %+v, want newest %s without warnings", s, newer.Name)
	}

	pj, err := NewPruneJob(PruneOptions{Name: "prune", Store: st, Interval: time.Hour, Policy: lastN(t, 1), Owners: []string{"snap"}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	startJob(t, pj)
	prune := wakeAndWait(t, pj)
	if prune.Result != controlapi.ResultSuccess || prune.Pruning == nil {
		t.Fatalf("prune run %+v", prune)
	}
	var got []string
	for _, d := range pj.Status().Pruning.Decisions {
		got = append(got, fmt.Sprintf("%s %v %s", d.Snapshot, d.Keep, strings.Join(d.Reasons, "; ")))
	}
	want := []string{newer.Name + " true newest verified; last 1", older.Name + " true future-dated (clock skew)"}
	if !slices.Equal(got, want) {
		t.Fatalf("pruning decisions\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRestoreLatestPassesOverAFutureDatedSnapshot: "latest" is the newest
// verified snapshot whose date can be trusted, as pruning protects it; a
// newer one dated in the future is passed over, and the run says so.
func TestRestoreLatestPassesOverAFutureDatedSnapshot(t *testing.T) {
	st := storetest.Local(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	current := storetest.Commit(t, st, "snap", 2, 100, now.Add(-time.Hour))
	ahead := storetest.Commit(t, st, "snap", 2, 200, now.Add(3*time.Hour))

	target, sent := recordingTarget(t)
	rj, err := NewRestoreJob(RestoreOptions{Name: "back", Store: st, Target: target, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	startJob(t, rj)
	rep := wakeAndWait(t, rj)
	if rep.Result != controlapi.ResultSuccess || rep.Snapshot != current.Name || sent() != current.SHA256 {
		t.Fatalf("restore latest: %+v; want %s", rep, current.Name)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "passed over "+ahead.Name+", newer but dated 3h0m0s in the future") {
		t.Fatalf("run warnings %q, want one naming %s", rep.Warnings, ahead.Name)
	}
}
