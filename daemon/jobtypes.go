package daemon

import (
	"fmt"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/buildinfo"
	"github.com/raftsnap/raftsnap/daemon/job"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// jobBuildFunc turns one configured job into a running one. st is the job's
// opened store; newSource builds its source (snapshot jobs) or target
// (restore jobs).
type jobBuildFunc func(b *jobBuilder, c *config.Job, st store.Store, newSource func() (source.Source, error)) (job.Job, error)

// jobBuilders has one builder per config.JobTypes entry (a test checks
// that none is missing).
var jobBuilders = map[string]jobBuildFunc{
	config.JobSnapshot: func(b *jobBuilder, c *config.Job, st store.Store, newSource func() (source.Source, error)) (job.Job, error) {
		src, err := newSource()
		if err != nil {
			return nil, err
		}
		policy, err := c.Pruning.Policy()
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", c.Name, err)
		}
		return job.NewSnapshotJob(job.SnapshotOptions{
			Name: c.Name, Source: src, Store: st,
			Interval: c.Interval.Std(), Jitter: c.Jitter.Std(), Timeout: c.Timeout.Std(),
			Retries: job.RetryPolicy{
				Max:        c.Retries.Max,
				Initial:    c.Retries.InitialBackoff.Std(),
				MaxBackoff: c.Retries.MaxBackoff.Std(),
			},
			Policy: policy, Logger: b.logger, Metrics: b.metrics,
			OnClusterChange: c.OnClusterChange,
			Hooks:           hooksOf(c),
		})
	},
	config.JobPrune: func(b *jobBuilder, c *config.Job, st store.Store, _ func() (source.Source, error)) (job.Job, error) {
		policy, err := c.Pruning.Policy()
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", c.Name, err)
		}
		return job.NewPruneJob(job.PruneOptions{
			Name: c.Name, Store: st, Interval: c.Interval.Std(), Jitter: c.Jitter.Std(),
			Policy: policy, Owners: c.Owners, Logger: b.logger, Metrics: b.metrics,
		})
	},
	config.JobRestore: func(b *jobBuilder, c *config.Job, st store.Store, newSource func() (source.Source, error)) (job.Job, error) {
		target, err := newSource()
		if err != nil {
			return nil, err
		}
		return job.NewRestoreJob(job.RestoreOptions{
			Name: c.Name, Store: st, Snapshot: c.Snapshot, FromJob: c.FromJob,
			Target: target, SkipFlavorCheck: c.SkipFlavorCheck, Timeout: c.Timeout.Std(), Logger: b.logger, Metrics: b.metrics,
		})
	},
	config.JobDrill: drillBuilder,
}

// drillBuilder builds a drill job; it has no source (it starts its own
// server).
func drillBuilder(b *jobBuilder, c *config.Job, st store.Store, _ func() (source.Source, error)) (job.Job, error) {
	return job.NewDrillJob(job.DrillOptions{
		Name: c.Name, Store: st, FromJob: c.FromJob, Binary: c.Binary,
		Interval: c.Interval.Std(), Jitter: c.Jitter.Std(), Timeout: c.Timeout.Std(),
		UserAgent: buildinfo.UserAgent(), Logger: b.logger, Metrics: b.metrics,
	})
}

// hooksOf is a job's hooks as the job takes them.
func hooksOf(c *config.Job) []job.Hook {
	var hooks []job.Hook
	for _, h := range c.Hooks {
		hooks = append(hooks, job.Hook{Path: h.Path, Args: h.Args, Timeout: h.Timeout.Std(), ErrIsFatal: h.ErrIsFatal, PassToken: h.PassToken})
	}
	return hooks
}
