package daemon

import (
	"log/slog"
	"testing"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/daemon/job"
	"github.com/raftsnap/raftsnap/internal/testkit/fakejobs"
)

// wakeCounter is a drill job that counts its wakeups.
type wakeCounter struct {
	fakejobs.Base
	wakeups int
}

func (w *wakeCounter) Status() controlapi.JobStatus { return controlapi.JobStatus{Name: w.JobName} }
func (w *wakeCounter) Wakeup() (<-chan controlapi.RunReport, bool, error) {
	w.wakeups++
	return nil, false, nil
}

func drillConfig(every int) *config.Config {
	return &config.Config{Jobs: []config.Job{
		{Name: "snap", Type: config.JobSnapshot},
		{Name: "drill", Type: config.JobDrill, FromJob: "snap", AfterSnapshots: every},
		{Name: "manual", Type: config.JobDrill, FromJob: "snap"},
	}}
}

func TestDrillTriggerCountsStoredSnapshots(t *testing.T) {
	drill := &wakeCounter{Base: fakejobs.Base{JobName: "drill", JobType: config.JobDrill}}
	manual := &wakeCounter{Base: fakejobs.Base{JobName: "manual", JobType: config.JobDrill}}
	jobs := map[string]job.Job{"drill": drill, "manual": manual}
	tr := newDrillTrigger(slog.New(slog.DiscardHandler), func(name string) (job.Job, bool) { j, ok := jobs[name]; return j, ok })
	tr.configure(drillConfig(3))

	stored := controlapi.RunReport{Result: controlapi.ResultSuccess, Snapshot: "snap-1.snap"}
	for _, rep := range []controlapi.RunReport{
		{Result: controlapi.ResultFailure}, // a failed run stores nothing
		{Result: controlapi.ResultSuccess}, // nor does a run that stored no snapshot
		stored, stored,
	} {
		tr.runFinished("snap", config.JobSnapshot, rep)
	}
	tr.runFinished("other", config.JobSnapshot, stored) // another job's snapshot
	tr.runFinished("snap", config.JobPrune, stored)     // not a snapshot job
	if drill.wakeups != 0 {
		t.Fatalf("woken after two snapshots of three: %d", drill.wakeups)
	}
	tr.runFinished("snap", config.JobSnapshot, stored)
	if drill.wakeups != 1 || manual.wakeups != 0 {
		t.Fatalf("after three snapshots: drill woken %d times, manual %d", drill.wakeups, manual.wakeups)
	}

	// A reload that keeps the drill's settings keeps its count; one that
	// changes them starts again.
	tr.runFinished("snap", config.JobSnapshot, stored)
	tr.configure(drillConfig(3))
	tr.runFinished("snap", config.JobSnapshot, stored)
	tr.runFinished("snap", config.JobSnapshot, stored)
	if drill.wakeups != 2 {
		t.Fatalf("count lost across an unchanged reload: %d wakeups", drill.wakeups)
	}
	tr.runFinished("snap", config.JobSnapshot, stored)
	tr.configure(drillConfig(2))
	tr.runFinished("snap", config.JobSnapshot, stored)
	if drill.wakeups != 2 {
		t.Fatalf("count kept across a reload that changed after_snapshots: %d wakeups", drill.wakeups)
	}
	tr.runFinished("snap", config.JobSnapshot, stored)
	if drill.wakeups != 3 {
		t.Fatalf("after_snapshots 2 after the reload: %d wakeups", drill.wakeups)
	}
}
