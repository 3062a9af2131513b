package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
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
	source source.Config
	yes    bool
}

func newSnapshotRestoreCommand(g *globalOptions) *cobra.Command {
	opts := &snapshotRestoreOptions{}
	cmd := &cobra.Command{
		Use:   "restore --source KIND [--address URL] FILE",
		Short: "Verify a snapshot, then restore it into a cluster",
		Long: `Restore FILE into a Consul, Nomad or Vault cluster (or a Go service exposing
raftsnap's snapshot handler). This REPLACES the cluster's state.

FILE is verified completely before a single byte is sent; while it is sent it
is hashed again, and the upload is aborted if the file changed in between.
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
	cmd.Flags().BoolVarP(&opts.yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func runSnapshotRestore(ctx context.Context, g *globalOptions, opts *snapshotRestoreOptions, args []string) error {
	path := args[0]
	src, err := buildSource(opts.source, source.OpRestore, g.logger)
	if err != nil {
		return err
	}

	report, err := snapshot.VerifyFile(ctx, path, src.VerifyOptions())
	if err != nil {
		return fileError(fmt.Errorf("%s failed verification, nothing was sent: %w", path, err))
	}
	summary := fmt.Sprintf("%s (index %d, term %d, %s) into %s",
		path, report.Meta.Index, report.Meta.Term, humanize.IBytes(uint64(report.ArchiveBytes)), src)

	if !opts.yes {
		ok, err := confirm(g, "Restore "+summary+"?\nThis replaces the cluster's current state.")
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("restore cancelled; nothing was sent")
		}
	}

	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	guard := &unchangedReader{r: f, h: sha256.New(), want: report.ArchiveSHA256, size: report.ArchiveBytes}
	if err := src.Restore(ctx, guard, report.ArchiveBytes); err != nil {
		return err
	}
	_, err = fmt.Fprintf(g.stdout, "Restored %s\n", summary)
	return err
}

// unchangedReader hashes the file again while it is uploaded and fails the
// read at the end if it no longer matches what was verified, so that the
// upload is aborted instead of completed with bytes nobody checked.
type unchangedReader struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	want string
	size int64
}

func (u *unchangedReader) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	u.h.Write(p[:n])
	u.n += int64(n)
	if u.n > u.size {
		return n, fmt.Errorf("snapshot file grew while it was being sent (now %d bytes, verified %d): upload aborted", u.n, u.size)
	}
	if err == io.EOF {
		if got := hex.EncodeToString(u.h.Sum(nil)); got != u.want || u.n != u.size {
			return n, errors.New("snapshot file changed after it was verified: upload aborted")
		}
	}
	return n, err
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
