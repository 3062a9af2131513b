package job

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// TestRestoreTimeoutCountsAsFailure: a restore that runs past its timeout
// failed (the alert on raftsnap_restores_total{result="failure"} must
// fire); only a reset or a shutdown makes it "canceled". The target stands
// in for a server that takes the upload and never answers.
func TestRestoreTimeoutCountsAsFailure(t *testing.T) {
	st, _ := snapshotOfOneNode(t, "k", "v")

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
	st := storetest.Local(t)
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
