// Package fakejobs is an in-memory job list for tests of the control
// server (daemon.JobSource) and of what the CLI does with its answers: the
// jobs are the test's own stand-ins, the daemon status around them fixed.
package fakejobs

import (
	"context"
	"sync"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/daemon/job"
)

// Set serves Header (everything of /status but the jobs) with each job's
// own status, in order.
type Set[J job.Job] struct {
	Header controlapi.DaemonStatus
	Jobs   []J
}

// Status is Header with the jobs' statuses: in full, or cut to their
// summary as the daemon does.
func (s *Set[J]) Status(full bool) controlapi.DaemonStatus {
	st := s.Header
	st.Jobs = nil
	for _, j := range s.Jobs {
		js := j.Status()
		if !full {
			js = js.Summarized()
		}
		st.Jobs = append(st.Jobs, js)
	}
	return st
}

// Job finds a job by name.
func (s *Set[J]) Job(name string) (job.Job, bool) {
	for _, j := range s.Jobs {
		if j.Name() == name {
			return j, true
		}
	}
	return nil, false
}

// JobNames lists the jobs' names, in order.
func (s *Set[J]) JobNames() []string {
	var names []string
	for _, j := range s.Jobs {
		names = append(names, j.Name())
	}
	return names
}

// Base is what every stand-in job shares: a name and a type, a Run that
// just waits for the end, and a Reset that counts its calls, or refuses
// as a restore job does (NoReset). Embed it and add Status and Wakeup.
type Base struct {
	JobName, JobType string
	NoReset          bool

	mu     sync.Mutex
	resets int
}

func (b *Base) Name() string            { return b.JobName }
func (b *Base) Type() string            { return b.JobType }
func (b *Base) Run(ctx context.Context) { <-ctx.Done() }

// Abort does nothing: a stand-in job has no run to cancel.
func (b *Base) Abort() {}

// Reset counts the call, or refuses with job.ErrUnsupported.
func (b *Base) Reset() error {
	if b.NoReset {
		return job.ErrUnsupported
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.resets++
	return nil
}

// Resets is how many resets were accepted.
func (b *Base) Resets() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.resets
}
