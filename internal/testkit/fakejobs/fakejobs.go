// Package fakejobs is an in-memory job list for tests of the control
// server (daemon.JobSource) and of what the CLI does with its answers: the
// jobs are the test's own stand-ins, the daemon status around them fixed.
package fakejobs

import (
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/daemon/job"
)

// Set serves Header (everything of /status but the jobs) with each job's
// own status, in order.
type Set[J job.Job] struct {
	Header controlapi.DaemonStatus
	Jobs   []J
}

// Status is Header with the jobs' statuses.
func (s *Set[J]) Status() controlapi.DaemonStatus {
	st := s.Header
	st.Jobs = nil
	for _, j := range s.Jobs {
		st.Jobs = append(st.Jobs, j.Status())
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
