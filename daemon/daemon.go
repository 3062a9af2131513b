// Package daemon runs raftsnap's jobs under a supervisor, serves the control
// socket and the metrics, and shuts everything down cleanly on request.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/daemon/webhook"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/nethelpers"
)

// Options are what Run needs besides the configuration.
type Options struct {
	Version controlapi.VersionInfo
	Stdout  io.Writer
	Stderr  io.Writer
	// Logger, when set, replaces the one built from global.logging.
	Logger *slog.Logger
	// Ready is called once the control socket listens and the jobs run.
	Ready func(ReadyInfo)
	// ConfigPath is the file a reload reads again; "" for a configuration
	// that has no file (--dev), which a reload request leaves as it is.
	ConfigPath string
	// Reload, when set, asks for a configuration reload on each receive
	// (the CLI forwards SIGHUP to it). Run does not catch signals itself.
	Reload <-chan struct{}
	// LogLevel and LogFormat, when set (the daemon command's --log-level
	// and --log-format), win over global.logging's level and format, at
	// start and across reloads.
	LogLevel, LogFormat string
	// GC is the collector setting the process runs with (SetGCDefault),
	// logged at start; zero when the caller did not set one.
	GC GCSetting
}

// applyLogFlags puts the command line's logging choices over the file's.
func (o *Options) applyLogFlags(l *config.Logging) {
	if o.LogLevel != "" {
		l.Level = o.LogLevel
	}
	if o.LogFormat != "" {
		l.Format, l.FormatExplicit = o.LogFormat, true
	}
}

// ReadyInfo tells where a started daemon can be reached.
type ReadyInfo struct {
	SockPath    string
	MetricsAddr string // "" when metrics are off
}

// Run starts the daemon and blocks until ctx is done (SIGINT/SIGTERM) or
// the control socket fails. Shutdown stops taking new work (no new run, no
// retry), lets the runs in progress finish for up to
// global.shutdown_timeout, then cancels those still running (they remove
// their temp files). A nil error means a clean shutdown.
//
// Under systemd (NOTIFY_SOCKET set) it reports READY=1 once the control
// socket listens and the jobs run, RELOADING=1/READY=1 around reloads,
// STOPPING=1 on shutdown, and pings the watchdog at half of WATCHDOG_USEC
// from its main loop, so a stuck loop stops the pings.
func Run(ctx context.Context, cfg *config.Config, opts Options) (err error) {
	opts.applyLogFlags(&cfg.Global.Logging)
	logger := opts.Logger
	var level *slog.LevelVar
	if logger == nil {
		l, lv, closer, err := newLogger(cfg.Global.Logging, opts.Stdout, opts.Stderr)
		if err != nil {
			return err
		}
		defer closer.Close()
		logger, level = l, lv
	}
	for _, w := range cfg.Warnings {
		logger.Warn("configuration: " + w)
	}
	notify := newNotifier(logger)

	// The socket lock first: opening the stores removes leftover temp
	// files, which must not happen to the downloads of a daemon already
	// running with this configuration.
	listener, err := nethelpers.ListenPrivate(cfg.Global.Control.SockPath)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	defer listener.Close()

	m := newMetrics(opts.Version)
	// Notifications outlive the jobs' context: a failure at shutdown is
	// still worth telling (their own loop ends with the daemon).
	notifyCtx, stopNotify := context.WithCancel(context.Background())
	defer stopNotify()
	m.events = newEvents(webhook.New(notifyCtx, webhookConfigs(cfg), opts.Version.Version, logger, m))
	builder := newJobBuilder(logger, m)
	plan, err := builder.plan(cfg)
	if err != nil {
		return err
	}
	builder.commit(plan)
	jobs := plan.jobList()

	var metricsLn net.Listener
	if addr := cfg.Global.Monitoring.Listen; addr != "" {
		metricsLn, err = net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("monitoring.listen %s: %w", addr, err)
		}
	}

	sup := newSupervisor(jobs, logger, opts.Version.Version)
	sup.onCrash = m.jobCrashed
	m.drillTrigger = newDrillTrigger(logger, sup.Job)
	m.drillTrigger.configure(cfg)
	cfgState := newConfigState(m, opts.ConfigPath, time.Now())
	sup.configStatus = cfgState.Status
	control := NewControlServer(sup, opts.Version, logger, m)
	// Reloads asked over the socket run on this loop too, so that a reload
	// never overlaps another or the shutdown; the handler waits for the
	// outcome.
	reloads := make(chan reloadRequest)
	control.reload = func(ctx context.Context) (controlapi.ReloadResponse, error) {
		req := reloadRequest{done: make(chan reloadOutcome, 1)}
		select {
		case reloads <- req:
		case <-ctx.Done():
			return controlapi.ReloadResponse{}, ctx.Err()
		}
		select {
		case out := <-req.done:
			return out.resp, out.err
		case <-ctx.Done():
			return controlapi.ReloadResponse{}, ctx.Err()
		}
	}
	reload := &reloader{
		path: opts.ConfigPath, running: cfg, logger: logger, level: level,
		builder: builder, sup: sup, state: cfgState, notify: notify, logFlags: opts.applyLogFlags, events: m.events,
		drillTrigger: m.drillTrigger,
	}

	jobCtx, stopJobs := context.WithCancel(context.Background())
	defer stopJobs()
	sup.start(jobCtx)

	failed := make(chan error, 2)
	go func() {
		if err := control.Serve(listener); err != nil {
			failed <- err
		}
	}()
	var metricsSrv *http.Server
	info := ReadyInfo{SockPath: listener.Path()}
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			if jobCtx.Err() != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, "stopping")
				return
			}
			fmt.Fprintln(w, "ok")
		})
		mux.HandleFunc("/", landingPage(opts.Version))
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		info.MetricsAddr = metricsLn.Addr().String()
		go func() {
			if err := metricsSrv.Serve(metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("metrics server: %w", err)
			}
		}()
	}
	started := []any{"version", opts.Version.Version, "socket", info.SockPath, "metrics", info.MetricsAddr, "jobs", len(jobs)}
	if opts.GC != (GCSetting{}) {
		started = append(started, "gogc", opts.GC.String())
	}
	logger.Info("daemon started", started...)
	if opts.Ready != nil {
		opts.Ready(info)
	}
	notify.ready(reload.statusLine())

	watchdog, stopWatchdog := notify.watchdogTicks()
	defer stopWatchdog()
	staleTicker := time.NewTicker(staleCheckEvery)
	defer staleTicker.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			logger.Info("shutting down", "timeout", reload.running.Global.ShutdownTimeout.Std())
			break loop
		case runErr = <-failed:
			logger.Error("stopping the daemon", "error", runErr)
			break loop
		case <-opts.Reload:
			reload.reload()
		case req := <-reloads:
			resp, err := reload.reload()
			req.done <- reloadOutcome{resp, err}
		case <-watchdog:
			notify.ping()
		case now := <-staleTicker.C:
			m.events.checkStale(reload.running, sup.Status(false), now)
		}
	}
	notify.stopping()

	stopJobs()
	timeout := reload.running.Global.ShutdownTimeout.Std()
	waitErr := sup.wait(timeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	control.Shutdown(shutdownCtx)
	if metricsSrv != nil {
		metricsSrv.Shutdown(shutdownCtx)
	}
	if runErr != nil {
		return runErr
	}
	if waitErr != nil {
		logger.Warn("shutdown incomplete", "error", waitErr)
		return waitErr
	}
	logger.Info("daemon stopped")
	return nil
}

// staleCheckEvery is how often the daemon looks for jobs whose snapshots
// went stale (to notify; the metrics tell Prometheus all the time).
var staleCheckEvery = time.Minute

// reloadRequest is a reload asked over the control socket, waiting for its
// outcome.
type reloadRequest struct{ done chan reloadOutcome }

type reloadOutcome struct {
	resp controlapi.ReloadResponse
	err  error
}

// landingPage answers / on the metrics listener with what is served there,
// as Prometheus exporters do; anything else is a 404.
func landingPage(v controlapi.VersionInfo) http.HandlerFunc {
	page := fmt.Sprintf(`<!doctype html>
<html><head><title>raftsnap</title></head>
<body>
<h1>raftsnap %s</h1>
<ul>
<li><a href="/metrics">/metrics</a>: Prometheus metrics (docs/monitoring.md)</li>
<li><a href="/healthz">/healthz</a>: 200 "ok" while the daemon runs, 503 while it stops</li>
</ul>
<p>Status and control are on the daemon's private unix socket: <code>raftsnap status</code>.</p>
</body></html>
`, html.EscapeString(v.Version))
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page)
	}
}
