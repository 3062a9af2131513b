package client

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"filippo.io/age"
	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/snapshot"
)

type snapshotVerifyOptions struct {
	requireSealed bool
	format        string
	identityFile  string
}

func newSnapshotVerifyCommand(g *globalOptions) *cobra.Command {
	opts := &snapshotVerifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify FILE...",
		Short: "Verify snapshot archives",
		Long: `Verify each FILE completely: the gzip stream and its end, every tar member,
meta.json, the size of state.bin and every SHA256SUMS entry. Prints one line
per file and exits with 3 if any file fails verification, 1 if the only
failures are files that cannot be read.

FILE "-" reads standard input (once). Its verdict is on the bytes that
arrived: if what feeds the pipe dies half-way, the archive is truncated and
exits 3 like a truncated file, so check the producer's status too (set -o
pipefail); a read error of standard input itself exits 1.

An age-encrypted FILE (NAME.snap.age, as an encrypted store keeps it) is
decrypted on the fly with --identity-file, and the archive inside it
verified; a wrong identity or damaged ciphertext fails that file.`,
		Example: `  raftsnap snapshot verify /var/lib/raftsnap/consul-main/*.snap
  curl -sf http://127.0.0.1:8500/v1/snapshot | raftsnap snapshot verify -`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError(fmt.Errorf("%s expects at least one FILE; see --help", cmd.CommandPath()))
			}
			return checkStdinArgs(args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSnapshotVerify(cmd.Context(), g, opts, args)
		},
	}
	cmd.Flags().BoolVar(&opts.requireSealed, "require-sealed", false, "require Vault's SHA256SUMS.sealed member")
	cmd.Flags().StringVar(&opts.format, "format", "text", "output format: text or json (one object per file)")
	cmd.Flags().StringVar(&opts.identityFile, "identity-file", "", identityFlagUsage)
	return cmd
}

type verifyResult struct {
	File  string `json:"file"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	archiveFacts
}

// archiveFacts are what a verification tells of an archive.
type archiveFacts struct {
	Index  uint64 `json:"index,omitempty"`
	Term   uint64 `json:"term,omitempty"`
	Bytes  int64  `json:"bytes,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

func factsOf(report *snapshot.Report) archiveFacts {
	return archiveFacts{Index: report.Meta.Index, Term: report.Meta.Term, Bytes: report.ArchiveBytes, SHA256: report.ArchiveSHA256}
}

// String is how the commands print the facts.
func (a archiveFacts) String() string {
	return fmt.Sprintf("index %d, term %d, %s, sha256 %s", a.Index, a.Term, humanize.IBytes(uint64(a.Bytes)), a.SHA256)
}

func runSnapshotVerify(ctx context.Context, g *globalOptions, opts *snapshotVerifyOptions, args []string) error {
	if err := checkFormat(opts.format); err != nil {
		return err
	}
	if err := stdinNotTerminal(g, args); err != nil {
		return err
	}
	ids, err := loadIdentities(opts.identityFile)
	if err != nil {
		return err
	}
	var results []verifyResult
	failed, unreadable := 0, 0
	for _, path := range args {
		r := verifyResult{File: path}
		verifyOpts := snapshot.VerifyOptions{RequireSealed: opts.requireSealed}
		var report *snapshot.Report
		var err error
		report, err = verifyOne(ctx, g, path, ids, verifyOpts)
		if err != nil && ctx.Err() != nil {
			// SIGINT or SIGTERM: no verdict on this file or the ones after it.
			return fmt.Errorf("%s: %w", path, err)
		}
		if err != nil {
			failed++
			if exitCode(fileError(err)) == ExitError {
				unreadable++
			}
			r.Error = err.Error()
		} else {
			r.OK = true
			r.archiveFacts = factsOf(report)
		}
		if opts.format == "text" {
			if r.OK {
				fmt.Fprintf(g.stdout, "OK    %s  %s\n", path, r.archiveFacts)
			} else {
				fmt.Fprintf(g.stdout, "FAIL  %s  %s\n", path, r.Error)
			}
		}
		results = append(results, r)
	}
	if opts.format == "json" {
		if err := writeJSON(g.stdout, results); err != nil {
			return err
		}
	}
	if failed > 0 && opts.format == "text" {
		fmt.Fprintf(g.stderr, "raftsnap: %d of %d snapshot(s) failed verification\n", failed, len(args))
	}
	return verdictsExit(failed, unreadable)
}

// verdictsExit is how a command that verified several things exits, having
// printed each verdict: 0 when none failed, ExitError when the only
// failures were things that could not be read, else ExitInvalid.
func verdictsExit(failed, unreadable int) error {
	switch {
	case failed == 0:
		return nil
	case unreadable == failed:
		return &silentError{code: ExitError}
	}
	return &silentError{code: ExitInvalid}
}

// checkStdinArgs refuses "-" (standard input) given more than once: it
// can be read only once.
func checkStdinArgs(args []string) error {
	seen := false
	for _, a := range args {
		if a == "-" && seen {
			return usageError(errors.New(`"-" (standard input) can be given once: it can be read only once`))
		}
		seen = seen || a == "-"
	}
	return nil
}

// stdinNotTerminal refuses "-" when standard input is a terminal: an
// archive is binary, and typing one is not what was meant.
func stdinNotTerminal(g *globalOptions, args []string) error {
	if slices.Contains(args, "-") && isTerminal(g.stdin) {
		return usageError(errors.New(`"-" reads the archive from standard input, which is a terminal: pipe or redirect the archive into it`))
	}
	return nil
}

// verifyOne verifies the archive at path ("-": standard input), decrypting
// it on the fly when it is age-encrypted.
func verifyOne(ctx context.Context, g *globalOptions, path string, ids []age.Identity, opts snapshot.VerifyOptions) (*snapshot.Report, error) {
	if path == "-" {
		in, err := decryptingStdin(g.stdin, ids)
		if err != nil {
			return nil, err
		}
		return snapshot.Verify(ctx, in, opts)
	}
	a, err := openArchiveFile(path, ids)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	if !a.encrypted {
		return snapshot.VerifyFile(ctx, path, opts)
	}
	return snapshot.Verify(ctx, a, opts)
}
