package daemon

import (
	"log/slog"
	"sync"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/daemon/job"
)

// drillTrigger wakes the drill jobs that run after every Nth snapshot of
// their from_job (after_snapshots). It hears every finished run through
// the metrics (metrics.Reported), as the notifications do, so that
// neither job needs to know of the other; the jobs are looked up by name
// when a drill is due, so a reload that replaced one is followed.
type drillTrigger struct {
	logger *slog.Logger
	lookup func(name string) (job.Job, bool)

	mu sync.Mutex
	// drills maps a snapshot job to the drill jobs counting its snapshots.
	drills map[string][]drillAfter
	// counts are the snapshots stored since each drill job was last woken
	// by them (restarted at a reload that changes its settings).
	counts map[string]int
}

type drillAfter struct {
	name  string
	every int
}

func newDrillTrigger(logger *slog.Logger, lookup func(string) (job.Job, bool)) *drillTrigger {
	return &drillTrigger{logger: logger, lookup: lookup, drills: map[string][]drillAfter{}, counts: map[string]int{}}
}

// configure reads the drill jobs of cfg; counts of drills that keep their
// source and period carry over.
func (t *drillTrigger) configure(cfg *config.Config) {
	if t == nil {
		return
	}
	drills := map[string][]drillAfter{}
	counts := map[string]int{}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, j := range cfg.Jobs {
		if j.Type != config.JobDrill || j.AfterSnapshots < 1 || j.FromJob == "" {
			continue
		}
		d := drillAfter{name: j.Name, every: j.AfterSnapshots}
		drills[j.FromJob] = append(drills[j.FromJob], d)
		for _, old := range t.drills[j.FromJob] {
			if old == d {
				counts[j.Name] = t.counts[j.Name]
			}
		}
	}
	t.drills, t.counts = drills, counts
}

// runFinished counts a snapshot job's stored snapshot and wakes each drill
// job whose count it completes.
func (t *drillTrigger) runFinished(jobName, jobType string, rep controlapi.RunReport) {
	if t == nil || jobType != config.JobSnapshot || rep.Result != controlapi.ResultSuccess || rep.Snapshot == "" {
		return
	}
	var due []drillAfter
	t.mu.Lock()
	for _, d := range t.drills[jobName] {
		t.counts[d.name]++
		if t.counts[d.name] >= d.every {
			t.counts[d.name] = 0
			due = append(due, d)
		}
	}
	t.mu.Unlock()
	for _, d := range due {
		j, ok := t.lookup(d.name)
		if !ok {
			continue
		}
		// A drill in progress gets one more run queued, never more.
		if _, queued, err := j.Wakeup(); err != nil {
			t.logger.Warn("cannot start the drill due after snapshots", "job", d.name, "after_snapshots", d.every, "snapshot_job", jobName, "err", err)
		} else {
			t.logger.Info("drill due after snapshots", "job", d.name, "after_snapshots", d.every, "snapshot_job", jobName, "snapshot", rep.Snapshot, "queued", queued)
		}
	}
}
