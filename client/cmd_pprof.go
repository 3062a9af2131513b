package client

import (
	"context"
	"fmt"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"

	"github.com/spf13/cobra"
)

const pprofTimeout = 15 * time.Second

type pprofOptions struct {
	control     controlOptions
	allowRemote bool
}

func newPprofCommand(g *globalOptions) *cobra.Command {
	opts := &pprofOptions{}
	cmd := &cobra.Command{
		Use:   "pprof on ADDR | off | status",
		Short: "Start or stop the daemon's Go profiling (pprof) HTTP server",
		Long: `Start (on ADDR, e.g. 127.0.0.1:6060), stop (off) or show (status, the
default) the daemon's net/http/pprof server. It serves profiles of the
daemon's memory, goroutines and CPU to anyone who can reach ADDR: bind it to
127.0.0.1 and turn it off when done: an address other hosts can reach is
refused unless --allow-remote is given. A port already in use is an error.`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0, len(args) == 1 && (args[0] == "off" || args[0] == "status"):
				return nil
			case len(args) == 2 && args[0] == "on":
				return nil
			case len(args) >= 1 && args[0] == "on":
				return usageError(fmt.Errorf("pprof on expects an address such as 127.0.0.1:6060"))
			default:
				return usageError(fmt.Errorf("%s expects `on ADDR`, `off` or `status`; see --help", cmd.CommandPath()))
			}
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := opts.control.client(cmd)
			if err != nil {
				return err
			}
			return runPprof(cmd.Context(), g, c, args, opts)
		},
	}
	addControlFlags(cmd, &opts.control)
	cmd.Flags().BoolVar(&opts.allowRemote, "allow-remote", false, "allow an ADDR other hosts can reach (profiles expose the daemon's memory, tokens included)")
	return cmd
}

func runPprof(ctx context.Context, g *globalOptions, c *controlapi.Client, args []string, opts *pprofOptions) error {
	ctx, cancel := context.WithTimeout(ctx, pprofTimeout)
	defer cancel()
	var st controlapi.PprofStatus
	var err error
	switch {
	case len(args) == 0 || args[0] == "status":
		st, err = c.PprofStatus(ctx)
	case args[0] == "off":
		st, err = c.Pprof(ctx, controlapi.PprofRequest{Off: true})
	default:
		st, err = c.Pprof(ctx, controlapi.PprofRequest{Listen: args[1], AllowRemote: opts.allowRemote})
	}
	if err != nil {
		return asCLIError(err)
	}
	if st.Running {
		fmt.Fprintf(g.stdout, "pprof server listening on http://%s/debug/pprof/\n", st.Listen)
	} else {
		fmt.Fprintln(g.stdout, "pprof server is off")
	}
	return nil
}
