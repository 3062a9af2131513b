package job

import (
	"context"
	"errors"
	"fmt"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
)

// Gate decides whether this agent may act for a job now (several agents,
// one writer: daemon/ha implements it on a Consul lock or on the source's
// own Raft leadership). A gated job waits as a standby until Acquire
// returns, runs its schedule while the returned context lives, and goes
// back to waiting when it ends.
type Gate interface {
	// Acquire blocks until this agent holds the role (or ctx ends). The
	// context it returns ends when the role is lost.
	Acquire(ctx context.Context) (context.Context, error)
	// Check asks the lock's or the cluster's authority, now, whether this
	// agent still holds the role: the fence before each commit and delete,
	// which a paused process (SIGSTOP, a long GC pause) must pass after it
	// wakes up, whatever its own memory says.
	Check(ctx context.Context) error
	// Release gives up the role, if held.
	Release()
	// RunFinished hears the outcome of each run that was not canceled
	// (max_failures: the holder hands over after repeated failures).
	RunFinished(failed bool)
	Status() controlapi.HAStatus
}

// StandbyError refuses a signal to a job this agent is a standby for.
type StandbyError struct {
	Job    string
	Holder string // the active agent, "" when unknown
}

func (e *StandbyError) Error() string {
	if e.Holder == "" {
		return fmt.Sprintf("this agent is a standby for job %s and no active agent is known now; signal the active agent", e.Job)
	}
	return fmt.Sprintf("this agent is a standby for job %s; the active agent is %s: signal it there", e.Job, e.Holder)
}

// errLostRole cancels a run whose agent lost its role (the lock or the
// leadership) while it ran: it must not commit or prune.
var errLostRole = errors.New("canceled: this agent lost its role (ha) during the run")

// SetGate makes the job wait for g's role before it acts; call before Run.
func (r *runner) SetGate(g Gate) { r.gate = g }

// runGated runs the schedule for as long as each term of the role lasts,
// waiting as a standby in between. Each term starts with the job's first
// run check (a snapshot job's catchUp reads the store's newest snapshot):
// the new active agent continues the schedule from what the previous one
// stored, with no burst of catch-up runs.
func (r *runner) runGated(ctx context.Context) {
	defer r.gate.Release()
	for ctx.Err() == nil {
		term, err := r.gate.Acquire(ctx)
		if err != nil {
			return // ctx ended
		}
		r.mu.Lock()
		r.term, r.outer = term, ctx
		r.mu.Unlock()
		r.logger.Info("this agent is active for the job", "ha", r.gate.Status().Mode)
		r.schedule(term)
		r.mu.Lock()
		r.term, r.outer = nil, nil
		r.setNextLocked(nil)
		waits := r.pendingWaits
		r.pending, r.pendingWaits = false, nil
		r.mu.Unlock()
		r.gate.Release()
		if ctx.Err() != nil {
			return
		}
		r.logger.Warn("this agent lost its role for the job; standing by", "holder", r.gate.Status().Holder)
		if len(waits) > 0 {
			now := r.now()
			deliver(waits, controlapi.RunReport{Trigger: controlapi.TriggerWakeup, StartedAt: now, FinishedAt: now, Result: controlapi.ResultCanceled,
				Error: "the queued run was dropped: this agent lost its role (ha)"})
		}
	}
}

// roleContext is the current term's context and the one of the job's
// Run; nil for a job that is not gated (or between terms).
func (r *runner) roleContext() (term, outer context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.term, r.outer
}

// standby refuses work while this agent is not active for a gated job.
func (r *runner) standby() error {
	if r.gate == nil {
		return nil
	}
	if st := r.gate.Status(); st.Role != controlapi.RoleActive {
		return &StandbyError{Job: r.name, Holder: st.Holder}
	}
	return nil
}

// fence is the explicit check before a commit or a delete; nil for a job
// that is not gated.
func (r *runner) fence(ctx context.Context) error {
	if r.gate == nil {
		return nil
	}
	if err := r.gate.Check(ctx); err != nil {
		return fmt.Errorf("not committed: %w", err)
	}
	return nil
}
