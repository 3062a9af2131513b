// Package daemon runs raftsnap's jobs under a supervisor, serves the control
// socket and the metrics, and shuts everything down cleanly on request.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/job"
	"github.com/raftsnap/raftsnap/nethelpers"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// Options are what Run needs besides the configuration.
type Options struct {
	Version job.VersionInfo
	Stdout  io.Writer
	Stderr  io.Writer
	// Logger, when set, replaces the one built from global.logging.
	Logger *slog.Logger
	// Ready is called once the control socket listens and the jobs run.
	Ready func(ReadyInfo)
}

// ReadyInfo tells where a started daemon can be reached.
type ReadyInfo struct {
	SockPath    string
	MetricsAddr string // "" when metrics are off
}

// Run starts the daemon and blocks until ctx is done (SIGINT/SIGTERM) or
// the control socket fails. Shutdown stops taking new work, cancels the
// running jobs (which remove their temp files) and waits for them up to
// global.shutdown_timeout. A nil error means a clean shutdown.
func Run(ctx context.Context, cfg *config.Config, opts Options) (err error) {
	logger := opts.Logger
	if logger == nil {
		l, closer, err := NewLogger(cfg.Global.Logging, opts.Stdout, opts.Stderr)
		if err != nil {
			return err
		}
		defer closer.Close()
		logger = l
	}
	for _, w := range cfg.Warnings {
		logger.Warn("configuration: " + w)
	}

	// The socket lock first: opening the stores removes leftover temp
	// files, which must not happen to the downloads of a daemon already
	// running with this configuration.
	listener, err := nethelpers.ListenPrivate(cfg.Global.Control.SockPath)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	defer listener.Close()

	m := newMetrics(opts.Version)
	jobs, err := buildJobs(cfg, logger, m)
	if err != nil {
		return err
	}

	var metricsLn net.Listener
	if addr := cfg.Global.Monitoring.Listen; addr != "" {
		metricsLn, err = net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("monitoring.listen %s: %w", addr, err)
		}
	}

	sup := newSupervisor(jobs, logger, opts.Version.Version)
	sup.onCrash = m.jobCrashed
	control := NewControlServer(sup, opts.Version, logger, m)

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
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		info.MetricsAddr = metricsLn.Addr().String()
		go func() {
			if err := metricsSrv.Serve(metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("metrics server: %w", err)
			}
		}()
	}
	logger.Info("daemon started", "version", opts.Version.Version, "socket", info.SockPath,
		"metrics", info.MetricsAddr, "jobs", len(jobs))
	if opts.Ready != nil {
		opts.Ready(info)
	}

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "timeout", cfg.Global.ShutdownTimeout.Std())
	case runErr = <-failed:
		logger.Error("stopping the daemon", "error", runErr)
	}

	stopJobs()
	timeout := cfg.Global.ShutdownTimeout.Std()
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

// buildJobs turns the configuration into jobs. Stores are opened once per
// path and shared by the jobs using them.
func buildJobs(cfg *config.Config, logger *slog.Logger, m *metrics) ([]job.Job, error) {
	stores := map[string]*store.Local{}
	openStore := func(s *config.Store) (*store.Local, error) {
		if st, ok := stores[s.Path]; ok {
			return st, nil
		}
		st, err := store.Open(s.Path, logger)
		if err != nil {
			return nil, err
		}
		stores[s.Path] = st
		return st, nil
	}
	buildSource := func(name string, s *config.Source) (source.Source, error) {
		sc, err := s.SourceConfig(logger)
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", name, err)
		}
		src, err := source.New(sc)
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", name, err)
		}
		return src, nil
	}

	var jobs []job.Job
	for i := range cfg.Jobs {
		c := &cfg.Jobs[i]
		jl := logger // the jobs add job=<name> and run=<id> themselves
		st, err := openStore(c.Store)
		if err != nil {
			return nil, fmt.Errorf("job %s: store %s: %w", c.Name, c.Store.Path, err)
		}
		var j job.Job
		switch c.Type {
		case "snapshot":
			src, err := buildSource(c.Name, c.Source)
			if err != nil {
				return nil, err
			}
			policy, err := c.Pruning.Policy()
			if err != nil {
				return nil, fmt.Errorf("job %s: %w", c.Name, err)
			}
			j, err = job.NewSnapshotJob(job.SnapshotOptions{
				Name: c.Name, Source: src, Store: st,
				Interval: c.Interval.Std(), Jitter: c.Jitter.Std(), Timeout: c.Timeout.Std(),
				Retries: job.RetryPolicy{
					Max:        c.Retries.Max,
					Initial:    c.Retries.InitialBackoff.Std(),
					MaxBackoff: c.Retries.MaxBackoff.Std(),
				},
				Policy: policy, Logger: jl, Metrics: m,
			})
			if err != nil {
				return nil, err
			}
		case "prune":
			policy, err := c.Pruning.Policy()
			if err != nil {
				return nil, fmt.Errorf("job %s: %w", c.Name, err)
			}
			j, err = job.NewPruneJob(job.PruneOptions{
				Name: c.Name, Store: st, Interval: c.Interval.Std(), Jitter: c.Jitter.Std(),
				Policy: policy, Owners: c.Owners, Logger: jl, Metrics: m,
			})
			if err != nil {
				return nil, err
			}
		case "restore":
			target, err := buildSource(c.Name, c.Target)
			if err != nil {
				return nil, err
			}
			j, err = job.NewRestoreJob(job.RestoreOptions{
				Name: c.Name, Store: st, Snapshot: c.Snapshot, FromJob: c.FromJob,
				Target: target, Timeout: c.Timeout.Std(), Logger: jl, Metrics: m,
			})
			if err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("job %s: unknown type %q", c.Name, c.Type)
		}
		m.registerJob(c.Name, c.Type)
		jobs = append(jobs, j)
	}
	return jobs, nil
}
