package client

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/config"
)

type configcheckOptions struct {
	configPath string
}

func newConfigcheckCommand(g *globalOptions) *cobra.Command {
	opts := &configcheckOptions{}
	cmd := &cobra.Command{
		Use:   "configcheck",
		Short: "Validate the daemon's configuration file",
		Long: `Validate a raftsnap configuration the way the daemon loads it: strict YAML,
every value checked, token/CA/certificate files present and readable. Prints
"FILE: OK (N jobs: ...)" and exits 0, or prints every problem with its
file:line:col and YAML path and exits 1. Suitable for systemd's ExecStartPre.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError(fmt.Errorf("%s takes no arguments (the file is given with --config)", cmd.CommandPath()))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfigcheck(g, opts)
		},
	}
	cmd.Flags().StringVar(&opts.configPath, "config", config.DefaultPath, "configuration file")
	return cmd
}

func runConfigcheck(g *globalOptions, opts *configcheckOptions) error {
	cfg, err := config.Load(opts.configPath)
	if err != nil {
		var list *config.Errors
		if !errors.As(err, &list) {
			return err // cannot read the file: printed by Main, exit 1
		}
		for _, e := range list.List {
			fmt.Fprintln(g.stderr, e.Error())
		}
		noun := "problems"
		if len(list.List) == 1 {
			noun = "problem"
		}
		fmt.Fprintf(g.stderr, "%s: INVALID (%d %s)\n", opts.configPath, len(list.List), noun)
		return &silentError{code: ExitError}
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(g.stderr, "warning: %s\n", w)
	}
	names := make([]string, len(cfg.Jobs))
	for i, job := range cfg.Jobs {
		names[i] = job.Name
	}
	noun := "jobs"
	if len(names) == 1 {
		noun = "job"
	}
	_, err = fmt.Fprintf(g.stdout, "%s: OK (%d %s: %s)\n", opts.configPath, len(names), noun, strings.Join(names, ", "))
	return err
}
