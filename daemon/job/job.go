// Package job defines raftsnap's jobs (snapshot, prune, restore), the plain
// status reports they give, and the runner that schedules them, queues
// signals and records their history.
package job

import (
	"context"
	"errors"
	"fmt"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot/retention"
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

// optionCheck is one check of a job's options: whether it fails, and then
// what is wrong.
type optionCheck struct {
	bad  bool
	what string
}

// checkOptions is the error a New*Job constructor returns for options it
// cannot run with: no name, else the first failing check, named "<type>
// job <name>: <what>". Nil when every check passes.
func checkOptions(jobType, name string, checks ...optionCheck) error {
	if name == "" {
		return fmt.Errorf("%s job: no name", jobType)
	}
	for _, c := range checks {
		if c.bad {
			return fmt.Errorf("%s job %s: %s", jobType, name, c.what)
		}
	}
	return nil
}

// ownerFromJob is what a job working on another job's snapshots owns: that
// job's snapshots when fromJob is set, else every snapshot with a record.
func ownerFromJob(fromJob string) retention.Owner {
	if fromJob != "" {
		return retention.OwnedBy(fromJob)
	}
	return retention.OwnedBy()
}

// sourceCheck is src's Check method (a quick look for what would make a
// run fail, shown in the status before one does), nil when it has none.
func sourceCheck(src any) func() error {
	if c, ok := src.(interface{ Check() error }); ok {
		return c.Check
	}
	return nil
}
