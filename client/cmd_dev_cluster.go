package client

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/daemon/devcluster"
)

type devClusterOptions struct {
	nodes         int
	dir           string
	writeInterval time.Duration
}

func newDevClusterCommand(g *globalOptions) *cobra.Command {
	opts := &devClusterOptions{}
	cmd := &cobra.Command{
		Use:   "dev-cluster",
		Short: "Run an in-process Raft cluster to try raftsnap against",
		Long: `Start a real hashicorp/raft cluster (raft-boltdb stores, TCP transport on
127.0.0.1) holding a small key-value store that a background writer keeps
changing, and serve raftsnap's snapshot handler on every node. Prints the
addresses and commands to try, then runs until Ctrl-C. Not for production.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDevCluster(cmd.Context(), g, opts)
		},
	}
	cmd.Flags().IntVar(&opts.nodes, "nodes", 3, "number of nodes: 1 or 3")
	cmd.Flags().StringVar(&opts.dir, "dir", "", "data directory (default: a temporary directory removed on exit)")
	cmd.Flags().DurationVar(&opts.writeInterval, "write-interval", 500*time.Millisecond, "how often the background writer changes a key (0: never)")
	return cmd
}

func runDevCluster(ctx context.Context, g *globalOptions, opts *devClusterOptions) error {
	if opts.nodes != 1 && opts.nodes != 3 {
		return usageError(fmt.Errorf("--nodes must be 1 or 3, not %d", opts.nodes))
	}
	dir := opts.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "raftsnap-dev-cluster-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	cluster, err := devcluster.Start(ctx, devcluster.Options{
		Nodes:         opts.nodes,
		Dir:           dir,
		Logger:        g.logger,
		WriteInterval: opts.writeInterval,
	})
	if err != nil {
		return err
	}
	defer cluster.Close()
	leader, err := cluster.Leader(ctx)
	if err != nil {
		return err
	}

	fmt.Fprintf(g.stdout, "raftsnap dev cluster: %d node(s), data in %s\n\n", opts.nodes, dir)
	for _, n := range cluster.Nodes() {
		role := "follower"
		if n.ID == leader.ID {
			role = "leader"
		}
		fmt.Fprintf(g.stdout, "  %-8s %-8s raft %s  http %s\n", n.ID, role, n.RaftAddr, n.HTTPAddr)
	}
	fmt.Fprintf(g.stdout, `
Try, in another terminal:
  raftsnap snapshot save --source raft --address %[1]s dev.snap
  raftsnap snapshot inspect dev.snap
  raftsnap snapshot restore --source raft --address %[1]s --yes dev.snap
  curl %[1]s/v1/kv?keys

Press Ctrl-C to stop.
`, leader.HTTPAddr)
	<-ctx.Done()
	fmt.Fprintln(g.stdout, "stopping")
	return nil
}
