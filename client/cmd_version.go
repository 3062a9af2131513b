package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/daemon/buildinfo"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot"
)

// versionDaemonTimeout bounds asking the daemon its version: `raftsnap
// version` must answer promptly even if the daemon hangs.
const versionDaemonTimeout = 5 * time.Second

func newVersionCommand(g *globalOptions) *cobra.Command {
	control := &controlOptions{}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print raftsnap's version, and the running daemon's",
		Long: `Print this client's version, then the version of the daemon listening on the
control socket, with a warning when they differ (restart the daemon after an
upgrade). Without a reachable daemon it prints a note on stderr and still
exits 0.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersion(cmd, g, control)
		},
	}
	addControlFlags(cmd, control)
	return cmd
}

// versionInfo is this binary's build information as /version answers it.
func versionInfo() controlapi.VersionInfo {
	bi := buildinfo.Get()
	return controlapi.VersionInfo{Version: bi.Version, Commit: bi.Commit, GoVersion: bi.GoVersion, OS: bi.OS, Arch: bi.Arch}
}

func formatVersion(who string, v controlapi.VersionInfo) string {
	return fmt.Sprintf("%s %s (commit %s, %s, %s/%s)", who, v.Version, v.Commit, v.GoVersion, v.OS, v.Arch)
}

func runVersion(cmd *cobra.Command, g *globalOptions, control *controlOptions) error {
	mine := versionInfo()
	if _, err := fmt.Fprintln(g.stdout, formatVersion("raftsnap", mine)); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "  gzip inflate: %s\n", snapshot.InflateEngine())
	c, err := control.client(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), versionDaemonTimeout)
	defer cancel()
	theirs, err := c.Version(ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("the daemon on %s did not answer within %s", c.SockPath(), versionDaemonTimeout)
		}
		fmt.Fprintf(g.stderr, "note: daemon version unknown: %v\n", err)
		return nil
	}
	fmt.Fprintln(g.stdout, formatVersion("daemon", theirs))
	if theirs.Version != mine.Version || (theirs.Commit != mine.Commit && theirs.Commit != "unknown" && mine.Commit != "unknown") {
		fmt.Fprintf(g.stderr, "warning: the daemon runs raftsnap %s (commit %s) but this client is %s (commit %s): restart the daemon after an upgrade\n",
			theirs.Version, theirs.Commit, mine.Version, mine.Commit)
	}
	return nil
}
