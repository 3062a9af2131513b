package daemon

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit"

	"github.com/raftsnap/raftsnap/daemon/job"
)

// crashingJob panics on its first runs; it stands in for a job with a bug,
// a fault no real job produces on demand.
type crashingJob struct {
	name      string
	panics    int32 // how many runs panic before one stays up
	runs      atomic.Int32
	stayingUp chan struct{}
}

// awaitStayingUp waits until each of jobs has a run that stayed up.
func awaitStayingUp(t *testing.T, jobs ...*crashingJob) {
	t.Helper()
	for _, j := range jobs {
		select {
		case <-j.stayingUp:
		case <-time.After(testkit.DefaultWait):
			t.Fatalf("job %s never stayed up", j.name)
		}
	}
}

func (j *crashingJob) Name() string { return j.name }
func (j *crashingJob) Type() string { return "snapshot" }
func (j *crashingJob) Run(ctx context.Context) {
	if j.runs.Add(1) <= j.panics {
		var m map[string]int
		m["boom"]++ // a nil-map write: a real runtime panic
	}
	close(j.stayingUp)
	<-ctx.Done()
}
func (j *crashingJob) Status() controlapi.JobStatus {
	return controlapi.JobStatus{Name: j.name, Type: "snapshot", State: controlapi.StateWaiting}
}
func (j *crashingJob) Wakeup() (<-chan controlapi.RunReport, bool, error) { return nil, false, nil }
func (j *crashingJob) Reset() error                                       { return nil }
func (j *crashingJob) Abort()                                             {}

func TestSupervisorRestartsCrashedJobAndKeepsOthers(t *testing.T) {
	bad := &crashingJob{name: "bad", panics: 2, stayingUp: make(chan struct{})}
	good := &crashingJob{name: "good", stayingUp: make(chan struct{})}
	s := newSupervisor([]job.Job{bad, good}, slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
	s.backoffFirst, s.backoffMax = time.Millisecond, 4*time.Millisecond

	ctx, cancel := context.WithCancel(context.Background())
	s.start(ctx)
	awaitStayingUp(t, good, bad)
	if got := bad.runs.Load(); got != 3 {
		t.Fatalf("bad job ran %d times, want 2 crashes + 1 run", got)
	}
	if got := good.runs.Load(); got != 1 {
		t.Fatalf("good job ran %d times, want 1 (it must not be disturbed)", got)
	}
	st := s.Status(true)
	if st.Schema != controlapi.SchemaVersion || len(st.Jobs) != 2 {
		t.Fatalf("status: %+v", st)
	}
	if st.Jobs[0].Crashes != 2 || st.Jobs[0].LastCrash == "" || st.Jobs[1].Crashes != 0 {
		t.Fatalf("crash accounting: %+v", st.Jobs)
	}
	cancel()
	if err := s.wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}
