package client

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon"
)

type daemonOptions struct {
	config string
	dev    bool
	devDir string
	// logLevelSet and logFormatSet tell whether the global --log-level
	// and --log-format flags were given.
	logLevelSet, logFormatSet bool
}

func newDaemonCommand(g *globalOptions) *cobra.Command {
	opts := &daemonOptions{}
	cmd := &cobra.Command{
		Use:   "daemon [--config FILE | --dev [--dev-dir DIR]]",
		Short: "Run the snapshot, prune and restore jobs until SIGINT/SIGTERM",
		Long: `Run raftsnap's jobs as configured, serve the control socket (for
raftsnap status/signal) and the Prometheus metrics, until SIGINT or SIGTERM.
On a signal it starts no new run or retry, lets runs in progress finish for
up to global.shutdown_timeout, then cancels the rest (removing their
temporary files) and exits. SIGHUP reloads
the configuration file: an invalid one is refused and the running one stays
(see docs/systemd.md for what a reload changes).

--dev runs against an embedded default instead of a config file: a 3-node
Raft cluster to back up, a 1-node cluster to restore into, and a built-in
configuration (written to DIR/raftsnap.yml) with a snapshot job every 10
seconds, a prune job and a restore job, everything under DIR.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.dev && cmd.Flags().Changed("config") {
				return usageError(fmt.Errorf("--dev and --config exclude each other: --dev uses its built-in configuration"))
			}
			if !opts.dev && cmd.Flags().Changed("dev-dir") {
				return usageError(fmt.Errorf("--dev-dir needs --dev"))
			}
			opts.logLevelSet = cmd.Flags().Changed("log-level")
			opts.logFormatSet = cmd.Flags().Changed("log-format")
			return runDaemon(cmd.Context(), g, opts)
		},
	}
	cmd.Flags().StringVar(&opts.config, "config", config.DefaultPath, "configuration file")
	cmd.Flags().BoolVar(&opts.dev, "dev", false, "run the embedded default: dev clusters and a built-in configuration")
	cmd.Flags().StringVar(&opts.devDir, "dev-dir", filepath.Join(os.TempDir(), "raftsnap-dev"), "with --dev: where the socket, the store and the config go")
	return cmd
}

// forwardSIGHUP catches SIGHUP (whose default action would kill the
// process) for as long as the daemon runs, and turns each into a reload
// request; requests arriving during a reload merge into one more.
func forwardSIGHUP() (reload <-chan struct{}, stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	requests := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				select {
				case requests <- struct{}{}:
				default:
				}
			case <-done:
				return
			}
		}
	}()
	return requests, func() { signal.Stop(hup); close(done) }
}

func runDaemon(ctx context.Context, g *globalOptions, opts *daemonOptions) error {
	dopts := daemon.Options{Version: versionInfo(), Stdout: g.stdout, Stderr: g.stderr, GC: daemon.SetGCDefault()}
	// --log-level and --log-format, when given, win over global.logging:
	// the CLI's own defaults (warn, text) must not replace the file's.
	if opts.logLevelSet {
		dopts.LogLevel = g.logLevel
	}
	if opts.logFormatSet {
		dopts.LogFormat = g.logFormat
	}
	reload, stopReload := forwardSIGHUP()
	defer stopReload()
	dopts.Reload = reload
	if !opts.dev {
		cfg, err := loadConfig(g, opts.config, config.Options{UID: os.Geteuid()})
		if err != nil {
			return err
		}
		dopts.ConfigPath = opts.config
		return daemon.Run(ctx, cfg, dopts)
	}

	// The dev clusters' raft logs its first elections at WARN on every
	// start (heartbeat timeouts before a leader exists): noise for someone
	// trying raftsnap out. Their errors still show.
	devLogger := slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	env, err := daemon.StartDev(ctx, opts.devDir, devLogger)
	if err != nil {
		return err
	}
	defer env.Close()
	self := commandName()
	dopts.Ready = func(info daemon.ReadyInfo) {
		if err := env.WriteConfig(); err != nil {
			fmt.Fprintf(g.stderr, "raftsnap: warning: cannot write the built-in configuration for reference: %v\n", err)
		}
		sock := info.SockPath
		fmt.Fprintf(g.stdout, `
raftsnap daemon --dev is running.
  config:   %[5]s (built in)
  store:    %[2]s/store
  socket:   %[3]s
  metrics:  http://%[4]s/metrics

Try, in another terminal:
  %[1]s status --socket %[3]s
  %[1]s signal wakeup dev-snapshot --wait --socket %[3]s
  %[1]s signal wakeup dev-restore --wait --socket %[3]s
  %[1]s snapshot inspect "$(ls -t %[2]s/store/*.snap | head -1)"

Press Ctrl-C to stop.

`, self, env.Dir, sock, info.MetricsAddr, env.ConfigPath())
	}
	return daemon.Run(ctx, env.Config, dopts)
}

// commandName is how the user can run this binary again, for the commands
// --dev suggests (see commandNameFor).
func commandName() string {
	self, err := os.Executable()
	if err != nil {
		return "raftsnap"
	}
	onPath, _ := exec.LookPath("raftsnap")
	return commandNameFor(self, onPath)
}

// commandNameFor: "go run ." when self is `go run`'s temporary binary
// (gone once it exits), "raftsnap" when self is the raftsnap on PATH
// (onPath, "" if none), else self's path.
func commandNameFor(self, onPath string) string {
	if strings.Contains(self, string(filepath.Separator)+"go-build") {
		return "go run ."
	}
	if onPath != "" {
		a, err1 := filepath.EvalSymlinks(onPath)
		b, err2 := filepath.EvalSymlinks(self)
		if err1 == nil && err2 == nil && a == b {
			return "raftsnap"
		}
	}
	return self
}
