package job

import (
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
)

// Metrics receives what the jobs measure; the daemon implements it with
// Prometheus. Every method must be cheap and safe for concurrent use.
type Metrics interface {
	// RunFinished is called once per run; reason is "" on success, else one
	// of the Reason* constants.
	RunFinished(job, jobType string, result controlapi.Result, reason string, d time.Duration, bytes int64)
	LastAttempt(job string, t time.Time)
	LastSuccess(job string, t time.Time)
	// StoreStats reports the snapshots the job sees in its store (snapshot
	// jobs: its own; prune and restore jobs: those they consider).
	StoreStats(job string, count int, bytes int64)
	// Pruned reports a pass: what it destroyed, and how many files of the
	// store are no job's snapshot (ignored, never pruned).
	Pruned(job string, destroyed, foreign int)
	RestoreFinished(job string, result controlapi.Result)
	// Reported hears every finished run's report (for notifications).
	Reported(job, jobType string, rep controlapi.RunReport)
	// NextRun is when the job's next scheduled run starts; nil when none
	// is scheduled (a restore job, a stopped job).
	NextRun(job string, t *time.Time)
	// SourceReady tells whether the job's source or target settings (its
	// token, its TLS files) can be read now.
	SourceReady(job string, ready bool)
}

type noMetrics struct{}

func (noMetrics) RunFinished(string, string, controlapi.Result, string, time.Duration, int64) {}
func (noMetrics) LastAttempt(string, time.Time)                                               {}
func (noMetrics) LastSuccess(string, time.Time)                                               {}
func (noMetrics) StoreStats(string, int, int64)                                               {}
func (noMetrics) Pruned(string, int, int)                                                     {}
func (noMetrics) RestoreFinished(string, controlapi.Result)                                   {}
func (noMetrics) Reported(string, string, controlapi.RunReport)                               {}
func (noMetrics) NextRun(string, *time.Time)                                                  {}
func (noMetrics) SourceReady(string, bool)                                                    {}
