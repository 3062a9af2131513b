package client

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/config"
)

type configcheckOptions struct {
	configPath string
	asUser     string
}

func newConfigcheckCommand(g *globalOptions) *cobra.Command {
	opts := &configcheckOptions{}
	cmd := &cobra.Command{
		Use:   "configcheck",
		Short: "Validate the daemon's configuration file",
		Long: `Validate a raftsnap configuration the way the daemon loads it: strict YAML,
every value checked, token/CA/certificate files present and readable, store
directories usable by the daemon's user (owned by it, writable by no one
else, on a writable file system). Prints "FILE: OK (N jobs: ...)" and exits
0, or prints every problem with its file:line:col and YAML path and exits 2,
as every command does for an invalid configuration. Suitable for systemd's
ExecStartPre, which runs it as the daemon's user; as root, pass --as-user
with the daemon's user to check the stores for that user.`,
		Args: noArgsHint("the file is given with --config"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfigcheck(g, opts)
		},
	}
	cmd.Flags().StringVar(&opts.configPath, "config", config.DefaultPath, "configuration file")
	cmd.Flags().StringVar(&opts.asUser, "as-user", "", "check the store directories for this user (the daemon's, e.g. raftsnap) instead of the current one")
	return cmd
}

func runConfigcheck(g *globalOptions, opts *configcheckOptions) error {
	copts := config.Options{UID: os.Geteuid()}
	if opts.asUser != "" {
		u, err := user.Lookup(opts.asUser)
		if err != nil {
			return usageError(fmt.Errorf("--as-user %s: %w", opts.asUser, err))
		}
		uid, err := strconv.Atoi(u.Uid)
		if err != nil {
			return usageError(fmt.Errorf("--as-user %s: uid %q is not a number", opts.asUser, u.Uid))
		}
		copts.UID = uid
	}
	cfg, err := loadConfig(g, opts.configPath, copts)
	if err != nil {
		return err
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
