package client

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
)

// completionTimeout bounds asking the daemon for job names while a shell
// waits for completions.
const completionTimeout = time.Second

// flagValues are the fixed choices of flags that take one, by flag name,
// wherever the flag appears.
var flagValues = map[string][]string{
	"format":     {"text", "json"},
	"mode":       {"interactive", "dump", "raw"},
	"log-level":  {"debug", "info", "warn", "error"},
	"log-format": {"text", "json"},
	"flavor":     {"auto", "consul", "nomad"},
}

// registerCompletions gives every flag with fixed choices its completion,
// wherever in the command tree it is declared.
func registerCompletions(cmd *cobra.Command) {
	for _, fs := range []*pflag.FlagSet{cmd.LocalNonPersistentFlags(), cmd.PersistentFlags()} {
		fs.VisitAll(func(f *pflag.Flag) {
			if values, ok := flagValues[f.Name]; ok {
				_ = cmd.RegisterFlagCompletionFunc(f.Name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
			}
		})
	}
	for _, sub := range cmd.Commands() {
		registerCompletions(sub)
	}
}

// daemonJobs completes a job name from the daemon's jobs.
func daemonJobs(o *controlOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return daemonJobNames(cmd, o), cobra.ShellCompDirectiveNoFileComp
	}
}

// daemonJobNames asks the daemon for its jobs, quietly: no answer, no
// names.
func daemonJobNames(cmd *cobra.Command, o *controlOptions) []string {
	c, err := o.client(cmd)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return nil
	}
	names := make([]string, len(st.Jobs))
	for i, j := range st.Jobs {
		names[i] = j.Name
	}
	return names
}

// signalArgs completes `signal OP JOB`: the ops, then the daemon's jobs.
func signalArgs(o *controlOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			return controlapi.Ops, cobra.ShellCompDirectiveNoFileComp
		case 1:
			return daemonJobNames(cmd, o), cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// configJobNames completes --job from the jobs of the --config file.
func configJobNames(configPath *string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		cfg, err := config.Load(*configPath)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, j := range cfg.Jobs {
			names = append(names, j.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
