package daemon

import (
	"fmt"
	"sync"
	"time"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/daemon/webhook"
)

// events turns what the jobs and the daemon report into notifications:
// a failed run, a job that recovers, a snapshot gone stale, a refused
// reload. The jobs reach it through their metrics (metrics.Reported).
type events struct {
	notifier *webhook.Notifier

	mu sync.Mutex
	// failing holds the jobs whose last finished run failed; stale those
	// already reported stale since their last success.
	failing, stale map[string]bool
}

func newEvents(n *webhook.Notifier) *events {
	return &events{notifier: n, failing: map[string]bool{}, stale: map[string]bool{}}
}

// webhookConfigs is global.notifications as the notifier takes them.
func webhookConfigs(cfg *config.Config) []webhook.Config {
	var out []webhook.Config
	for _, n := range cfg.Global.Notifications {
		out = append(out, webhook.Config{
			Name: n.Name, URL: n.URL, Format: n.Format, HeadersFile: n.HeadersFile, MinSeverity: n.MinSeverity, Events: n.Events,
			Timeout: n.Timeout.Std(), MaxRetries: n.Retries.Max, Initial: n.Retries.InitialBackoff.Std(), MaxBackoff: n.Retries.MaxBackoff.Std(),
		})
	}
	return out
}

func (e *events) runFinished(job, jobType string, rep controlapi.RunReport) {
	if e == nil {
		return
	}
	e.mu.Lock()
	wasFailing := e.failing[job]
	switch rep.Result {
	case controlapi.ResultFailure:
		e.failing[job] = true
	case controlapi.ResultSuccess:
		delete(e.failing, job)
		delete(e.stale, job)
	}
	e.mu.Unlock()
	run := rep
	run.Pruning = nil // counts and decisions belong in /status, not in a chat message
	switch {
	case rep.Result == controlapi.ResultFailure && jobType == config.JobDrill:
		// A drill's failure is its own event (not also run_failed): the
		// last snapshot is not proven restorable, or was proven not to be.
		e.notifier.Notify(webhook.Event{Event: config.EventDrillFailed, Severity: config.SeverityError, Job: job, JobType: jobType, Run: &run,
			Message: fmt.Sprintf("drill job %s failed: %s", job, rep.Error)})
	case rep.Result == controlapi.ResultFailure:
		e.notifier.Notify(webhook.Event{Event: config.EventRunFailed, Severity: config.SeverityError, Job: job, JobType: jobType, Run: &run,
			Message: fmt.Sprintf("%s job %s failed: %s", jobType, job, rep.Error)})
	case rep.Result == controlapi.ResultSuccess && wasFailing:
		msg := fmt.Sprintf("%s job %s succeeded again", jobType, job)
		if rep.Snapshot != "" {
			msg += ": " + rep.Snapshot
		}
		e.notifier.Notify(webhook.Event{Event: config.EventJobRecovered, Severity: config.SeverityInfo, Job: job, JobType: jobType, Run: &run, Message: msg})
	}
}

// checkStale reports, once until it next succeeds, each scheduled job
// whose last success is older than two intervals (or that never succeeded
// in two intervals of the daemon's life).
func (e *events) checkStale(cfg *config.Config, st controlapi.DaemonStatus, now time.Time) {
	if e == nil {
		return
	}
	intervals := map[string]time.Duration{}
	for _, j := range cfg.Jobs {
		if jt, ok := config.LookupJobType(j.Type); ok && jt.Scheduled {
			intervals[j.Name] = j.Interval.Std()
		}
	}
	for _, j := range st.Jobs {
		iv, ok := intervals[j.Name]
		if !ok || (j.HA != nil && j.HA.Role != controlapi.RoleActive) {
			// A standby does no runs: the active agent reports staleness.
			continue
		}
		since := st.StartedAt
		if j.LastSuccessAt != nil {
			since = *j.LastSuccessAt
		}
		if now.Sub(since) <= 2*iv {
			continue
		}
		e.mu.Lock()
		already := e.stale[j.Name]
		e.stale[j.Name] = true
		e.mu.Unlock()
		if already {
			continue
		}
		what := "never succeeded"
		if j.LastSuccessAt != nil {
			what = fmt.Sprintf("last succeeded %s ago", now.Sub(since).Round(time.Minute))
		}
		e.notifier.Notify(webhook.Event{Event: config.EventSnapshotStale, Severity: config.SeverityError, Job: j.Name, JobType: j.Type,
			Message: fmt.Sprintf("%s job %s %s, more than two intervals (%s)", j.Type, j.Name, what, iv)})
	}
}

func (e *events) reloadRefused(path string, problems []string) {
	if e == nil {
		return
	}
	msg := fmt.Sprintf("configuration reload of %s refused; the running configuration stays", path)
	if len(problems) > 0 {
		msg += ": " + problems[0]
		if len(problems) > 1 {
			msg += fmt.Sprintf(" (and %d more)", len(problems)-1)
		}
	}
	e.notifier.Notify(webhook.Event{Event: config.EventReloadRefused, Severity: config.SeverityWarning, Message: msg})
}
