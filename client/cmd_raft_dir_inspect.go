package client

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/snapshot/raftdir"
)

type raftDirInspectOptions struct {
	format string
}

func newRaftDirInspectCommand(g *globalOptions) *cobra.Command {
	opts := &raftDirInspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect DIR",
		Short: "List the snapshots and the log range of a stopped server's raft directory",
		Long: `Describe the raft directory DIR (or the one in the data_dir DIR: Consul keeps
it in DATA/raft, Nomad in DATA/server/raft): every snapshot with its term,
index, size, time and whether its state.bin matches the CRC-64 in its
meta.json; the unfinished .tmp snapshots, which are ignored; the log store
the server uses (raft-boltdb's raft.db or raft-wal's wal/) and its index
range; and which snapshot raftsnap snapshot save --source raft-dir would
archive, with how many log entries the server wrote after it.

Nothing in DIR is written. A running server holds its log store's lock and
is refused (use its HTTP API). Exit status 3 when no snapshot is intact.`,
		Example: `  raftsnap raft-dir inspect /opt/consul
  raftsnap raft-dir inspect --format json /opt/nomad/data/server/raft`,
		Args: exactArgs(1, "DIR"),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveFilterDirs
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRaftDirInspect(cmd.Context(), g, opts, args)
		},
	}
	cmd.Flags().StringVar(&opts.format, "format", "text", "output format: text or json")
	return cmd
}

func runRaftDirInspect(ctx context.Context, g *globalOptions, opts *raftDirInspectOptions, args []string) error {
	if err := checkFormat(opts.format); err != nil {
		return err
	}
	dir, err := filepath.Abs(args[0])
	if err != nil {
		return usageError(err)
	}
	ins, err := raftdir.Inspect(ctx, dir, raftdir.Options{})
	if err != nil {
		return err
	}
	if opts.format == "json" {
		err = writeJSON(g.stdout, ins)
	} else {
		err = ins.WriteText(g.stdout)
	}
	if err != nil {
		return err
	}
	if ins.Selected == "" {
		return invalidError(errors.New(noIntactSnapshot(ins)))
	}
	return nil
}

func noIntactSnapshot(ins *raftdir.Inspection) string {
	if len(ins.Snapshots) == 0 {
		return fmt.Sprintf("%s holds no snapshot", filepath.Join(ins.Dir.Raft, raftdir.SnapshotsDir))
	}
	return fmt.Sprintf("no snapshot in %s is intact", filepath.Join(ins.Dir.Raft, raftdir.SnapshotsDir))
}
