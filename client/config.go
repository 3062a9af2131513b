package client

import (
	"errors"
	"fmt"

	"github.com/raftsnap/raftsnap/config"
)

// loadConfig loads the configuration file for a command. Every way it can
// fail (the file cannot be read, or it is invalid) exits with ExitUsage,
// the one exit code for a bad configuration everywhere: the systemd unit's
// RestartPreventExitStatus relies on it. The problems of an invalid file
// are printed one per line with file:line:col, then "FILE: INVALID (N
// problems)".
func loadConfig(g *globalOptions, path string, opts config.Options) (*config.Config, error) {
	cfg, err := config.LoadWith(path, opts)
	if err == nil {
		return cfg, nil
	}
	var list *config.Errors
	if !errors.As(err, &list) {
		return nil, usageError(err)
	}
	for _, e := range list.List {
		fmt.Fprintln(g.stderr, e.Error())
	}
	noun := "problems"
	if len(list.List) == 1 {
		noun = "problem"
	}
	fmt.Fprintf(g.stderr, "%s: INVALID (%d %s)\n", path, len(list.List), noun)
	return nil, &silentError{code: ExitUsage}
}
