package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/atomicfile"
	"github.com/raftsnap/raftsnap/snapshot/raftdir"
	"github.com/raftsnap/raftsnap/snapshot/source"
)

type snapshotSaveOptions struct {
	source source.Config
	format string
}

func newSnapshotSaveCommand(g *globalOptions) *cobra.Command {
	opts := &snapshotSaveOptions{}
	cmd := &cobra.Command{
		Use:   "save --source KIND [--address URL | --path DIR] FILE",
		Short: "Download a snapshot and verify it while it streams",
		Long: `Download a snapshot from a Consul, Nomad or Vault server (or a Go service
exposing raftsnap's snapshot handler) into FILE.

The bytes are stored exactly as the server sent them, so the vendor's own
restore accepts the file. While they stream to FILE.part (mode 0600) raftsnap
checks the gzip stream, every tar member and SHA256SUMS; only a snapshot that
verifies is fsynced and renamed to FILE. On any failure FILE is left as it was
and FILE.part is removed.

With --source raft-dir --path DIR, the snapshot comes from a stopped server's
raft directory instead (DIR may be the server's data_dir): the newest snapshot
whose state.bin matches the CRC-64 in its meta.json is written as a standard
archive, verified the same way; a damaged newer one is skipped with a warning.
Nothing in DIR is written. A running server is refused: use its HTTP API. The
output says how many log entries the server wrote after that snapshot, which
the archive does not contain (see also raftsnap raft-dir inspect).

FILE "-" writes the archive to standard output (the "Saved" line goes to
standard error). Its last MiB is held back until all of it has verified: a
snapshot that fails leaves the reader an archive without its end, which no
reader accepts, and exits 3 (1 when the transfer failed). Check the exit
status (set -o pipefail) before trusting what a pipe received.`,
		Example: `  raftsnap snapshot save --source consul --address http://127.0.0.1:8500 consul.snap
  CONSUL_HTTP_TOKEN=... raftsnap snapshot save --source consul --stale backup.snap
  raftsnap snapshot save --source nomad --token-file /etc/raftsnap/nomad.token nomad.snap
  raftsnap snapshot save --source raft-dir --path /opt/consul consul-from-disk.snap
  raftsnap snapshot save --source consul - | age -r age1... > consul.snap.age`,
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSnapshotSave(cmd.Context(), g, opts, args)
		},
	}
	addSourceFlags(cmd, &opts.source, source.OpSave)
	cmd.Flags().StringVar(&opts.format, "format", "text", "output format: text or json")
	return cmd
}

// saveOutcome is what `snapshot save` reports.
type saveOutcome struct {
	File    string            `json:"file"`
	Source  string            `json:"source"`
	Index   uint64            `json:"index"`
	Term    uint64            `json:"term"`
	ID      string            `json:"id"`
	Bytes   int64             `json:"bytes"`
	SHA256  string            `json:"sha256"`
	Headers map[string]string `json:"headers,omitempty"`
	// LogLag and Warnings come from raft-dir: how far the snapshot lags
	// the server's log, and newer snapshots skipped as damaged.
	LogLag   *snapshot.LogLag `json:"log_lag,omitempty"`
	Warnings []string         `json:"warnings,omitempty"`
}

func runSnapshotSave(ctx context.Context, g *globalOptions, opts *snapshotSaveOptions, args []string) error {
	if err := checkFormat(opts.format); err != nil {
		return err
	}
	if args[0] == "-" {
		switch {
		case opts.format == "json":
			return usageError(errors.New("--format json writes to standard output, which carries the archive with -; save to a file instead"))
		case isTerminal(g.stdout):
			return usageError(errors.New("standard output is a terminal: redirect it (or give a FILE) to save a binary archive with -"))
		}
	}
	src, err := buildSource(opts.source, source.OpSave, g.logger)
	if err != nil {
		return err
	}
	if spec, _ := source.Lookup(opts.source.Kind); spec.Directory && raftdir.Within(opts.source.Path, args[0]) {
		return usageError(fmt.Errorf("%s is inside %s, the server's directory, which %s never writes into: save the archive elsewhere",
			args[0], opts.source.Path, opts.source.Kind))
	}
	if t := opts.source.Timeout; t > 0 {
		// The HTTP client's timeout ends with the download; this one also
		// bounds the verification of what has already arrived.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, t, fmt.Errorf("--timeout %s reached: %w", t, context.DeadlineExceeded))
		defer cancel()
	}
	var out *saveOutcome
	report := g.stdout
	if args[0] == "-" {
		out, err = saveToStdout(ctx, src, g.stdout)
		report = g.stderr
	} else {
		out, err = saveSnapshot(ctx, src, args[0])
	}
	if err != nil {
		return err
	}
	for _, w := range out.Warnings {
		fmt.Fprintf(g.stderr, "raftsnap: warning: %s\n", w)
	}
	if opts.format == "json" {
		return writeJSON(g.stdout, out)
	}
	text := fmt.Sprintf("Saved %s from %s: index %d, term %d, %s, sha256 %s\n",
		out.File, out.Source, out.Index, out.Term, humanize.IBytes(uint64(out.Bytes)), out.SHA256)
	if out.LogLag != nil {
		text += "Log: " + out.LogLag.String() + "\n"
	}
	_, err = io.WriteString(report, text)
	return err
}

// saveSnapshot streams a snapshot from src into path, verifying it on the
// way, and commits it only if both the download and the verification
// succeeded.
func saveSnapshot(ctx context.Context, src source.Source, path string) (*saveOutcome, error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Abort()

	verifier := snapshot.NewVerifier(ctx, src.VerifyOptions())
	res, saveErr := src.Save(ctx, io.MultiWriter(f, verifier))
	report, verifyErr := verifier.Close()
	if err := saveFailure(ctx, src, saveErr, verifyErr, "not saved"); err != nil {
		return nil, err
	}
	if err := f.Commit(); err != nil {
		return nil, fmt.Errorf("saving %s: %w", path, err)
	}
	return newSaveOutcome(path, src, report, res), nil
}

// saveToStdout streams a snapshot from src to w (standard output), verified
// on the way by a SendReader: the archive's last MiB is held back until all
// of it verified, so a consumer never gets a whole archive that failed.
func saveToStdout(ctx context.Context, src source.Source, w io.Writer) (*saveOutcome, error) {
	pr, pw := io.Pipe()
	var (
		res     *source.SaveResult
		saveErr error
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		res, saveErr = src.Save(ctx, pw)
		pw.CloseWithError(saveErr)
	}()
	report, _, err := snapshot.Send(ctx, pr, 0, snapshot.SendOptions{Verify: src.VerifyOptions()}, func(body io.Reader, _ int64) error {
		_, err := io.Copy(w, body)
		return err
	})
	pr.CloseWithError(errors.New("standard output stopped taking the archive")) // ends a Save still writing
	<-done
	if err == nil && saveErr == nil {
		return newSaveOutcome("-", src, report, res), nil
	}
	var cut *snapshot.CutError
	switch {
	case errors.As(err, &cut) && snapshot.VerificationFailed(cut.Err):
		err = saveFailure(ctx, src, nil, cut.Err, "")
	case saveErr != nil:
		err = saveFailure(ctx, src, saveErr, nil, "")
	case errors.As(err, &cut):
		err = cut.Err
	default:
		err = fmt.Errorf("writing to standard output: %w", err)
	}
	sent := int64(0)
	if cut != nil {
		sent = cut.Sent
	}
	return nil, &stdoutError{err: err, sent: sent}
}

// stdoutError is a failed `save -`: it says how much of the archive went to
// standard output, which holds no whole archive.
type stdoutError struct {
	err  error
	sent int64
}

func (e *stdoutError) Error() string {
	return fmt.Sprintf("%v; standard output got %d bytes and never the archive's end: discard them", e.err, e.sent)
}

func (e *stdoutError) Unwrap() error { return e.err }

// saveFailure turns a download's outcome into the command's error (nil:
// success): a verification failure exits 3, an interrupted or failed
// transfer 1. outcome says what became of the destination ("not saved").
func saveFailure(ctx context.Context, src source.Source, saveErr, verifyErr error, outcome string) error {
	// Verification errors quote the archive's first bytes, which the server
	// chose: scrub the token from them as from any server text.
	verifyErr = source.Redact(src, verifyErr)
	failed := "failed verification"
	if outcome != "" {
		failed += ", " + outcome
	}
	var archiveErr *snapshot.Error
	switch {
	case saveErr != nil && errors.As(saveErr, &archiveErr):
		// The verifier refused the bytes mid-stream and the download stopped
		// there: the archive is the problem, not the transfer.
		return invalidError(fmt.Errorf("snapshot from %s %s: %w", src, failed, source.Redact(src, archiveErr)))
	case errors.Is(saveErr, source.ErrNotArchive):
		// An error page answered with 200: nothing that could be verified.
		return invalidError(saveErr)
	case saveErr != nil:
		// A transfer error also makes the archive truncated; report the cause.
		return saveErr
	case verifyErr != nil && ctx.Err() != nil:
		// Timeout, SIGINT or SIGTERM: stopped, not a verdict on the archive.
		return verifyErr
	case verifyErr != nil:
		return invalidError(fmt.Errorf("snapshot from %s %s: %w", src, failed, verifyErr))
	}
	return nil
}

func newSaveOutcome(path string, src source.Source, report *snapshot.Report, res *source.SaveResult) *saveOutcome {
	return &saveOutcome{
		File:     path,
		Source:   src.String(),
		Index:    report.Meta.Index,
		Term:     report.Meta.Term,
		ID:       report.Meta.ID,
		Bytes:    report.ArchiveBytes,
		SHA256:   report.ArchiveSHA256,
		Headers:  res.Headers,
		LogLag:   res.LogLag,
		Warnings: res.Warnings,
	}
}

func checkFormat(format string) error {
	if format != "text" && format != "json" {
		return usageError(fmt.Errorf("invalid --format %q: use text or json", format))
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// noArgs is cobra.NoArgs with the usage exit code.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError(fmt.Errorf("%s takes no arguments (got %q); see --help", cmd.CommandPath(), args))
	}
	return nil
}

// noArgsHint is noArgs for a command whose would-be argument is given
// another way: hint says which.
func noArgsHint(hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError(fmt.Errorf("%s takes no arguments (%s)", cmd.CommandPath(), hint))
		}
		return nil
	}
}

// exactArgs is cobra.ExactArgs with a message naming the missing argument
// and the usage exit code.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError(fmt.Errorf("%s expects %s (got %d argument(s)); see --help", cmd.CommandPath(), names, len(args)))
		}
		return nil
	}
}
