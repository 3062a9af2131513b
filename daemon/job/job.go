// Package job defines raftsnap's jobs (snapshot, prune, restore), the plain
// status reports they give, and the runner that schedules them, queues
// signals and records their history.
package job

import (
	"context"
	"errors"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
)

// Job is one configured job. Run is called by the supervisor and returns
// only when ctx is done (or it panics, and is restarted). A run in progress
// when ctx ends is let finish (no new run starts, no retry is attempted);
// Abort cancels it.
type Job interface {
	Name() string
	Type() string
	Run(ctx context.Context)
	// Abort cancels the run in progress, if any, as a shutdown does once
	// its grace period is over; the run removes what it wrote.
	Abort()
	// Status returns a copy; it is safe to call from any goroutine.
	Status() controlapi.JobStatus
	// Wakeup asks for a run now. If a run is in progress, one more run is
	// queued (never more than one) and queued is true. The returned
	// channel, if the caller waits on it, receives the report of the run
	// this wakeup caused.
	Wakeup() (done <-chan controlapi.RunReport, queued bool, err error)
	// Reset cancels the run in progress (and a queued wakeup); the job goes
	// back to waiting for its schedule. It is not an error when idle.
	Reset() error
}

// ErrUnsupported is returned by a job for a signal it does not support.
var ErrUnsupported = errors.New("operation not supported by this job")

// ErrStopped is returned by Wakeup once the job has stopped for good (the
// daemon is shutting down, or a reload removed or replaced the job).
var ErrStopped = errors.New("the job has stopped (daemon shutting down, or the job was replaced by a reload): try again")
