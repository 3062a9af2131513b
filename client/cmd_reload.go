package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
)

// reloadTimeout bounds waiting for a reload: building the new jobs, and
// stopping replaced ones (up to global.shutdown_timeout).
const reloadTimeout = 5 * time.Minute

func newReloadCommand(g *globalOptions) *cobra.Command {
	control := &controlOptions{}
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Make the running daemon apply its configuration file again, and say whether it did",
		Long: `Ask the daemon, over its control socket, to reload its configuration file,
as SIGHUP does, and wait for the outcome. Exits 0 when the new configuration
runs (jobs added, changed or removed are listed; settings that need a
restart are named), and 2 when the daemon refused the file: its problems are
printed with file:line:col, and the configuration already running stays.
The systemd unit's ExecReload uses it, so that ` + "`systemctl reload raftsnap`" + `
fails when the new file is refused.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := control.client(cmd)
			if err != nil {
				return err
			}
			return runReload(cmd.Context(), g, c)
		},
	}
	addControlFlags(cmd, control)
	return cmd
}

func runReload(ctx context.Context, g *globalOptions, c *controlapi.Client) error {
	ctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	resp, err := c.Reload(ctx)
	var ce *controlapi.Error
	switch {
	case errors.As(err, &ce) && ce.Code == http.StatusUnprocessableEntity:
		fmt.Fprintln(g.stderr, ce.Resp.Error)
		return &silentError{code: ExitUsage}
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the daemon did not finish the reload within %s (see raftsnap status)", reloadTimeout)
	case err != nil:
		return asCLIError(err)
	}
	parts := []string{}
	for _, p := range []struct {
		what  string
		names []string
	}{{"added", resp.Added}, {"changed", resp.Changed}, {"removed", resp.Removed}} {
		if len(p.names) > 0 {
			parts = append(parts, p.what+" "+strings.Join(p.names, ", "))
		}
	}
	parts = append(parts, fmt.Sprintf("%d unchanged", resp.Unchanged))
	fmt.Fprintf(g.stdout, "reloaded %s: %s\n", resp.Config, strings.Join(parts, "; "))
	for _, w := range resp.Warnings {
		fmt.Fprintf(g.stderr, "warning: %s\n", w)
	}
	return nil
}
