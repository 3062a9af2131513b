package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/raftsnap/raftsnap/daemon/job"
)

// Restart backoff after a job panics: doubling from the first to the cap,
// reset once the job has run for resetAfter without crashing.
const (
	restartBackoffFirst = time.Second
	restartBackoffMax   = time.Minute
	restartResetAfter   = 5 * time.Minute
)

// supervisor runs every job in its own goroutine, recovers panics (logged
// with the stack, counted in the job's status) and restarts the job with
// backoff, so that one job's failure never stops another or the daemon.
type supervisor struct {
	jobs    []job.Job
	byName  map[string]job.Job
	logger  *slog.Logger
	version string
	started time.Time
	onCrash func(jobName string)
	// backoffFirst and backoffMax bound restart delays (tests shorten them).
	backoffFirst, backoffMax time.Duration

	mu      sync.Mutex
	crashes map[string]crashInfo
	wg      sync.WaitGroup
}

type crashInfo struct {
	count int
	last  string
}

func newSupervisor(jobs []job.Job, logger *slog.Logger, version string) *supervisor {
	s := &supervisor{
		jobs:    jobs,
		byName:  make(map[string]job.Job, len(jobs)),
		logger:  logger,
		version: version,
		started: time.Now(),
		crashes: make(map[string]crashInfo),

		backoffFirst: restartBackoffFirst,
		backoffMax:   restartBackoffMax,
	}
	for _, j := range jobs {
		s.byName[j.Name()] = j
	}
	return s
}

// start launches every job; they stop when ctx is done.
func (s *supervisor) start(ctx context.Context) {
	for _, j := range s.jobs {
		s.wg.Add(1)
		go s.supervise(ctx, j)
	}
}

// wait blocks until every job has returned or timeout passes; it reports
// the jobs still running at the deadline.
func (s *supervisor) wait(timeout time.Duration) error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("jobs still running after the shutdown timeout of %s", timeout)
	}
}

func (s *supervisor) supervise(ctx context.Context, j job.Job) {
	defer s.wg.Done()
	backoff := s.backoffFirst
	for {
		began := time.Now()
		crashed := s.runOnce(ctx, j)
		if ctx.Err() != nil {
			return
		}
		if !crashed {
			// Run returned without a panic before ctx was done: a bug in
			// the job, but treat it like a crash rather than losing the job.
			s.recordCrash(j.Name(), "job returned unexpectedly")
		}
		if time.Since(began) > restartResetAfter {
			backoff = s.backoffFirst
		}
		s.logger.Warn("restarting job", "job", j.Name(), "after", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, s.backoffMax)
	}
}

func (s *supervisor) runOnce(ctx context.Context, j job.Job) (crashed bool) {
	defer func() {
		if r := recover(); r != nil {
			crashed = true
			msg := fmt.Sprintf("panic: %v", r)
			s.logger.Error("job crashed", "job", j.Name(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			s.recordCrash(j.Name(), msg)
		}
	}()
	j.Run(ctx)
	return false
}

func (s *supervisor) recordCrash(name, msg string) {
	s.mu.Lock()
	c := s.crashes[name]
	c.count++
	c.last = msg
	s.crashes[name] = c
	s.mu.Unlock()
	if s.onCrash != nil {
		s.onCrash(name)
	}
}

// Status implements JobSource.
func (s *supervisor) Status() job.DaemonStatus {
	st := job.DaemonStatus{
		Schema:    job.SchemaVersion,
		Version:   s.version,
		PID:       os.Getpid(),
		StartedAt: s.started.UTC(),
		Now:       time.Now().UTC(),
		Jobs:      make([]job.JobStatus, 0, len(s.jobs)),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		js := j.Status()
		if c, ok := s.crashes[j.Name()]; ok {
			js.Crashes = c.count
			js.LastCrash = c.last
		}
		st.Jobs = append(st.Jobs, js)
	}
	return st
}

// Job implements JobSource.
func (s *supervisor) Job(name string) (job.Job, bool) {
	j, ok := s.byName[name]
	return j, ok
}

// JobNames implements JobSource.
func (s *supervisor) JobNames() []string {
	names := make([]string, len(s.jobs))
	for i, j := range s.jobs {
		names[i] = j.Name()
	}
	return names
}
