package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/snapshot/retention"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

type storeListOptions struct {
	storeOptions
	format string
}

func newStoreListCommand(g *globalOptions) *cobra.Command {
	opts := &storeListOptions{}
	cmd := &cobra.Command{
		Use:   "list [--store DIR|URL | --config FILE --job NAME]",
		Short: "List a store's snapshots, newest first, and what else it holds",
		Long: `List the committed snapshots of a store, newest first (by raft term, then
raft index, then time), with their job, creation time, raft index and term,
size, SHA-256, verification verdict and encryption (ENCRYPTED: "no", or
"age: " and the fingerprints of the recipients whose key decrypts it, which
is the key store get and store verify need as --identity-file). A job's several stores are read as
one: each snapshot is listed once, with the stores holding a copy of it.

Everything else the store holds (files or objects raftsnap did not write,
uploads never committed, archives without their manifest, damaged records)
is listed apart, under "not snapshots": it is never restored or pruned.

--format json prints {stores, snapshots, foreign, latest}: per snapshot
name, job, created_at, index, term, size, sha256, verified, verified_at,
verify_error, source, host, encryption ({format, recipients}, absent when
stored in the clear), store (the copy shown) and copies; latest is the
snapshot "raftsnap store get latest" would fetch.`,
		Example: `  raftsnap store list --store 's3://backups/consul-main/?region=eu-west-1'
  raftsnap store list --store 's3://backups/?endpoint=http://127.0.0.1:7070&path_style=true' --format json
  raftsnap store list --config /etc/raftsnap/raftsnap.yml --job consul-main`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError(fmt.Errorf("%s takes at most one argument, the store (as --store); got %q", cmd.CommandPath(), args))
			}
			return nil
		},
		RunE: storeRunE(&opts.storeOptions, func(ctx context.Context, args []string) error {
			return runStoreList(ctx, g, opts, args)
		}),
	}
	addStoreFlags(cmd, &opts.storeOptions, "the job whose stores to list (with --config); with --store: as --job-filter", true)
	cmd.Flags().StringVar(&opts.format, "format", "text", "output format: text or json")
	return cmd
}

// storeListJSON is the --format json output of store list.
type storeListJSON struct {
	Stores    []storeStatusJSON `json:"stores"`
	Snapshots []snapshotJSON    `json:"snapshots"`
	Foreign   []store.Foreign   `json:"foreign"`
	// Latest is what `store get latest` fetches ("" when none is verified,
	// or when the snapshots of several jobs are listed).
	Latest string `json:"latest,omitempty"`
}

type storeStatusJSON struct {
	Name  string `json:"name"`
	Error string `json:"error,omitempty"`
}

type snapshotJSON struct {
	Name        string     `json:"name"`
	Job         string     `json:"job"`
	CreatedAt   time.Time  `json:"created_at"`
	Index       uint64     `json:"index"`
	Term        uint64     `json:"term"`
	Size        int64      `json:"size"`
	SHA256      string     `json:"sha256"`
	Verified    bool       `json:"verified"`
	VerifiedAt  *time.Time `json:"verified_at,omitempty"`
	VerifyError string     `json:"verify_error,omitempty"`
	Source      string     `json:"source,omitempty"`
	Host        string     `json:"host,omitempty"`
	Stale       bool       `json:"stale,omitempty"`
	Store       string     `json:"store"`
	// Encryption is set when the preferred copy is stored encrypted: its
	// format and the fingerprints of the recipients whose key opens it.
	Encryption *store.Encryption `json:"encryption,omitempty"`
	Copies     []snapshotCopy    `json:"copies"`
}

type snapshotCopy struct {
	Store       string     `json:"store"`
	Verified    bool       `json:"verified"`
	VerifiedAt  *time.Time `json:"verified_at,omitempty"`
	VerifyError string     `json:"verify_error,omitempty"`
	// Encryption is this copy's (copies may differ: one store encrypted,
	// another not).
	Encryption *store.Encryption `json:"encryption,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func runStoreList(ctx context.Context, g *globalOptions, opts *storeListOptions, args []string) error {
	if err := checkFormat(opts.format); err != nil {
		return err
	}
	if len(args) == 1 {
		if opts.store != "" && opts.store != args[0] {
			return usageError(errors.New("two stores given, one as --store, one as the argument: give one"))
		}
		opts.store = args[0]
	}
	set, err := openStores(g, &opts.storeOptions, openRead)
	if err != nil {
		return err
	}
	defer set.Close()
	l, err := set.list(ctx)
	if err != nil {
		return err
	}
	l.warnFailed(g.logger)
	latest, _ := l.latest(set.filter, time.Now())

	out := storeListJSON{Snapshots: []snapshotJSON{}, Foreign: []store.Foreign{}, Latest: latest}
	for _, ns := range set.stores {
		st := storeStatusJSON{Name: ns.label}
		if err := l.failed[ns.label]; err != nil {
			st.Error = err.Error()
		}
		out.Stores = append(out.Stores, st)
	}
	for _, s := range l.snapshots {
		j := snapshotJSON{Name: s.Name, Job: s.Job, CreatedAt: s.CreatedAt, Index: s.Index, Term: s.Term, Size: s.Size, SHA256: s.SHA256,
			Verified: s.Verified, VerifiedAt: timePtr(s.VerifiedAt), VerifyError: s.VerifyError, Source: s.Source, Host: s.Host, Stale: s.Stale, Store: s.Store, Encryption: s.Encryption}
		for _, c := range s.copies {
			j.Copies = append(j.Copies, snapshotCopy{Store: c.Store, Verified: c.Verified, VerifiedAt: timePtr(c.VerifiedAt), VerifyError: c.VerifyError, Encryption: c.Encryption})
		}
		out.Snapshots = append(out.Snapshots, j)
	}
	out.Foreign = append(out.Foreign, l.foreign...)
	if opts.format == "json" {
		return writeJSON(g.stdout, out)
	}
	return writeStoreListText(g.stdout, set, l, latest)
}

func writeStoreListText(w io.Writer, set *storeSet, l *storeListing, latest string) error {
	several := len(set.stores) > 1
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(l.snapshots) > 0 {
		header := "NAME\tJOB\tCREATED (UTC)\tINDEX\tTERM\tSIZE\tVERIFIED\tENCRYPTED"
		if several {
			header += "\tSTORES"
		}
		fmt.Fprintln(tw, header)
	}
	var total int64
	for _, s := range l.snapshots {
		total += s.Size
		line := fmt.Sprintf("%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s", s.Name, s.Job, s.CreatedAt.UTC().Format("2006-01-02 15:04:05"),
			s.Index, s.Term, humanize.IBytes(uint64(s.Size)), verdict(s.Entry), encryptedColumn(s.Entry.Encryption))
		if several {
			var copies []string
			for _, c := range s.copies {
				if c.Verified {
					copies = append(copies, c.Store)
				} else {
					copies = append(copies, c.Store+" ("+strings.ToLower(verdict(c))+")")
				}
			}
			line += "\t" + strings.Join(copies, ", ")
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(l.foreign) > 0 {
		if len(l.snapshots) > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, "Not snapshots (never restored or pruned):")
		sort.SliceStable(l.foreign, func(i, j int) bool { return l.foreign[i].Store < l.foreign[j].Store })
		for _, f := range l.foreign {
			where := ""
			if several {
				where = f.Store + ": "
			}
			why := f.Problem
			if why == "" {
				why = "not written by raftsnap"
			}
			fmt.Fprintf(w, "  %s%s  %s  (%s)\n", where, f.Name, humanize.IBytes(uint64(f.Size)), why)
		}
	}
	if len(l.snapshots) > 0 || len(l.foreign) > 0 {
		fmt.Fprintln(w)
	}
	scope := ""
	if set.filter != "" {
		scope = " of job " + set.filter
	}
	fmt.Fprintf(w, "%d snapshot(s)%s, %s, in %s", len(l.snapshots), scope, humanize.IBytes(uint64(total)), set.labels())
	if latest != "" {
		fmt.Fprintf(w, "; latest verified: %s", latest)
	}
	_, err := fmt.Fprintln(w)
	return err
}

// encryptedColumn is an entry's ENCRYPTED column: "no", or the format and
// the fingerprints of the recipients whose key decrypts it.
func encryptedColumn(enc *store.Encryption) string {
	if enc == nil {
		return "no"
	}
	if len(enc.Recipients) == 0 {
		return enc.Format + ": recipients unknown"
	}
	return enc.Format + ": " + strings.Join(enc.Recipients, ", ")
}

// verdict is an entry's VERIFIED column.
func verdict(e store.Entry) string {
	switch {
	case e.Verified && !e.VerifiedAt.IsZero():
		return "yes, " + e.VerifiedAt.UTC().Format("2006-01-02 15:04")
	case e.Verified:
		return "yes"
	case e.VerifyError != "" || !e.VerifiedAt.IsZero():
		return "FAILED"
	}
	return "no"
}

// latest is the snapshot `store get latest` fetches: the newest verified
// snapshot (retention.NewestVerified, the one a restore job's "latest"
// picks too) of the job filter, or of the one job the store holds
// snapshots of.
func (l *storeListing) latest(filter string, now time.Time) (string, error) {
	if filter == "" && len(l.jobs) > 1 {
		return "", usageError(fmt.Errorf("the store holds the snapshots of %d jobs (%s): pick one with --job-filter", len(l.jobs), strings.Join(l.jobs, ", ")))
	}
	s, ok := retention.NewestVerified(retention.FromEntries(l.entries()), now)
	if !ok {
		if len(l.snapshots) == 0 {
			return "", fmt.Errorf("no snapshot to fetch")
		}
		return "", fmt.Errorf("none of the %d snapshot(s) is verified", len(l.snapshots))
	}
	return s.Name, nil
}
