package daemon

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// haMetrics are the metrics of gated jobs (daemon/ha): whether this agent
// is active for each, how often that changed, and lock or leadership
// errors. The shipped alerts (dist/prometheus) sum raftsnap_ha_active over
// the agents of a job: 0 means nobody works, 2 means two writers.
type haMetrics struct {
	active  *prometheus.GaugeVec
	changes *prometheus.CounterVec
	errors  *prometheus.CounterVec

	mu   sync.Mutex
	last map[string]bool // job → active, as last reported
}

func newHAMetrics(reg *prometheus.Registry) *haMetrics {
	h := &haMetrics{
		last: map[string]bool{},
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
// series at 0 changes.
func (m *metrics) HARole(job, mode string, active bool) {
	h := m.ha
	h.mu.Lock()
	prev, seen := h.last[job]
	h.last[job] = active
	h.mu.Unlock()
	c := h.changes.WithLabelValues(job, mode)
	h.errors.WithLabelValues(job, mode)
	if seen && prev != active {
		c.Inc()
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
	h.mu.Lock()
	delete(h.last, name)
	h.mu.Unlock()
	l := prometheus.Labels{"job_name": name}
	h.active.DeletePartialMatch(l)
	h.changes.DeletePartialMatch(l)
	h.errors.DeletePartialMatch(l)
}
