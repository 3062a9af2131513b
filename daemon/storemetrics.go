package daemon

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// storeMetrics are the per-store series: one per store, whatever number
// of jobs use it. Several jobs may list one store (a snapshot job, a
// prune job, a scrub job, a restore job); the counts describe the whole
// store as any of them last listed it, so they agree whoever listed; the
// errors and copies behind are the store's reporter's (the snapshot job
// writing it, else the first job using it), so that a store never appears
// once per job.
type storeMetrics struct {
	snapshots  *prometheus.GaugeVec
	bytes      *prometheus.GaugeVec
	unverified *prometheus.GaugeVec
	newest     *prometheus.GaugeVec
	behind     *prometheus.GaugeVec
	up         *prometheus.GaugeVec
	scrubbed   *prometheus.CounterVec

	mu sync.Mutex
	// known maps an open store's Location to its labels.
	known map[string]storeLabels
	// reporter maps a store's Location to the job that reports its errors
	// and copies behind.
	reporter map[string]string
	// listFailed and jobFailed say, by Location, whether the last listing
	// failed and whether the reporter's last operation did.
	listFailed, jobFailed map[string]bool
}

type storeLabels struct{ name, typ string }

func newStoreMetrics() *storeMetrics {
	labels := []string{"store", "type"}
	gauge := func(opts prometheus.GaugeOpts) *prometheus.GaugeVec { return prometheus.NewGaugeVec(opts, labels) }
	return &storeMetrics{
		snapshots: gauge(prometheus.GaugeOpts{Name: "raftsnap_stored_snapshots",
			Help: "Snapshots in the store (of every job), as a job last listed it."}),
		bytes: gauge(prometheus.GaugeOpts{Name: "raftsnap_stored_bytes",
			Help: "Total size of those snapshots."}),
		unverified: gauge(prometheus.GaugeOpts{Name: "raftsnap_stored_unverified_snapshots",
			Help: "Snapshots in the store whose last verification failed (at write, scrub, restore or pruning): rotted or damaged, never counted as the last good one."}),
		newest: gauge(prometheus.GaugeOpts{Name: "raftsnap_store_newest_snapshot_timestamp_seconds",
			Help: "Unix time the newest snapshot in the store was taken; absent while it holds none."}),
		behind: gauge(prometheus.GaugeOpts{Name: "raftsnap_store_behind_snapshots",
			Help: "Snapshots of a job with several stores that this store lacks and should hold; copied at the job's next runs."}),
		up: gauge(prometheus.GaugeOpts{Name: "raftsnap_store_up",
			Help: "1 when the last operation on the store (list, write, copy, prune) succeeded, 0 when it failed (the job's status says why)."}),
		scrubbed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftsnap_scrub_snapshots_total",
			Help: "Snapshots a scrub job read again, by result: ok (matched its record) or rotted (did not; now marked unverified).",
		}, []string{"job_name", "result"}),
		known:      map[string]storeLabels{},
		reporter:   map[string]string{},
		listFailed: map[string]bool{},
		jobFailed:  map[string]bool{},
	}
}

func (s *storeMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{s.snapshots, s.bytes, s.unverified, s.newest, s.behind, s.up, s.scrubbed}
}

// storeOpened records the labels of a store the daemon opened.
func (m *metrics) storeOpened(location, name, typ string) {
	s := m.stores
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known[location] = storeLabels{name: name, typ: typ}
}

// setStoreReporters says which job reports each store (by Location), and
// removes the series of stores no job uses any more.
func (m *metrics) setStoreReporters(reporters map[string]string) {
	s := m.stores
	s.mu.Lock()
	defer s.mu.Unlock()
	for loc, l := range s.known {
		if _, used := reporters[loc]; !used {
			for _, g := range []*prometheus.GaugeVec{s.snapshots, s.bytes, s.unverified, s.newest, s.behind, s.up} {
				g.DeleteLabelValues(l.name, l.typ)
			}
		}
	}
	s.reporter = reporters
}

// StoreListed implements job.StoreMetrics: what a store holds, all of it
// whatever job owns it, as any job last listed it (a scrub's verdicts show
// at once, not at the writer's next listing).
func (m *metrics) StoreListed(location string, entries []store.Entry, err error) {
	s := m.stores
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.known[location]
	if !ok {
		return
	}
	s.listFailed[location] = err != nil
	s.setUp(location, l)
	if err != nil {
		return // counts unknown: the last ones stand
	}
	count, bytes, newest := store.Summary(entries)
	unverified := 0
	for _, e := range entries {
		if !e.Verified {
			unverified++
		}
	}
	s.snapshots.WithLabelValues(l.name, l.typ).Set(float64(count))
	s.bytes.WithLabelValues(l.name, l.typ).Set(float64(bytes))
	s.unverified.WithLabelValues(l.name, l.typ).Set(float64(unverified))
	if newest != nil {
		s.newest.WithLabelValues(l.name, l.typ).Set(unixSeconds(newest.CreatedAt))
	} else {
		s.newest.DeleteLabelValues(l.name, l.typ)
	}
}

// JobStores implements job.StoreMetrics: the failures and the copies
// behind of the stores the job reports (its writer's view: a failed upload
// or copy is an error listing does not see).
func (m *metrics) JobStores(jobName string, sums []controlapi.StoreSummary) {
	s := m.stores
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sum := range sums {
		l, ok := s.known[sum.Path]
		if !ok || s.reporter[sum.Path] != jobName {
			continue
		}
		s.jobFailed[sum.Path] = sum.LastError != ""
		s.setUp(sum.Path, l)
		if !sum.Unlisted {
			s.behind.WithLabelValues(l.name, l.typ).Set(float64(sum.Behind))
		}
	}
}

// setUp sets a store's up series from its last listing and its reporting
// job's last error. Called with s.mu held.
func (s *storeMetrics) setUp(location string, l storeLabels) {
	up := 1.0
	if s.listFailed[location] || s.jobFailed[location] {
		up = 0
	}
	s.up.WithLabelValues(l.name, l.typ).Set(up)
}

// Scrubbed implements job.ScrubMetrics.
func (m *metrics) Scrubbed(jobName string, ok, rotted int) {
	m.stores.scrubbed.WithLabelValues(jobName, "ok").Add(float64(ok))
	m.stores.scrubbed.WithLabelValues(jobName, "rotted").Add(float64(rotted))
}

// storeReporters picks, for each store the jobs use, the job that reports
// it: the snapshot job writing it, else the first job using it (in
// configuration order). location gives a store block's opened Location.
func storeReporters(jobs []config.Job, location func(*config.Store) (string, bool)) map[string]string {
	reporters := map[string]string{}
	for _, snapshotJobs := range []bool{true, false} {
		for i := range jobs {
			c := &jobs[i]
			if (c.Type == config.JobSnapshot) != snapshotJobs {
				continue
			}
			for _, st := range c.StoreList() {
				if loc, ok := location(st); ok {
					if _, taken := reporters[loc]; !taken {
						reporters[loc] = c.Name
					}
				}
			}
		}
	}
	return reporters
}
