package daemon

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/webhook"
)

// haMetrics are the metrics of gated jobs (daemon/ha): whether this agent
// is active for each, how often that changed, and lock or leadership
// errors. The shipped alerts (dist/prometheus) sum raftsnap_ha_active over
// the agents of a job: 0 means nobody works, 2 means two writers.
type haMetrics struct {
	active  *prometheus.GaugeVec
	changes *prometheus.CounterVec
	errors  *prometheus.CounterVec
}

func newHAMetrics(reg *prometheus.Registry) *haMetrics {
	h := &haMetrics{
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "raftsnap_ha_active",
			Help: "1 while this agent is active for the job (holds its lock, or its server leads), 0 while standby.",
		}, []string{"job_name", "mode"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftsnap_ha_role_changes_total",
			Help: "Times this agent became active or standby for the job.",
		}, []string{"job_name", "mode"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftsnap_ha_errors_total",
			Help: "Lock or leadership errors: Consul unreachable, a failed fence check, a server that cannot say whether it leads.",
		}, []string{"job_name", "mode"}),
	}
	reg.MustRegister(h.active, h.changes, h.errors)
	return h
}

// HARole implements ha.Metrics. The first report of a job creates its
// series at 0 changes; a change is also a role_changed notification.
func (m *metrics) HARole(job, mode string, active, changed bool, holder string) {
	h := m.ha
	c := h.changes.WithLabelValues(job, mode)
	h.errors.WithLabelValues(job, mode)
	if changed {
		c.Inc()
		m.events.roleChanged(job, mode, active, holder)
	}
	v := 0.0
	if active {
		v = 1
	}
	h.active.WithLabelValues(job, mode).Set(v)
}

// HAError implements ha.Metrics.
func (m *metrics) HAError(job, mode string) { m.ha.errors.WithLabelValues(job, mode).Inc() }

func (h *haMetrics) forget(name string) {
	l := prometheus.Labels{"job_name": name}
	h.active.DeletePartialMatch(l)
	h.changes.DeletePartialMatch(l)
	h.errors.DeletePartialMatch(l)
}

// roleChanged notifies role_changed: this agent became active or standby
// for a job.
func (e *events) roleChanged(job, mode string, active bool, holder string) {
	if e == nil {
		return
	}
	msg := fmt.Sprintf("this agent became active for job %s (%s)", job, mode)
	if !active {
		msg = fmt.Sprintf("this agent became a standby for job %s (%s)", job, mode)
		if holder != "" {
			msg += "; active: " + holder
		}
	}
	e.notifier.Notify(webhook.Event{Event: config.EventRoleChanged, Severity: config.SeverityInfo, Job: job, Message: msg})
}
