package job

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/daemon/pruning"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// TestPruningReverifiesTheSnapshotItProtects: the newest snapshot's sidecar
// says "verified", but its file has rotted since. A policy keeping only the
// newest must not destroy the older, good snapshot on the sidecar's word:
// the pass stops before destroying anything and marks the bad one
// unverified; the next pass protects the good one and removes the bad.
func TestPruningReverifiesTheSnapshotItProtects(t *testing.T) {
	st, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	commitArchive := func(index uint64, at time.Time) store.Entry {
		t.Helper()
		state := bytes.Repeat([]byte("state bytes "), 1000)
		var archive bytes.Buffer
		meta := &raft.SnapshotMeta{Version: 1, ID: "1-" + strings.Repeat("9", int(index)) + "-1", Index: index, Term: 1, Size: int64(len(state))}
		if _, err := snapshot.Write(&archive, meta, bytes.NewReader(state)); err != nil {
			t.Fatal(err)
		}
		p, err := st.Create(context.Background(), "snap")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write(archive.Bytes()); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(archive.Bytes())
		e, err := p.Commit(context.Background(), store.Entry{CreatedAt: at, Index: index, Term: 1, Verified: true, SHA256: hex.EncodeToString(sum[:])})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	good := commitArchive(5, now.Add(-2*time.Hour))
	rotten := commitArchive(6, now.Add(-time.Hour))

	// Bit rot in the newest archive: same size, one byte changed.
	data, err := os.ReadFile(rotten.Path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(rotten.Path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	lastOne, err := pruning.NewLastN(1)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := pruning.NewPolicy(lastOne)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	sum, err := pruneStore(context.Background(), st, policy, ownedBy("snap"), now, "", logger)
	if err == nil || !strings.Contains(err.Error(), "nothing destroyed") || !strings.Contains(err.Error(), rotten.Name) {
		t.Fatalf("first pass: want it to stop on the rotten newest snapshot, got %v (summary %+v)", err, sum)
	}
	for _, e := range []store.Entry{good, rotten} {
		if _, err := os.Stat(e.Path); err != nil {
			t.Fatalf("first pass destroyed %s: %v", e.Name, err)
		}
	}
	if e, err := st.Get(context.Background(), rotten.Name); err != nil || e.Verified {
		t.Fatalf("the rotten snapshot's sidecar should now say unverified: %+v, %v", e, err)
	}

	if _, err := pruneStore(context.Background(), st, policy, ownedBy("snap"), now, "", logger); err != nil {
		t.Fatalf("second pass: %v", err)
	}
	if _, err := os.Stat(good.Path); err != nil {
		t.Fatalf("the good snapshot was destroyed: %v", err)
	}
	if _, err := os.Stat(rotten.Path); !os.IsNotExist(err) {
		t.Fatalf("the rotten, unverified snapshot should be gone after the second pass: %v", err)
	}
}

// TestRestoreTimeoutCountsAsFailure: a restore that runs past its timeout
// failed (the alert on raftsnap_restores_total{result="failure"} must
// fire); only a reset or a shutdown makes it "canceled". The target stands
// in for a server that takes the upload and never answers.
func TestRestoreTimeoutCountsAsFailure(t *testing.T) {
	ctx := testContext(t)
	srcCluster, srcLeader := startCluster(t, 1)
	if err := srcCluster.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	takeSnapshots(t, "src", raftSource(t, srcLeader.HTTPAddr), st, 1)

	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer hang.Close()
	metrics := &recorder{}
	rj, err := NewRestoreJob(RestoreOptions{Name: "back", Store: st, FromJob: "src", Target: raftSource(t, hang.URL),
		Timeout: 300 * time.Millisecond, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	startJob(t, rj)
	rep := wakeAndWait(t, rj)
	if rep.Result != controlapi.ResultFailure {
		t.Fatalf("timed-out restore: %+v", rep)
	}
	metrics.mu.Lock()
	defer metrics.mu.Unlock()
	if len(metrics.restores) != 1 || metrics.restores[0] != controlapi.ResultFailure {
		t.Fatalf("restore metric results %v, want [failure]", metrics.restores)
	}
}

// TestWakeupAfterStopIsRefused: once a job's Run has returned for good (a
// reload replaced it, or the daemon is stopping), a wakeup is refused
// instead of being accepted and never served.
func TestWakeupAfterStopIsRefused(t *testing.T) {
	st := openStore(t)
	rj, err := NewRestoreJob(RestoreOptions{Name: "back", Store: st, Target: closedPortSource(t)})
	if err != nil {
		t.Fatal(err)
	}
	stop := startJob(t, rj)
	stop()
	if _, _, err := rj.Wakeup(); !errors.Is(err, ErrStopped) {
		t.Fatalf("Wakeup after the job stopped: %v, want ErrStopped", err)
	}
}
