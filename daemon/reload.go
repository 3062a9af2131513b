package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/buildinfo"
	"github.com/raftsnap/raftsnap/daemon/job"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket"
)

// Reload (SIGHUP) semantics, documented in docs/systemd.md:
//   - The file is loaded and validated completely, and every new or changed
//     job is built (token read, store opened), before anything running is
//     touched. Any failure refuses the whole reload: the errors are logged,
//     the status config block and raftsnap_config_last_reload_successful
//     show it, and the running configuration carries on.
//   - A job whose settings (after defaults), token and TLS files are the
//     same keeps running untouched, history included. A changed or removed
//     job is stopped: its run in progress is canceled and its temp file
//     removed, as on shutdown. A changed job then starts afresh.
//   - global.control.sockpath, global.monitoring.listen and
//     global.logging's format, output and syslog need a restart: a reload
//     keeps their running values and logs a warning. logging.level and
//     shutdown_timeout apply at once.

// jobBuilder turns configuration jobs into running jobs, and remembers
// what it built so that a reload can tell unchanged jobs from changed ones.
type jobBuilder struct {
	logger  *slog.Logger
	metrics *metrics
	// stores are kept by identity (config.Store.Identity; for a bucket,
	// with all its settings) across reloads: a store in use is never
	// opened twice (opening a directory settles its leftovers; a bucket
	// keeps its manifest cache).
	stores  map[string]store.Store
	running map[string]*builtJob
}

type builtJob struct {
	cfg config.Job
	job job.Job
}

// jobPlan is the outcome of building a configuration's jobs.
type jobPlan struct {
	jobs                               []*builtJob // configuration order
	added, changed, removed, unchanged []string
}

func (p *jobPlan) jobList() []job.Job {
	jobs := make([]job.Job, len(p.jobs))
	for i, b := range p.jobs {
		jobs[i] = b.job
	}
	return jobs
}

func newJobBuilder(logger *slog.Logger, m *metrics) *jobBuilder {
	return &jobBuilder{logger: logger, metrics: m, stores: map[string]store.Store{}, running: map[string]*builtJob{}}
}

// plan builds cfg's jobs, reusing the running ones that did not change.
// It changes nothing running; commit makes the plan the running set.
func (b *jobBuilder) plan(cfg *config.Config) (*jobPlan, error) {
	p := &jobPlan{}
	seen := map[string]bool{}
	for i := range cfg.Jobs {
		c := &cfg.Jobs[i]
		seen[c.Name] = true
		old, ok := b.running[c.Name]
		// Tokens and TLS files are read by each run (source.Deferred), so a
		// job whose settings did not change keeps running as it is.
		if ok && reflect.DeepEqual(old.cfg, *c) {
			p.jobs = append(p.jobs, old)
			p.unchanged = append(p.unchanged, c.Name)
			continue
		}
		j, err := b.build(c)
		if err != nil {
			return nil, err
		}
		p.jobs = append(p.jobs, &builtJob{cfg: *c, job: j})
		if ok {
			p.changed = append(p.changed, c.Name)
		} else {
			p.added = append(p.added, c.Name)
		}
	}
	for name := range b.running {
		if !seen[name] {
			p.removed = append(p.removed, name)
		}
	}
	return p, nil
}

// commit records p as running and updates the jobs' metric series:
// created for new jobs, deleted for removed ones.
func (b *jobBuilder) commit(p *jobPlan) {
	for _, name := range p.removed {
		b.metrics.forgetJob(name)
	}
	b.running = make(map[string]*builtJob, len(p.jobs))
	cfgs := make([]config.Job, len(p.jobs))
	for i, bj := range p.jobs {
		b.running[bj.cfg.Name] = bj
		b.metrics.registerJob(bj.cfg.Name, bj.cfg.Type, bj.cfg.Interval.Std())
		cfgs[i] = bj.cfg
	}
	b.metrics.setStoreReporters(storeReporters(cfgs, func(s *config.Store) (string, bool) {
		if !s.IsRemote() {
			// Not opened here: a gated job's directory is opened, and
			// locked, only while this agent is active (hajobs.go).
			if st, ok := b.stores[s.Identity()]; ok {
				return st.Location(), true
			}
			return s.Location(), true
		}
		st, err := b.openStore(s) // open already: found by its key
		if err != nil {
			return "", false
		}
		return st.Location(), true
	}))
}

// openStore opens a store block's store, or returns the one already open.
// An object store contacts nothing here: a bucket that is missing or
// credentials that are wrong fail the jobs' runs (with their reasons),
// never the daemon's start.
func (b *jobBuilder) openStore(s *config.Store) (store.Store, error) {
	key := storeKey(s)
	if st, ok := b.stores[key]; ok {
		return st, nil
	}
	var st store.Store
	var err error
	if s.IsRemote() {
		st, err = bucket.Open(s.BucketConfig(), bucket.Options{Name: s.Label()}, b.logger)
	} else {
		st, err = store.Open(s.Path, b.logger)
	}
	if err != nil {
		return nil, err
	}
	b.stores[key] = st
	b.metrics.storeOpened(st.Location(), s.Label(), storeType(s))
	return st, nil
}

// storeKey is what openStore keeps a store block's store under.
func storeKey(s *config.Store) string {
	key := s.Identity()
	if s.IsRemote() {
		// Every setting counts: a reload that changes a bucket's storage
		// class or part size gets a store opened with them (a bucket has no
		// lock, so two opened stores of one bucket are harmless).
		key += fmt.Sprintf(" %+v %s", s.BucketConfig(), s.Label())
	}
	return key
}

// closeUnused closes the stores no running job uses any more (removed or
// changed by a reload, or opened for a reload that was refused): a
// directory's lock is released for whoever takes it over. Call it only
// once the jobs that used them have stopped.
func (b *jobBuilder) closeUnused() {
	used := map[string]bool{}
	for _, bj := range b.running {
		for _, s := range bj.cfg.StoreList() {
			used[storeKey(s)] = true
		}
	}
	for key, st := range b.stores {
		if used[key] {
			continue
		}
		delete(b.stores, key)
		if err := st.Close(); err != nil {
			b.logger.Warn("closing a store no job uses any more", "store", st.String(), "err", err)
		} else {
			b.logger.Info("closed a store no job uses any more", "store", st.String())
		}
	}
}

// storeType is a store block's type as status and metrics give it.
func storeType(s *config.Store) string {
	if s.Type == "" {
		return config.StoreLocal
	}
	return s.Type
}

// build makes one job. Its source or target reads its token and TLS files
// at each run: one that cannot be read now fails that job's runs (and shows
// in its status and metrics), never the daemon.
func (b *jobBuilder) build(c *config.Job) (job.Job, error) {
	gate, stores, err := b.jobStores(c)
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", c.Name, err)
	}
	newSource := func() (source.Source, error) {
		cfg := c.Source
		if cfg == nil {
			cfg = c.Target
		}
		if cfg == nil {
			return nil, fmt.Errorf("job %s: no source configured", c.Name)
		}
		sc := *cfg
		sc.UserAgent = buildinfo.UserAgent()
		sc.StaleHint = "stale: true (or stale_fallback: true, only while there is no leader) in the job's source"
		src, err := source.NewDeferred(sc, b.logger)
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", c.Name, err)
		}
		if err := src.Check(); err != nil {
			b.logger.Error("job cannot read its source's settings now; its runs fail until it can", "job", c.Name, "err", err)
		}
		return src, nil
	}
	build, ok := jobBuilders[c.Type]
	if !ok {
		return nil, fmt.Errorf("job %s: unknown type %q", c.Name, c.Type)
	}
	j, err := build(b, c, stores, newSource)
	if err == nil && gate != nil {
		j.(interface{ SetGate(job.Gate) }).SetGate(gate)
	}
	return j, err
}

// restartOnlySettings lists the settings that differ between the running
// and the new configuration but only take effect on a restart, and puts
// the running values into next so that it describes what actually runs.
func restartOnlySettings(running, next *config.Config) []string {
	var held []string
	hold := func(name string, differs bool, keep func()) {
		if differs {
			held = append(held, name)
			keep()
		}
	}
	rg, ng := &running.Global, &next.Global
	hold("global.control.sockpath", rg.Control.SockPath != ng.Control.SockPath,
		func() { ng.Control.SockPath = rg.Control.SockPath })
	hold("global.monitoring.listen", rg.Monitoring.Listen != ng.Monitoring.Listen,
		func() { ng.Monitoring.Listen = rg.Monitoring.Listen })
	hold("global.logging.format", rg.Logging.Format != ng.Logging.Format || rg.Logging.FormatExplicit != ng.Logging.FormatExplicit,
		func() { ng.Logging.Format, ng.Logging.FormatExplicit = rg.Logging.Format, rg.Logging.FormatExplicit })
	hold("global.logging.output", rg.Logging.Output != ng.Logging.Output,
		func() { ng.Logging.Output = rg.Logging.Output })
	hold("global.logging.syslog", !reflect.DeepEqual(rg.Logging.Syslog, ng.Logging.Syslog),
		func() { ng.Logging.Syslog = rg.Logging.Syslog })
	hold("global.notifications", !reflect.DeepEqual(rg.Notifications, ng.Notifications),
		func() { ng.Notifications = rg.Notifications })
	return held
}

// configState is the configuration part of the status and its metrics.
type configState struct {
	successful prometheus.Gauge
	successAt  prometheus.Gauge

	mu     sync.Mutex
	status controlapi.ConfigStatus
}

func newConfigState(m *metrics, path string, loadedAt time.Time) *configState {
	s := &configState{
		successful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "raftsnap_config_last_reload_successful",
			Help: "Whether the last configuration reload (SIGHUP) succeeded (1) or was refused (0); 1 at start.",
		}),
		successAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "raftsnap_config_last_reload_success_timestamp_seconds",
			Help: "Unix time the running configuration was loaded (at start or by the last successful reload).",
		}),
		status: controlapi.ConfigStatus{Path: path, LoadedAt: loadedAt.UTC()},
	}
	m.registry.MustRegister(s.successful, s.successAt)
	s.successful.Set(1)
	s.successAt.Set(unixSeconds(loadedAt))
	return s
}

// Status returns a copy for the /status answer.
func (s *configState) Status() *controlapi.ConfigStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.LastReloadWarnings = append([]string(nil), s.status.LastReloadWarnings...)
	return &st
}

func (s *configState) record(at time.Time, err error, warnings []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at = at.UTC()
	ok := err == nil
	s.status.LastReloadAt = &at
	s.status.LastReloadSuccessful = &ok
	s.status.LastReloadError = ""
	s.status.LastReloadWarnings = warnings
	if ok {
		s.status.LoadedAt = at
		s.successful.Set(1)
		s.successAt.Set(unixSeconds(at))
		return
	}
	s.status.LastReloadError = err.Error()
	s.successful.Set(0)
}

// forgetJob deletes a removed job's series, so that alerts about it stop.
func (m *metrics) forgetJob(name string) {
	l := prometheus.Labels{"job_name": name}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.lastSuccess, m.lastAttempt, m.runDuration, m.snapshotBytes, m.failures,
		m.storeSnapshots, m.storeBytes, m.pruneDestroyed, m.restores, m.jobCrashes, m.sourceReady, m.interval, m.nextRun,
		m.drills, m.drillLastOK, m.drillLastSuccess, m.stores.scrubbed,
	} {
		v.DeletePartialMatch(l)
	}
	m.ha.forget(name)
}

// reloadProblems splits a refused reload's cause into one problem per
// line (a config.Errors lists each with its file:line:col).
func reloadProblems(err error) []string {
	var cerrs *config.Errors
	if errors.As(err, &cerrs) {
		lines := make([]string, len(cerrs.List))
		for i, e := range cerrs.List {
			lines[i] = e.Error()
		}
		return lines
	}
	return strings.Split(err.Error(), "\n")
}

// reloader applies SIGHUP reloads to a running daemon. Only Run's loop
// calls it, so a reload never overlaps another or the shutdown.
type reloader struct {
	path    string // "" for a built-in configuration (--dev)
	running *config.Config
	logger  *slog.Logger
	level   *slog.LevelVar // nil when the caller supplied the logger
	// logFlags puts the command line's logging flags over a new file's.
	logFlags func(*config.Logging)
	events   *events
	// drillTrigger follows the drill jobs' after_snapshots.
	drillTrigger *drillTrigger
	builder      *jobBuilder
	sup          *supervisor
	state        *configState
	notify       *notifier
}

// errNoConfigFile is a reload of a daemon without a configuration file.
var errNoConfigFile = errors.New("this daemon runs a built-in configuration (--dev): there is no file to reload")

// reloadRefusedError is a reload refused because of the new file: the
// running configuration stays.
type reloadRefusedError struct{ problems []string }

func (e *reloadRefusedError) Error() string {
	return "configuration reload refused, the running configuration stays in force:\n" + strings.Join(e.problems, "\n")
}

// reload applies the configuration file again and says how it went: a
// SIGHUP ignores the outcome (it is logged and in the status), a reload
// over the control socket returns it to the caller.
func (r *reloader) reload() (controlapi.ReloadResponse, error) {
	r.notify.reloading()
	defer func() { r.notify.ready(r.statusLine()) }()
	if r.path == "" {
		r.logger.Warn("reload requested, but this daemon runs a built-in configuration (--dev): nothing to reload")
		return controlapi.ReloadResponse{}, errNoConfigFile
	}
	r.logger.Info("reloading the configuration", "config", r.path)
	now := time.Now()
	plan, next, err := r.prepare()
	if err != nil {
		problems := reloadProblems(err)
		for _, p := range problems {
			r.logger.Error("configuration reload refused", "problem", p)
		}
		r.logger.Error("configuration reload failed: the running configuration stays in force",
			"config", r.path, "problems", len(problems))
		r.state.record(now, errors.New(strings.Join(problems, "\n")), nil)
		r.events.reloadRefused(r.path, problems)
		r.builder.closeUnused() // what the refused plan opened
		return controlapi.ReloadResponse{}, &reloadRefusedError{problems: problems}
	}
	for _, w := range next.Warnings {
		r.logger.Warn("configuration: " + w)
	}
	held := restartOnlySettings(r.running, next)
	for _, name := range held {
		r.logger.Warn("configuration reload: "+name+" changed; it takes effect only after a restart, the running value stays",
			"setting", name)
	}
	if r.level != nil {
		if err := setLevel(r.level, next.Global.Logging.Level); err != nil {
			r.logger.Warn("configuration reload: " + err.Error())
		}
	}
	stuck := r.sup.replace(plan.jobList(), next.Global.ShutdownTimeout.Std())
	for _, name := range stuck {
		r.logger.Error("configuration reload: a stopped job did not end within the shutdown timeout; its replacement runs anyway",
			"job", name, "timeout", next.Global.ShutdownTimeout.Std())
	}
	r.builder.commit(plan)
	if len(stuck) == 0 {
		r.builder.closeUnused()
	}
	r.running = next
	r.drillTrigger.configure(next)
	warnings := make([]string, len(held))
	for i, name := range held {
		warnings[i] = name + " changed: needs a restart"
	}
	r.state.record(now, nil, warnings)
	r.logger.Info("configuration reloaded", "config", r.path,
		"added", strings.Join(plan.added, ","), "changed", strings.Join(plan.changed, ","),
		"removed", strings.Join(plan.removed, ","), "unchanged", len(plan.unchanged))
	return controlapi.ReloadResponse{Config: r.path, Added: plan.added, Changed: plan.changed, Removed: plan.removed,
		Unchanged: len(plan.unchanged), Warnings: warnings}, nil
}

// prepare loads and validates the file and builds the jobs it adds or
// changes, touching nothing that runs.
func (r *reloader) prepare() (*jobPlan, *config.Config, error) {
	next, err := config.Load(r.path)
	if err != nil {
		return nil, nil, err
	}
	if r.logFlags != nil {
		r.logFlags(&next.Global.Logging)
	}
	plan, err := r.builder.plan(next)
	if err != nil {
		return nil, nil, err
	}
	return plan, next, nil
}

func (r *reloader) statusLine() string {
	n := len(r.sup.JobNames())
	line := fmt.Sprintf("%d jobs running", n)
	if st := r.state.Status(); st.LastReloadSuccessful != nil && !*st.LastReloadSuccessful {
		line += "; last reload refused (see raftsnap status)"
	}
	return line
}
