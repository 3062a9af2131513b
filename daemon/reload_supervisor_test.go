package daemon

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/job"
)

// TestSupervisorReplace: the job kept is not restarted, the removed one
// stops and its crash count goes, the changed one (same name, new job)
// replaces the old after it stopped and keeps the name's crash count.
func TestSupervisorReplace(t *testing.T) {
	kept := &crashingJob{name: "kept", stayingUp: make(chan struct{})}
	removed := &crashingJob{name: "removed", panics: 1, stayingUp: make(chan struct{})}
	changedOld := &crashingJob{name: "changed", panics: 1, stayingUp: make(chan struct{})}
	s := newSupervisor([]job.Job{kept, removed, changedOld}, slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
	s.backoffFirst, s.backoffMax = time.Millisecond, time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.start(ctx)
	awaitStayingUp(t, kept, removed, changedOld)

	changedNew := &crashingJob{name: "changed", stayingUp: make(chan struct{})}
	added := &crashingJob{name: "added", stayingUp: make(chan struct{})}
	if stuck := s.replace([]job.Job{added, changedNew, kept}, 10*time.Second); len(stuck) != 0 {
		t.Fatalf("jobs did not stop: %v", stuck)
	}
	awaitStayingUp(t, changedNew, added)
	if got := kept.runs.Load(); got != 1 {
		t.Errorf("the kept job ran %d times, want 1 (untouched)", got)
	}
	if got, want := s.JobNames(), []string{"added", "changed", "kept"}; !slices.Equal(got, want) {
		t.Errorf("jobs %v, want %v", got, want)
	}
	if j, ok := s.Job("changed"); !ok || j != changedNew {
		t.Errorf("Job(changed) = %v, want the new job", j)
	}
	if _, ok := s.Job("removed"); ok {
		t.Error("the removed job is still signalable")
	}
	st := s.Status(true)
	if c := st.Jobs[1]; c.Name != "changed" || c.Crashes != 1 {
		t.Errorf("changed job's crash count %+v, want 1 kept", c)
	}
	s.mu.Lock()
	_, stillCounted := s.crashes["removed"]
	s.mu.Unlock()
	if stillCounted {
		t.Error("the removed job's crashes are still counted")
	}
	cancel()
	if err := s.wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}
