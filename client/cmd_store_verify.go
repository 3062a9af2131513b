package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

type storeVerifyOptions struct {
	storeOptions
	all    bool
	format string
}

func newStoreVerifyCommand(g *globalOptions) *cobra.Command {
	opts := &storeVerifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify [--store DIR|URL | --config FILE --job NAME] NAME...|--all",
		Short: "Read stored snapshots again and check them against their records",
		Long: `Read each named snapshot (or, with --all, every snapshot listed, of the job
filter if any) again, in every store holding a copy of it: archive
verification, then its size and SHA-256 against its record. A snapshot
stored encrypted (NAME.snap.age) is decrypted with --identity-file (with
--config: else the job's identity_file) and its archive verified in full;
without an identity only its ciphertext is checked against the record, and
the line says so ("ciphertext only", with the recipients). Each verdict is
recorded in the snapshot's record (verified, verified_at), so that a snapshot
that rotted no longer counts as the last good one; a local store a running
daemon holds is verified without recording.

Prints one line per copy and exits 3 if any copy fails verification, 1 if the
only failures are copies that could not be read (or names not found).`,
		Example: `  raftsnap store verify --store 's3://backups/consul-main/?region=eu-west-1' --all
  raftsnap store verify --config /etc/raftsnap/raftsnap.yml --job consul-main consul-main-20261203T071000Z-1234.snap`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !opts.all {
				return usageError(fmt.Errorf("%s expects NAME... or --all; see --help", cmd.CommandPath()))
			}
			if len(args) > 0 && opts.all {
				return usageError(fmt.Errorf("%s takes NAME... or --all, not both", cmd.CommandPath()))
			}
			return nil
		},
		RunE: storeRunE(&opts.storeOptions, func(ctx context.Context, args []string) error {
			return runStoreVerify(ctx, g, opts, args)
		}),
	}
	addStoreFlags(cmd, &opts.storeOptions, "the job whose stores to verify (with --config); with --store: as --job-filter", true)
	addIdentityFlag(cmd, &opts.storeOptions)
	cmd.Flags().BoolVar(&opts.all, "all", false, "verify every snapshot listed")
	cmd.Flags().StringVar(&opts.format, "format", "text", "output format: text or json (an array, one object per copy)")
	return cmd
}

type storeVerifyResult struct {
	Name       string     `json:"name"`
	Store      string     `json:"store,omitempty"`
	OK         bool       `json:"ok"`
	Error      string     `json:"error,omitempty"`
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
	// Encryption is the copy's, when it is stored encrypted.
	Encryption *store.Encryption `json:"encryption,omitempty"`
	// CiphertextOnly: the copy is encrypted and no identity was given, so
	// only its ciphertext was checked against the record, not the archive.
	CiphertextOnly bool `json:"ciphertext_only,omitempty"`
	archiveFacts
}

func runStoreVerify(ctx context.Context, g *globalOptions, opts *storeVerifyOptions, args []string) error {
	if err := checkFormat(opts.format); err != nil {
		return err
	}
	set, err := openStores(g, &opts.storeOptions, openRecord)
	if err != nil {
		return err
	}
	defer set.Close()
	names := args
	if opts.all {
		l, err := set.list(ctx)
		if err != nil {
			return err
		}
		l.warnFailed(g.logger)
		for _, s := range l.snapshots {
			names = append(names, s.Name)
		}
	}
	results := []storeVerifyResult{}
	failed, unreadable := 0, 0
	report := func(r storeVerifyResult, invalid bool) {
		if !r.OK {
			failed++
			if !invalid {
				unreadable++
			}
		}
		results = append(results, r)
		if opts.format != "text" {
			return
		}
		switch {
		case r.OK && r.CiphertextOnly:
			fmt.Fprintf(g.stdout, "OK    %s  %s  ciphertext only (encrypted for %s; give --identity-file to verify the archive)\n",
				r.Name, r.Store, strings.Join(r.Encryption.Recipients, ", "))
		case r.OK:
			fmt.Fprintf(g.stdout, "OK    %s  %s  %s\n", r.Name, r.Store, r.archiveFacts)
		default:
			fmt.Fprintf(g.stdout, "FAIL  %s  %s  %s\n", r.Name, r.Store, r.Error)
		}
	}
	for _, name := range names {
		found := false
		for _, ns := range set.stores {
			entry, err := ns.st.Get(ctx, name)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			found = true
			r := storeVerifyResult{Name: name, Store: ns.label}
			if err != nil {
				r.Error = err.Error()
				report(r, errors.Is(err, store.ErrDamaged))
				continue
			}
			if set.filter != "" && entry.Job != set.filter && !opts.all {
				g.logger.Warn("verifying a snapshot of another job than the filter's", "snapshot", name, "job", entry.Job, "filter", set.filter)
			}
			entry, rep, err := store.Verify(ctx, ns.st, name, snapshot.VerifyOptions{}, g.logger)
			if err != nil && ctx.Err() != nil {
				// SIGINT or SIGTERM: no verdict on this copy or the ones after it.
				return fmt.Errorf("%s in %s: %w", name, ns.label, err)
			}
			var verr *store.VerificationError
			if err != nil {
				r.Error = err.Error()
				report(r, errors.As(err, &verr))
				continue
			}
			r.OK, r.Encryption = true, entry.Encryption
			if rep != nil {
				r.archiveFacts = factsOf(rep)
			} else {
				// Encrypted, no identity: store.Verify checked the
				// ciphertext against its record.
				r.CiphertextOnly = true
				if r.Encryption == nil {
					r.Encryption = &store.Encryption{}
				}
			}
			r.VerifiedAt = timePtr(entry.VerifiedAt)
			report(r, false)
		}
		if !found {
			report(storeVerifyResult{Name: name, Error: fmt.Sprintf("no snapshot named %s in %s", name, set.labels())}, false)
		}
	}
	if opts.format == "json" {
		if err := writeJSON(g.stdout, results); err != nil {
			return err
		}
	} else if len(results) == 0 {
		fmt.Fprintf(g.stdout, "no snapshot to verify in %s\n", set.labels())
	}
	if failed > 0 {
		fmt.Fprintf(g.stderr, "raftsnap: %d of %d stored copies failed verification\n", failed, len(results))
	}
	return verdictsExit(failed, unreadable)
}
