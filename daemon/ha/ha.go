// Package ha lets several raftsnap agents share a job with exactly one
// writer, on an existing consensus engine: a Consul session lock
// (consul_lock, through github.com/hashicorp/consul/api's Lock) or the
// Raft leadership of the server the job snapshots (leader_local). It
// builds no election of its own.
//
// A Gate (see job.Gate) says whether this agent is active for one job,
// hands out a context that ends when the role is lost, and checks the role
// with the authority itself before each commit and delete (Check), so that
// a process paused past its session's TTL commits nothing when it wakes.
package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/daemon/job"
	"github.com/raftsnap/raftsnap/snapshot/source"
)

// Metrics hears role changes and errors (daemon/metrics.go).
type Metrics interface {
	// HARole is whether this agent is active for job; changed is false
	// for the first report. holder names the active agent when known.
	HARole(job, mode string, active, changed bool, holder string)
	// HAError counts a lock or leadership error.
	HAError(job, mode string)
}

// ErrNotHeld is the fence's verdict when the role is gone.
var ErrNotHeld = errors.New("this agent no longer holds the job's role (ha)")

// Options configure New.
type Options struct {
	Job string
	HA  *config.HA
	// Source is the job's source (leader_local asks its server).
	Source *source.Config
	// Identity names this agent in the lock's value (default: host name
	// and pid).
	Identity string
	// UserAgent is sent with leader_local's requests ("raftsnap/<version>";
	// default "raftsnap").
	UserAgent string
	Logger    *slog.Logger
	Metrics   Metrics
}

// New builds the gate of a job's effective ha block; nil when the block
// does not gate the job.
func New(opts Options) (job.Gate, error) {
	if !opts.HA.Gated() {
		return nil, nil
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Logger = opts.Logger.With("job", opts.Job, "ha", opts.HA.Mode)
	if opts.Metrics == nil {
		opts.Metrics = noMetrics{}
	}
	if opts.Identity == "" {
		host, _ := os.Hostname()
		opts.Identity = fmt.Sprintf("%s (pid %d)", host, os.Getpid())
	}
	switch opts.HA.Mode {
	case config.HAConsulLock:
		return newConsulLock(opts)
	case config.HALeaderLocal:
		return newLeaderLocal(opts)
	}
	return nil, fmt.Errorf("job %s: unknown ha mode %q", opts.Job, opts.HA.Mode)
}

type noMetrics struct{}

func (noMetrics) HARole(string, string, bool, bool, string) {}
func (noMetrics) HAError(string, string)                    {}

// role is the state both gates share: the role, who holds it, since when,
// the last error; and the metrics and log lines of its changes.
type role struct {
	job, mode string
	logger    *slog.Logger
	metrics   Metrics

	mu        sync.Mutex
	onRelease []func()
	active    bool
	holder    string
	since     time.Time
	err       string
}

func newRole(opts Options) *role {
	r := &role{job: opts.Job, mode: opts.HA.Mode, logger: opts.Logger, metrics: opts.Metrics, since: time.Now()}
	r.metrics.HARole(r.job, r.mode, false, false, "")
	return r
}

// set records the role; a change is logged and counted.
func (r *role) set(active bool, holder string) {
	r.mu.Lock()
	changed := active != r.active
	r.active, r.holder = active, holder
	if changed {
		r.since = time.Now()
	}
	r.mu.Unlock()
	if changed {
		r.metrics.HARole(r.job, r.mode, active, true, holder)
		r.logger.Info("ha role changed", "role", roleName(active), "holder", holder)
	}
}

// endTerm ends a gate's term: the role goes to standby, then the term's
// context is canceled with cause. The gate keeps that context's cancel in
// *cancel, guarded by its mutex mu.
func (r *role) endTerm(mu *sync.Mutex, cancel *context.CancelCauseFunc, cause error) {
	mu.Lock()
	c := *cancel
	mu.Unlock()
	r.set(false, "")
	if c != nil {
		c(cause)
	}
}

func (r *role) setHolder(holder string) {
	r.mu.Lock()
	r.holder = holder
	r.mu.Unlock()
}

// failed records a lock or leadership error (never holding a token: the
// consul api and our own requests name URLs and status codes only).
func (r *role) failed(err error) {
	r.mu.Lock()
	r.err = err.Error()
	r.mu.Unlock()
	r.metrics.HAError(r.job, r.mode)
	r.logger.Warn("ha error", "err", err)
}

func (r *role) ok() {
	r.mu.Lock()
	r.err = ""
	r.mu.Unlock()
}

// OnRelease registers f to run each time the gate releases its role (a
// gated local store closes, letting go of its directory lock).
func (r *role) OnRelease(f func()) {
	r.mu.Lock()
	r.onRelease = append(r.onRelease, f)
	r.mu.Unlock()
}

func (r *role) released() {
	r.mu.Lock()
	fs := append([]func(){}, r.onRelease...)
	r.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

func (r *role) isActive() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active
}

func (r *role) Status() controlapi.HAStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return controlapi.HAStatus{Mode: r.mode, Role: roleName(r.active), Holder: r.holder, Since: r.since, Error: r.err}
}

func roleName(active bool) controlapi.Role {
	if active {
		return controlapi.RoleActive
	}
	return controlapi.RoleStandby
}

// sleep waits d unless ctx ends first; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
