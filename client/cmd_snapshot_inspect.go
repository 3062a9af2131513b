package client

import (
	"context"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/statebin"
)

type snapshotInspectOptions struct {
	format       string
	flavor       string
	identityFile string
}

func newSnapshotInspectCommand(g *globalOptions) *cobra.Command {
	opts := &snapshotInspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Verify a snapshot and describe what it holds",
		Long: `Verify FILE and print its metadata (ID, index, term, version, size, the
cluster configuration, when it was taken, SHA-256 of the file), its flavour
(consul, nomad, vault or other: whose state it holds, the system it restores
into) and, for Consul and Nomad snapshots, a table of the records in state.bin
by type. FILE "-" reads standard input. Nothing is printed unless the whole
archive verified (exit 3 otherwise).

--flavor consul or nomad decodes state.bin as that system's; a valid
snapshot of another system exits 4, with a message naming what it is.

An age-encrypted FILE (NAME.snap.age) is decrypted on the fly with
--identity-file.`,
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSnapshotInspect(cmd.Context(), g, opts, args)
		},
	}
	cmd.Flags().StringVar(&opts.format, "format", "text", "output format: text or json")
	cmd.Flags().StringVar(&opts.flavor, "flavor", "auto", "how to decode state.bin: auto, consul or nomad")
	cmd.Flags().StringVar(&opts.identityFile, "identity-file", "", identityFlagUsage)
	return cmd
}

func runSnapshotInspect(ctx context.Context, g *globalOptions, opts *snapshotInspectOptions, args []string) error {
	if err := checkFormat(opts.format); err != nil {
		return err
	}
	flavor, err := statebin.ParseFlavor(opts.flavor)
	if err != nil {
		return usageError(err)
	}
	if err := stdinNotTerminal(g, args); err != nil {
		return err
	}
	ids, err := loadIdentities(opts.identityFile)
	if err != nil {
		return err
	}
	ins, err := inspectOne(ctx, g, args[0], ids, snapshot.InspectOptions{Flavor: flavor})
	if err != nil {
		return fileError(err)
	}
	if opts.format == "json" {
		return writeJSON(g.stdout, ins)
	}
	return ins.WriteText(g.stdout)
}

// inspectOne inspects the archive at path ("-": standard input),
// decrypting it on the fly when it is age-encrypted.
func inspectOne(ctx context.Context, g *globalOptions, path string, ids []age.Identity, opts snapshot.InspectOptions) (*snapshot.Inspection, error) {
	if path == "-" {
		in, err := decryptingStdin(g.stdin, ids)
		if err != nil {
			return nil, err
		}
		return snapshot.InspectReader(ctx, in, "-", opts)
	}
	a, err := openArchiveFile(path, ids)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	if !a.encrypted {
		return snapshot.Inspect(ctx, path, opts)
	}
	return snapshot.InspectReader(ctx, a, path, opts)
}
