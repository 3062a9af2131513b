// Package client holds raftsnap's command line: one file per subcommand,
// each an options struct, its flags, and a runX function that cobra calls.
// Exit codes are part of the interface (see exitcodes.go).
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/daemon/buildinfo"
	"github.com/raftsnap/raftsnap/snapshot"
)

// globalOptions are the flags every subcommand accepts.
type globalOptions struct {
	logLevel  string
	logFormat string

	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	logger *slog.Logger
}

// Main runs the CLI with args (without the program name) and returns the
// process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	g := &globalOptions{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCommand(g)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)

	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var silent *silentError
	if !errors.As(err, &silent) {
		fmt.Fprintf(stderr, "raftsnap: %v\n", err)
	}
	return exitCode(err)
}

func newRootCommand(g *globalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:   "raftsnap",
		Short: "Verified snapshots of Consul, Nomad, Vault and hashicorp/raft clusters",
		Long: `raftsnap takes snapshots of Raft-based systems (Consul, Nomad, Vault and Go
services embedding hashicorp/raft), verifies every byte while it streams, and
restores them.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			logger, err := newLogger(g.stderr, g.logLevel, g.logFormat)
			if err != nil {
				return usageError(err)
			}
			g.logger = logger
			return nil
		},
	}
	// --version, as most tools take it: this binary's version, without
	// asking a daemon (that is `raftsnap version`).
	root.Version = buildinfo.Get().Version
	root.SetVersionTemplate(formatVersion("raftsnap", versionInfo()) + "\n  gzip inflate: " + snapshot.InflateEngine() + "\n")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError(err) })

	defer registerCompletions(root)
	root.AddCommand(
		newSnapshotCommand(g),
		newRaftDirCommand(g),
		newStoreCommand(g),
		newDevClusterCommand(g),
		newVersionCommand(g),
		newSignalCommand(g),
		newReloadCommand(g),
		newCheckCommand(g),
		newStatusCommand(g),
		newPprofCommand(g),
		newConfigcheckCommand(g),
		newTestCommand(g),
		newDaemonCommand(g),
		newGenDocsCommand(g),
	)
	return root
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("invalid --log-format %q: use text or json", format)
	}
}
