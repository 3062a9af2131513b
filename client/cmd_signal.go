package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/client/statusview"
)

// signalAnswerTimeout bounds a signal that does not wait for its run.
const signalAnswerTimeout = 10 * time.Second

type signalOptions struct {
	control controlOptions
	wait    bool
	timeout time.Duration
}

func newSignalCommand(g *globalOptions) *cobra.Command {
	opts := &signalOptions{}
	cmd := &cobra.Command{
		Use:   "signal wakeup|reset JOB",
		Short: "Wake a job up or reset it",
		Long: `Send a signal to a job of the running daemon.

  wakeup  run the job now: a snapshot job takes a snapshot (then prunes), a
          prune job prunes, a restore job restores, a drill job drills the
          newest snapshot. If the job is busy, one run is queued to start
          when the current run ends.
  reset   cancel the job's current run (and a queued wakeup); the job goes
          back to waiting for its schedule.

With --wait, wakeup prints the result of the run it caused and exits 0 if
the run succeeded, 1 if it failed or was canceled. An unknown job or a
signal the job does not support exits 2. A wakeup sent to an agent that is
a standby for the job (ha, docs/ha.md) is refused and exits 5, naming the
active agent.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError(fmt.Errorf("%s expects a signal (wakeup or reset) and a JOB; see --help", cmd.CommandPath()))
			}
			if !slices.Contains(controlapi.Ops, args[0]) {
				return usageError(fmt.Errorf("unknown signal %q: use wakeup or reset", args[0]))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.timeout < 0 {
				return usageError(errors.New("--timeout must not be negative"))
			}
			if opts.wait && args[0] != controlapi.OpWakeup {
				return usageError(errors.New("--wait applies only to wakeup: reset takes effect at once"))
			}
			c, err := opts.control.client(cmd)
			if err != nil {
				return err
			}
			return runSignal(cmd.Context(), g, opts, c, args[0], args[1])
		},
	}
	addControlFlags(cmd, &opts.control)
	cmd.ValidArgsFunction = signalArgs(&opts.control)
	cmd.Flags().BoolVar(&opts.wait, "wait", false, "wait for the run the wakeup causes to end, print its result, exit 1 unless it succeeded")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 0, "give up after this long (default: 10s, or no limit with --wait); the daemon's run goes on")
	return cmd
}

func runSignal(ctx context.Context, g *globalOptions, opts *signalOptions, c *controlapi.Client, op, jobName string) error {
	timeout := opts.timeout
	if timeout == 0 && !opts.wait {
		timeout = signalAnswerTimeout
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}

	resp, err := c.Signal(ctx, controlapi.SignalRequest{Job: jobName, Op: op, Wait: opts.wait})
	if errors.Is(err, context.DeadlineExceeded) {
		if opts.wait {
			return fmt.Errorf("gave up waiting after %s: job %s's run goes on in the daemon (see raftsnap status)", timeout, jobName)
		}
		return fmt.Errorf("the daemon did not answer within %s", timeout)
	}
	if err != nil {
		return asCLIError(err)
	}

	switch {
	case op == controlapi.OpReset:
		fmt.Fprintf(g.stdout, "reset job %s: its current run, if any, is canceled; it waits for its next scheduled run\n", jobName)
	case resp.Queued:
		fmt.Fprintf(g.stdout, "job %s is busy: one run is queued to start when the current run ends\n", jobName)
	default:
		fmt.Fprintf(g.stdout, "woke up job %s: a run starts now\n", jobName)
	}
	if !opts.wait {
		return nil
	}
	if resp.Run == nil {
		return fmt.Errorf("the daemon answered without the run's result")
	}
	fmt.Fprintf(g.stdout, "%s: %s\n", jobName, statusview.FormatRun(*resp.Run))
	if resp.Run.Result != controlapi.ResultSuccess {
		return &silentError{code: ExitError}
	}
	return nil
}
