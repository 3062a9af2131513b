package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/source"
)

type snapshotRestoreOptions struct {
	source       source.Config
	yes          bool
	force        bool
	identityFile string
}

func newSnapshotRestoreCommand(g *globalOptions) *cobra.Command {
	opts := &snapshotRestoreOptions{}
	cmd := &cobra.Command{
		Use:   "restore --source KIND [--address URL] FILE",
		Short: "Restore a snapshot into a cluster, verifying it as it is sent",
		Long: `Restore FILE into a Consul, Nomad or Vault cluster (or a Go service exposing
raftsnap's snapshot handler). This REPLACES the cluster's state.

FILE is read once: every byte is verified as it is sent, and the archive's
last MiB is held back until all of it has verified. A damaged archive is cut
off before its end, so the server never receives it whole and restores
nothing (exit 3). Nothing at all is sent before FILE's head (meta.json and
the start of state.bin) has verified.

A snapshot of another system than the target (a Nomad snapshot into Consul,
a Consul snapshot into Nomad, anything but a Vault snapshot into Vault) is
refused before anything is sent (exit 4): the target's leader would crash.
--force sends it anyway. A raft target takes any snapshot.

An age-encrypted FILE (NAME.snap.age, as an encrypted store keeps it) is
decrypted on the fly with --identity-file, the plaintext verified as it is
sent; a wrong identity is refused before anything is sent, damaged
ciphertext cuts the restore off before the archive's end (exit 3).

Asks for confirmation on a terminal; scripts pass --yes.`,
		Example: `  raftsnap snapshot restore --source consul --address http://127.0.0.1:8500 consul.snap
  raftsnap snapshot restore --source vault --force-restore --yes vault.snap`,
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSnapshotRestore(cmd.Context(), g, opts, args)
		},
	}
	addSourceFlags(cmd, &opts.source, source.OpRestore)
	cmd.Flags().BoolVar(&opts.source.ForceRestore, "force-restore", false, "vault: use snapshot-force (restore a snapshot from another cluster, whose seal keys differ)")
	cmd.Flags().BoolVar(&opts.force, "force", false, "send a snapshot of another system than the target (its leader will crash); a restore job's skip_flavor_check")
	cmd.Flags().BoolVarP(&opts.yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().StringVar(&opts.identityFile, "identity-file", "", identityFlagUsage)
	return cmd
}

func runSnapshotRestore(ctx context.Context, g *globalOptions, opts *snapshotRestoreOptions, args []string) error {
	path := args[0]
	switch {
	case opts.source.Stale:
		return usageError(errors.New("--stale does not apply to restore: a restore always goes to the leader"))
	case path == "-":
		return usageError(errors.New("restore reads a FILE, not standard input: the request states the archive's size before its first byte"))
	}
	src, err := buildSource(opts.source, source.OpRestore, g.logger)
	if err != nil {
		return err
	}
	ids, err := loadIdentities(opts.identityFile)
	if err != nil {
		return err
	}
	f, err := openArchiveFile(path, ids)
	switch {
	case snapshot.VerificationFailed(err):
		return fileError(fmt.Errorf("%s failed verification, nothing was sent: %w", path, err))
	case err != nil:
		return err
	}
	defer f.Close()

	// The head decides whether to go on at all, and is what the operator
	// confirms; the one pass below checks it again.
	head, err := snapshot.ReadHead(ctx, f, snapshot.VerifyOptions{})
	switch {
	case snapshot.VerificationFailed(err):
		return fileError(fmt.Errorf("%s failed verification, nothing was sent: %w", path, err))
	case err != nil:
		return fmt.Errorf("reading %s, nothing was sent: %w", path, err)
	}
	if !opts.force {
		if err := source.CheckFlavor(src, head.Flavor, head.FlavorReason, false); err != nil {
			return fileError(flavorRefusal(path, src, err, 0))
		}
	}
	summary := fmt.Sprintf("%s (%s, index %d, term %d, %s) into %s",
		path, head.Flavor, head.Meta.Index, head.Meta.Term, humanize.IBytes(uint64(f.size)), src)
	if !opts.yes {
		ok, err := confirm(g, "Restore "+summary+"?\nThis replaces the cluster's current state.")
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("restore cancelled; nothing was sent")
		}
	}

	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	send := source.SendOptions(src, opts.force, head)
	flavorCheck := send.Check
	send.Check = func(report *snapshot.Report, flavor snapshot.Flavor) error {
		if report.ArchiveBytes != f.size {
			return fmt.Errorf("%w: it is %d bytes now, %d when it was opened", source.ErrChangedSinceRead, report.ArchiveBytes, f.size)
		}
		if flavorCheck != nil {
			return flavorCheck(report, flavor)
		}
		return nil
	}
	_, _, err = snapshot.Send(ctx, f, f.size, send, func(body io.Reader, size int64) error {
		return src.Restore(ctx, body, size)
	})
	var cut *snapshot.CutError
	var flavorErr *snapshot.FlavorError
	switch {
	case err == nil:
	case errors.As(err, &cut) && errors.As(cut.Err, &flavorErr):
		return fileError(flavorRefusal(path, src, cut.Err, cut.Sent))
	case errors.As(err, &cut) && snapshot.VerificationFailed(cut.Err):
		return fileError(fmt.Errorf("%s failed verification while it was sent: %w", path, cut))
	case errors.As(err, &cut):
		return fmt.Errorf("restoring %s into %s: %w", path, src, cut)
	default:
		return err
	}
	_, err = fmt.Fprintf(g.stdout, "Restored %s\n", summary)
	return err
}

// flavorRefusal is the error of a restore refused for the snapshot's
// flavour, with sent bytes gone out before (only when the head said one
// thing and the end another: a Vault archive's sealed member).
func flavorRefusal(path string, src source.Source, err error, sent int64) error {
	what := "nothing was sent"
	if sent > 0 {
		what = fmt.Sprintf("the upload was cut after %d bytes, so the server never received the whole archive", sent)
	}
	return fmt.Errorf("not restoring %s into %s: %w; %s (--force sends it anyway)", path, src, err, what)
}

// confirm asks a yes/no question on the terminal. Without a terminal it
// refuses, so that a script cannot restore by accident.
func confirm(g *globalOptions, question string) (bool, error) {
	in, ok := g.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return false, usageError(errors.New("restore replaces the cluster's state; confirm with --yes when not running on a terminal"))
	}
	fmt.Fprintf(g.stderr, "%s [y/N] ", question)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	answer := strings.ToLower(string(bytes.TrimSpace([]byte(line))))
	return answer == "y" || answer == "yes", nil
}
