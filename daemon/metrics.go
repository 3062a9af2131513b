package daemon

import (
	"strconv"
	"time"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/raftsnap/raftsnap/daemon/job"
)

// metrics are raftsnap's Prometheus metrics, on their own registry so that
// nothing registered globally by a library leaks into /metrics.
type metrics struct {
	registry *prometheus.Registry

	lastSuccess     *prometheus.GaugeVec
	lastAttempt     *prometheus.GaugeVec
	runDuration     *prometheus.HistogramVec
	snapshotBytes   *prometheus.GaugeVec
	failures        *prometheus.CounterVec
	storeSnapshots  *prometheus.GaugeVec
	storeBytes      *prometheus.GaugeVec
	pruneDestroyed  *prometheus.CounterVec
	pruneForeign    *prometheus.GaugeVec
	restores        *prometheus.CounterVec
	controlRequests *prometheus.CounterVec
	jobCrashes      *prometheus.CounterVec
	sourceReady     *prometheus.GaugeVec
	interval        *prometheus.GaugeVec
	nextRun         *prometheus.GaugeVec
	notifications   *prometheus.CounterVec
	// Drill jobs.
	drills           *prometheus.CounterVec
	drillLastOK      *prometheus.GaugeVec
	drillLastSuccess *prometheus.GaugeVec
	// stores are the per-store series (storemetrics.go).
	stores *storeMetrics
	// events, when set, hears every finished run (notifications).
	events *events
	// drillTrigger, when set, hears them too (drills after snapshots).
	drillTrigger *drillTrigger
	// ha are the gated jobs' metrics (metrics_ha.go).
	ha *haMetrics
}

func newMetrics(info controlapi.VersionInfo) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		stores:   newStoreMetrics(),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "raftsnap_job_last_success_timestamp_seconds",
			Help: "Unix time of the job's last successful run.",
		}, []string{"job_name"}),
		lastAttempt: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "raftsnap_job_last_attempt_timestamp_seconds",
			Help: "Unix time the job's last run ended, whatever its result.",
		}, []string{"job_name"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "raftsnap_job_run_duration_seconds",
			Help:    "Duration of job runs, by result.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"job_name", "type", "result"}),
		snapshotBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "raftsnap_snapshot_last_size_bytes",
			Help: "Size of the job's last successful snapshot archive.",
		}, []string{"job_name"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftsnap_job_failures_total",
			Help: "Failed job runs, by reason.",
		}, []string{"job_name", "reason"}),
		storeSnapshots: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "raftsnap_store_snapshots",
			Help: "Snapshots of the job in its store.",
		}, []string{"job_name"}),
		storeBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "raftsnap_store_size_bytes",
			Help: "Total size of the job's snapshots in its store.",
		}, []string{"job_name"}),
		pruneDestroyed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftsnap_prune_destroyed_total",
			Help: "Snapshots destroyed by pruning.",
		}, []string{"job_name"}),
		pruneForeign: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "raftsnap_prune_foreign_files",
			Help: "Files the job's last pruning pass left alone because they are no job's snapshot (no sidecar, or one that cannot be trusted); no job ever prunes them.",
		}, []string{"job_name"}),
		restores: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftsnap_restores_total",
			Help: "Restore runs, by result.",
		}, []string{"job_name", "result"}),
		controlRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftsnap_control_requests_total",
			Help: "Requests to the control socket, by endpoint and HTTP status code.",
		}, []string{"endpoint", "code"}),
		jobCrashes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftsnap_job_crashes_total",
			Help: "Panics recovered by the supervisor; the job was restarted.",
		}, []string{"job_name"}),
	}
	m.sourceReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "raftsnap_job_source_ready",
		Help: "1 when the job's source or target settings (token file, TLS files, environment) can be read now, 0 when its runs must fail until they can; snapshot and restore jobs.",
	}, []string{"job_name"})
	m.interval = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "raftsnap_job_interval_seconds",
		Help: "The job's configured interval (snapshot and prune jobs): the shipped freshness alerts compare the last success with it.",
	}, []string{"job_name"})
	m.nextRun = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "raftsnap_job_next_run_timestamp_seconds",
		Help: "When the job's next scheduled run starts, as a Unix timestamp; absent while none is scheduled.",
	}, []string{"job_name"})
	m.notifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "raftsnap_notifications_total",
		Help: "Webhook deliveries by result: sent, failed (after every retry), dropped (the queue was full).",
	}, []string{"webhook", "result"})
	m.drills = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "raftsnap_drills_total",
		Help: "Drill runs by outcome: ok (the snapshot restored into a throwaway server, which reported what the archive holds), failed (it did not), error (the drill could not run), canceled.",
	}, []string{"job_name", "result"})
	m.drillLastOK = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "raftsnap_drill_last_ok",
		Help: "1 when the drill job's last conclusive drill proved its snapshot restorable, 0 when it failed; absent before the first (read back from the store's records at start).",
	}, []string{"job_name"})
	m.drillLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "raftsnap_drill_last_success_timestamp_seconds",
		Help: "Unix time of the drill job's last drill that proved a snapshot restorable (read back from the store's records at start).",
	}, []string{"job_name"})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "raftsnap_build_info",
		Help: "Always 1; labels tell the running version.",
	}, []string{"version", "commit", "goversion"})
	buildInfo.WithLabelValues(info.Version, info.Commit, info.GoVersion).Set(1)

	m.registry.MustRegister(
		m.lastSuccess, m.lastAttempt, m.runDuration, m.snapshotBytes, m.failures,
		m.storeSnapshots, m.storeBytes, m.pruneDestroyed, m.pruneForeign, m.restores, m.controlRequests,
		m.jobCrashes, m.sourceReady, m.interval, m.nextRun, m.notifications, buildInfo,
		m.drills, m.drillLastOK, m.drillLastSuccess,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.registry.MustRegister(m.stores.collectors()...)
	m.ha = newHAMetrics(m.registry)
	return m
}

// ObserveRequest counts one control request.
func (m *metrics) ObserveRequest(endpoint string, code int) {
	m.controlRequests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
}

func (m *metrics) jobCrashed(name string) { m.jobCrashes.WithLabelValues(name).Inc() }

// registerJob creates a job's series up front so that dashboards and alerts
// see zeros instead of absent series before the first run.
func (m *metrics) registerJob(name, typ string, interval time.Duration) {
	if interval > 0 {
		m.interval.WithLabelValues(name).Set(interval.Seconds())
	} else {
		m.interval.DeleteLabelValues(name)
	}
	for _, reason := range job.FailureReasons {
		m.failures.WithLabelValues(name, reason)
	}
	m.jobCrashes.WithLabelValues(name)
	if jt, ok := config.LookupJobType(typ); ok && jt.Prunes {
		m.pruneDestroyed.WithLabelValues(name)
		m.pruneForeign.WithLabelValues(name)
	}
	if typ == config.JobRestore {
		m.restores.WithLabelValues(name, string(controlapi.ResultSuccess))
		m.restores.WithLabelValues(name, string(controlapi.ResultFailure))
		m.restores.WithLabelValues(name, string(controlapi.ResultCanceled))
	}
	if typ == config.JobScrub {
		m.stores.scrubbed.WithLabelValues(name, "ok")
		m.stores.scrubbed.WithLabelValues(name, "rotted")
	}
	if typ == config.JobDrill {
		for _, outcome := range []string{controlapi.DrillOK, controlapi.DrillFailed, controlapi.DrillError, controlapi.DrillCanceled} {
			m.drills.WithLabelValues(name, outcome)
		}
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// The job.Metrics implementation.

func (m *metrics) RunFinished(jobName, jobType string, result controlapi.Result, reason string, d time.Duration, bytes int64) {
	m.runDuration.WithLabelValues(jobName, jobType, string(result)).Observe(d.Seconds())
	if result == controlapi.ResultFailure {
		if reason == "" {
			reason = job.ReasonOther
		}
		m.failures.WithLabelValues(jobName, reason).Inc()
	}
	if result == controlapi.ResultSuccess && jobType == config.JobSnapshot && bytes > 0 {
		m.snapshotBytes.WithLabelValues(jobName).Set(float64(bytes))
	}
}

func (m *metrics) LastAttempt(jobName string, t time.Time) {
	m.lastAttempt.WithLabelValues(jobName).Set(unixSeconds(t))
}

func (m *metrics) LastSuccess(jobName string, t time.Time) {
	m.lastSuccess.WithLabelValues(jobName).Set(unixSeconds(t))
}

func (m *metrics) StoreStats(jobName string, count int, bytes int64) {
	m.storeSnapshots.WithLabelValues(jobName).Set(float64(count))
	m.storeBytes.WithLabelValues(jobName).Set(float64(bytes))
}

func (m *metrics) Pruned(jobName string, destroyed, foreign int) {
	m.pruneDestroyed.WithLabelValues(jobName).Add(float64(destroyed))
	m.pruneForeign.WithLabelValues(jobName).Set(float64(foreign))
}

// Reported implements job.Metrics: the run's report goes on to the
// notifications.
func (m *metrics) Reported(jobName, jobType string, rep controlapi.RunReport) {
	m.events.runFinished(jobName, jobType, rep)
	m.drillTrigger.runFinished(jobName, jobType, rep)
}

// Delivered implements webhook.Metrics.
func (m *metrics) Delivered(webhook, result string) {
	m.notifications.WithLabelValues(webhook, result).Inc()
}

func (m *metrics) NextRun(jobName string, t *time.Time) {
	if t == nil {
		m.nextRun.DeleteLabelValues(jobName)
		return
	}
	m.nextRun.WithLabelValues(jobName).Set(unixSeconds(*t))
}

func (m *metrics) SourceReady(jobName string, ready bool) {
	v := 0.0
	if ready {
		v = 1
	}
	m.sourceReady.WithLabelValues(jobName).Set(v)
}

// DrillFinished implements job.DrillMetrics.
func (m *metrics) DrillFinished(jobName, outcome string) {
	m.drills.WithLabelValues(jobName, outcome).Inc()
}

// LastDrill implements job.DrillMetrics.
func (m *metrics) LastDrill(jobName string, ok bool, _ time.Time, lastOK *time.Time) {
	v := 0.0
	if ok {
		v = 1
	}
	m.drillLastOK.WithLabelValues(jobName).Set(v)
	if lastOK != nil {
		m.drillLastSuccess.WithLabelValues(jobName).Set(unixSeconds(*lastOK))
	}
}

func (m *metrics) RestoreFinished(jobName string, result controlapi.Result) {
	m.restores.WithLabelValues(jobName, string(result)).Inc()
}
