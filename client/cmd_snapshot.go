package client

import "github.com/spf13/cobra"

func newSnapshotCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Save, restore, verify and inspect snapshot archives",
	}
	cmd.AddCommand(
		newSnapshotSaveCommand(g),
		newSnapshotRestoreCommand(g),
		newSnapshotVerifyCommand(g),
		newSnapshotInspectCommand(g),
	)
	return cmd
}
