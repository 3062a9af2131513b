package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"

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
// A reload swaps jobs in and out with replace; the jobs it leaves alone
// keep running undisturbed.
type supervisor struct {
	logger  *slog.Logger
	version string
	started time.Time
	onCrash func(jobName string)
	// configStatus, when set, fills the status's config block.
	configStatus func() *controlapi.ConfigStatus
	// backoffFirst and backoffMax bound restart delays (tests shorten them).
	backoffFirst, backoffMax time.Duration

	mu      sync.Mutex
	ctx     context.Context // the parent of every job's context, set by start
	jobs    []*supervised   // in configuration order
	byName  map[string]*supervised
	crashes map[string]crashInfo
	wg      sync.WaitGroup
}

// supervised is one job and what it takes to stop it alone.
type supervised struct {
	job    job.Job
	cancel context.CancelFunc // nil until started
	done   chan struct{}      // closed when its goroutine returned
}

type crashInfo struct {
	count int
	last  string
}

func newSupervisor(jobs []job.Job, logger *slog.Logger, version string) *supervisor {
	s := &supervisor{
		byName:  make(map[string]*supervised, len(jobs)),
		logger:  logger,
		version: version,
		started: time.Now(),
		crashes: make(map[string]crashInfo),

		backoffFirst: restartBackoffFirst,
		backoffMax:   restartBackoffMax,
	}
	for _, j := range jobs {
		sj := &supervised{job: j, done: make(chan struct{})}
		s.jobs = append(s.jobs, sj)
		s.byName[j.Name()] = sj
	}
	return s
}

// start launches every job; they stop when ctx is done. Jobs added later
// by replace run under the same ctx.
func (s *supervisor) start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctx = ctx
	for _, sj := range s.jobs {
		s.launchLocked(sj)
	}
}

func (s *supervisor) launchLocked(sj *supervised) {
	ctx, cancel := context.WithCancel(s.ctx)
	sj.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer close(sj.done)
		s.supervise(ctx, sj.job)
	}()
}

// replace makes the job list next (in that order): jobs of next whose
// name is running with the very same job.Job value are left alone; every
// other running job is stopped (its run in progress canceled, which
// removes its temp file) and waited for up to stopTimeout before the new
// jobs start, so a changed job never runs twice at once. A removed job's
// crash count is forgotten; a changed job keeps it, like its crash metric.
// It returns the jobs that did not stop in time (they are left to finish).
func (s *supervisor) replace(next []job.Job, stopTimeout time.Duration) (stuck []string) {
	keep := make(map[job.Job]bool, len(next))
	nextNames := make(map[string]bool, len(next))
	for _, j := range next {
		keep[j] = true
		nextNames[j.Name()] = true
	}

	s.mu.Lock()
	var stopping []*supervised
	for _, sj := range s.jobs {
		if !keep[sj.job] {
			stopping = append(stopping, sj)
		}
	}
	s.mu.Unlock()

	for _, sj := range stopping {
		if sj.cancel != nil {
			// A reload does not wait for runs to end: the job is replaced
			// or gone, so its run is canceled at once.
			sj.cancel()
			sj.job.Abort()
		}
	}
	deadline := time.After(stopTimeout)
	for _, sj := range stopping {
		if sj.cancel == nil {
			continue
		}
		select {
		case <-sj.done:
		case <-deadline:
			stuck = append(stuck, sj.job.Name())
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sj := range stopping {
		if !nextNames[sj.job.Name()] {
			delete(s.crashes, sj.job.Name())
		}
	}
	old := s.byName
	s.jobs = make([]*supervised, 0, len(next))
	s.byName = make(map[string]*supervised, len(next))
	for _, j := range next {
		sj, running := old[j.Name()]
		if !running || sj.job != j {
			sj = &supervised{job: j, done: make(chan struct{})}
			if s.ctx != nil {
				s.launchLocked(sj)
			}
		}
		s.jobs = append(s.jobs, sj)
		s.byName[j.Name()] = sj
	}
	return stuck
}

// abortGrace is how long aborted runs get to remove their temp files.
const abortGrace = 5 * time.Second

// wait is the second half of a shutdown, after the jobs' context was
// canceled: runs in progress may finish within timeout (no new run or
// retry starts); those still running then are aborted and get abortGrace
// to clean up. It reports the jobs still running after that.
func (s *supervisor) wait(timeout time.Duration) error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
	}
	var aborted []string
	s.mu.Lock()
	for _, sj := range s.jobs {
		select {
		case <-sj.done:
		default:
			aborted = append(aborted, sj.job.Name())
			sj.job.Abort()
		}
	}
	s.mu.Unlock()
	s.logger.Warn("runs still in progress after the shutdown timeout: canceled", "timeout", timeout, "jobs", aborted)
	select {
	case <-done:
		return nil
	case <-time.After(abortGrace):
		return fmt.Errorf("jobs still running %s after the shutdown timeout of %s: %v", abortGrace, timeout, aborted)
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
func (s *supervisor) Status(full bool) controlapi.DaemonStatus {
	st := controlapi.DaemonStatus{
		Schema:    controlapi.SchemaVersion,
		Detail:    controlapi.DetailSummary,
		Version:   s.version,
		PID:       os.Getpid(),
		StartedAt: s.started.UTC(),
		Now:       time.Now().UTC(),
	}
	if s.configStatus != nil {
		st.Config = s.configStatus()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if full {
		st.Detail = controlapi.DetailFull
	}
	st.Jobs = make([]controlapi.JobStatus, 0, len(s.jobs))
	for _, sj := range s.jobs {
		js := JobReport(sj.job, full)
		if c, ok := s.crashes[sj.job.Name()]; ok {
			js.Crashes = c.count
			js.LastCrash = c.last
		}
		st.Jobs = append(st.Jobs, js)
	}
	return st
}

// JobReport is j's status in full, or its summary: without history and
// pruning decisions (jobs that cannot summarise themselves are cut down).
func JobReport(j job.Job, full bool) controlapi.JobStatus {
	if full {
		return j.Status()
	}
	if sj, ok := j.(interface{ Summary() controlapi.JobStatus }); ok {
		return sj.Summary()
	}
	return j.Status().Summarized()
}

// Job implements JobSource.
func (s *supervisor) Job(name string) (job.Job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sj, ok := s.byName[name]
	if !ok {
		return nil, false
	}
	return sj.job, true
}

// JobNames implements JobSource.
func (s *supervisor) JobNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, len(s.jobs))
	for i, sj := range s.jobs {
		names[i] = sj.job.Name()
	}
	return names
}
