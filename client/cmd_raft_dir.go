package client

import "github.com/spf13/cobra"

func newRaftDirCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "raft-dir",
		Short: "Look into a stopped server's raft directory",
		Long: `Commands that read a stopped Consul, Nomad or hashicorp/raft server's raft
directory on disk, read-only. To turn it into a snapshot archive, use
raftsnap snapshot save --source raft-dir --path DIR FILE.`,
	}
	cmd.AddCommand(newRaftDirInspectCommand(g))
	return cmd
}
