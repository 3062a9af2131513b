package daemon

import (
	"fmt"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/buildinfo"
	"github.com/raftsnap/raftsnap/daemon/job"
	"github.com/raftsnap/raftsnap/snapshot/retention"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// jobBuildFunc turns one configured job into a running one. stores are the
// job's opened stores (several for a snapshot job with stores:, or a job
// reading from such a job); newSource builds its source (snapshot jobs) or
// target (restore jobs).
type jobBuildFunc func(b *jobBuilder, c *config.Job, stores []job.JobStore, newSource func() (source.Source, error)) (job.Job, error)

// jobBuilders has one builder per config.JobTypes entry (a test checks
// that none is missing).
var jobBuilders = map[string]jobBuildFunc{
	config.JobSnapshot: func(b *jobBuilder, c *config.Job, stores []job.JobStore, newSource func() (source.Source, error)) (job.Job, error) {
		src, err := newSource()
		if err != nil {
			return nil, err
		}
		// A job whose every store has its own retention has no pruning
		// of its own.
		var policy retention.Planner
		if c.Pruning != nil {
			p, err := c.Pruning.Policy()
			if err != nil {
				return nil, fmt.Errorf("job %s: %w", c.Name, err)
			}
			policy = p
		}
		return job.NewSnapshotJob(job.SnapshotOptions{
			Name: c.Name, Source: src, Stores: stores,
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
	config.JobPrune: func(b *jobBuilder, c *config.Job, stores []job.JobStore, _ func() (source.Source, error)) (job.Job, error) {
		policy, err := c.Pruning.Policy()
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", c.Name, err)
		}
		return job.NewPruneJob(job.PruneOptions{
			Name: c.Name, Store: job.StoreView(stores), Interval: c.Interval.Std(), Jitter: c.Jitter.Std(),
			Policy: policy, Owners: c.Owners, Logger: b.logger, Metrics: b.metrics,
		})
	},
	config.JobRestore: func(b *jobBuilder, c *config.Job, stores []job.JobStore, newSource func() (source.Source, error)) (job.Job, error) {
		target, err := newSource()
		if err != nil {
			return nil, err
		}
		return job.NewRestoreJob(job.RestoreOptions{
			Name: c.Name, Store: job.StoreView(stores), Snapshot: c.Snapshot, FromJob: c.FromJob,
			Target: target, SkipFlavorCheck: c.SkipFlavorCheck, Timeout: c.Timeout.Std(), Logger: b.logger, Metrics: b.metrics,
		})
	},
	config.JobScrub: func(b *jobBuilder, c *config.Job, stores []job.JobStore, _ func() (source.Source, error)) (job.Job, error) {
		owners := c.Owners
		if c.FromJob != "" {
			owners = []string{c.FromJob}
		}
		list := make([]store.Store, len(stores))
		for i, js := range stores {
			list[i] = js.Store
		}
		s := c.ScrubSample()
		return job.NewScrubJob(job.ScrubOptions{
			Name: c.Name, Stores: list, Owners: owners,
			Sample:   job.Sample{All: s.All, Fraction: s.Fraction, Count: s.Count},
			Interval: c.Interval.Std(), Jitter: c.Jitter.Std(), Timeout: c.Timeout.Std(),
			Logger: b.logger, Metrics: b.metrics,
		})
	},
	config.JobDrill: drillBuilder,
}

// drillBuilder builds a drill job; it has no source (it starts its own
// server).
func drillBuilder(b *jobBuilder, c *config.Job, stores []job.JobStore, _ func() (source.Source, error)) (job.Job, error) {
	return job.NewDrillJob(job.DrillOptions{
		Name: c.Name, Store: job.StoreView(stores), FromJob: c.FromJob, Binary: c.Binary,
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
