package job

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// TestRestoreJobRefusesAnotherSystemsSnapshot (issue 12, item 5): a restore
// job whose Consul target would be sent a Nomad snapshot fails with reason
// wrong_flavor before making a request, and the snapshot keeps its verdict;
// skip_flavor_check sends it.
func TestRestoreJobRefusesAnotherSystemsSnapshot(t *testing.T) {
	st := storetest.Local(t)
	// A small valid snapshot whose state is Nomad-shaped (an empty msgpack
	// header map).
	e := storetest.CommitState(t, st, "nomad-main", 3, 40, time.Now(), testkit.Noise([]byte{0x80}, 600, 1))
	var requests, received atomic.Int64
	consul := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		n, _ := io.Copy(io.Discard, r.Body)
		received.Store(n)
	}))
	defer consul.Close()
	target, err := source.New(source.Config{Kind: source.Consul, Address: consul.URL})
	if err != nil {
		t.Fatal(err)
	}
	metrics := &recorder{}
	rj, err := NewRestoreJob(RestoreOptions{Name: "to-consul", Store: st, Target: target, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	startJob(t, rj)
	rep := wakeAndWait(t, rj)
	if rep.Result != controlapi.ResultFailure || !strings.Contains(rep.Error, "it is a Nomad snapshot, not a Consul snapshot") ||
		!strings.Contains(rep.Error, "nothing was sent (skip_flavor_check: true in this job sends it anyway)") || requests.Load() != 0 {
		t.Fatalf("restore of a Nomad snapshot into Consul: %+v (%d requests)", rep, requests.Load())
	}
	if got := metrics.results(); got != "failure/wrong_flavor" {
		t.Fatalf("metrics %q", got)
	}
	if got, _ := st.Get(context.Background(), e.Name); !got.Verified {
		t.Fatal("a refused flavour marked a good snapshot unverified")
	}

	forced, err := NewRestoreJob(RestoreOptions{Name: "forced", Store: st, Target: target, SkipFlavorCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	startJob(t, forced)
	if rep := wakeAndWait(t, forced); rep.Result != controlapi.ResultSuccess || requests.Load() != 1 || received.Load() != e.Size {
		t.Fatalf("skip_flavor_check: %+v; %d requests, %d of %d bytes received", rep, requests.Load(), received.Load(), e.Size)
	}
}

// TestRestoreJobFileChangedWhileSent is issue 12's "restore sends bytes
// that were never verified", for the restore job: the stored file changes
// in place while the upload is held mid-way. The run fails with reason
// verification, the sidecar no longer says verified, and the target's
// state is what it was.
func TestRestoreJobFileChangedWhileSent(t *testing.T) {
	src, srcLeader := startCluster(t, 1)
	raftcluster.Fill(t, src, 32)
	raftcluster.Put(t, src, "color", "blue")
	st := storetest.Local(t)
	taken := *takeSnapshots(t, "src", raftSource(t, srcLeader.HTTPAddr), st, 1).Status().LastRun
	if taken.Result != controlapi.ResultSuccess || taken.Bytes < 12<<20 {
		t.Fatalf("snapshot %+v: want one of at least 12 MiB", taken)
	}
	target, targetLeader := startCluster(t, 1)
	raftcluster.Put(t, target, "color", "red")

	proxy := testkit.NewProxy(t, targetLeader.HTTPAddr)
	release := make(chan struct{})
	proxy.Set(testkit.Fault{HoldUploadAfter: 1 << 20, ReleaseUpload: release})
	metrics := &recorder{}
	rj, err := NewRestoreJob(RestoreOptions{Name: "back", Store: st, FromJob: "src", Target: raftSource(t, proxy.URL), Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	startJob(t, rj)
	ch, _, err := rj.Wakeup()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-proxy.UploadHeld():
	case rep := <-ch:
		t.Fatalf("the restore ended before the upload was held: %+v", rep)
	}
	// Past what the job can have read while held (see the CLI's test).
	testkit.SpoilAt(t, st.Dir()+"/"+taken.Snapshot, taken.Bytes-3<<20, 64<<10)
	close(release)
	rep := awaitReport(t, ch)
	if rep.Result != controlapi.ResultFailure || !strings.Contains(rep.Error, "fails verification") || !strings.Contains(rep.Error, "the upload was cut after") {
		t.Fatalf("restore of a file changed while sent: %+v", rep)
	}
	if got := metrics.results(); got != "failure/verification" {
		t.Fatalf("metrics %q", got)
	}
	if got, _ := st.Get(context.Background(), taken.Snapshot); got.Verified {
		t.Fatal("the changed snapshot is still recorded verified")
	}
	if v, _, _ := target.Get(context.Background(), "color"); v != "red" {
		t.Fatalf("the target changed: color = %q", v)
	}
}
