package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/daemon/job"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/agecrypt"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

type storePutOptions struct {
	storeOptions
	name string
}

func newStorePutCommand(g *globalOptions) *cobra.Command {
	opts := &storePutOptions{}
	cmd := &cobra.Command{
		Use:   "put --job NAME [--store DIR|URL | --config FILE] [--name NAME] FILE",
		Short: "Add a snapshot archive saved by hand to a store, verified",
		Long: `Add FILE (a snapshot archive saved by "raftsnap snapshot save", "consul
snapshot save" or the like) to a store as a snapshot of job NAME: this is also
how hand-made files are adopted. With --config, it goes into each of the
job's stores (or the one --store names).

FILE is verified completely first; an invalid archive is refused (exit 3)
and nothing is created anywhere. It is then uploaded while it is verified
again, and committed with its record (the manifest of an object store) only
when that second pass verified the very bytes checked first: an object store
completes its multipart upload only then and abandons it otherwise, so a
refused or interrupted put leaves nothing listed.

The snapshot is named as the daemon names its own,
<job>-<UTC time>-<raft index>.snap, with the file's modification time, or
--name (which must be such a name, with the archive's raft index).`,
		Example: `  raftsnap store put --store 's3://backups/consul-main/?region=eu-west-1' --job consul-main consul.snap
  raftsnap store put --config /etc/raftsnap/raftsnap.yml --job consul-main consul.snap`,
		Args: exactArgs(1, "FILE"),
		RunE: storeRunE(&opts.storeOptions, func(ctx context.Context, args []string) error {
			return runStorePut(ctx, g, opts, args)
		}),
	}
	addStoreFlags(cmd, &opts.storeOptions, "the job the snapshot belongs to (required; with --config: the job whose stores to write to)", false)
	cmd.Flags().StringVar(&opts.name, "name", "", "the snapshot's name in the store (default: <job>-<file time>-<raft index>.snap)")
	return cmd
}

func runStorePut(ctx context.Context, g *globalOptions, opts *storePutOptions, args []string) error {
	path := args[0]
	if opts.job == "" {
		return usageError(errors.New("--job is required: the job the snapshot belongs to"))
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	// Verified before anything is created in a store.
	first, err := snapshot.VerifyFile(ctx, path, snapshot.VerifyOptions{})
	if err != nil {
		if isAgeFile(path) {
			// Its recipients cannot be read from the file to be recorded.
			return fileError(fmt.Errorf("%s is encrypted with age, nothing was stored: store put takes the plain archive (age -d it first); a store with an encrypt block encrypts it (--config): %w", path, err))
		}
		return fileError(fmt.Errorf("%s failed verification, nothing was stored: %w", path, err))
	}
	set, err := openStores(g, &opts.storeOptions, openWrite)
	if err != nil {
		return err
	}
	defer set.Close()
	jobName := opts.job
	if set.job != nil {
		// A snapshot job's stores keep its own snapshots; a restore or
		// prune job's, those of the job it reads from.
		if jobName = set.filter; jobName == "" {
			return usageError(fmt.Errorf("job %s is a %s job without one job whose snapshots it keeps: name a snapshot job", set.job.Name, set.job.Type))
		}
	}
	var stores []store.Store
	for _, ns := range set.stores {
		stores = append(stores, ns.st)
	}
	created := info.ModTime().UTC()
	name := opts.name
	if name != "" {
		if err := store.CheckName(jobName, name); err != nil {
			return usageError(fmt.Errorf("--name: %w", err))
		}
		_, at, index, _ := store.ParseName(name)
		if index != first.Meta.Index {
			return usageError(fmt.Errorf("--name %s says raft index %d, the archive holds index %d", name, index, first.Meta.Index))
		}
		created = at
	} else {
		name, err = store.FreeName(ctx, stores, jobName, created, first.Meta.Index)
		if err != nil {
			return err
		}
	}
	abs, _ := filepath.Abs(path)
	entry := store.Entry{
		Source:    "file " + abs + " (raftsnap store put)",
		CreatedAt: created,
		Size:      first.ArchiveBytes,
		SHA256:    first.ArchiveSHA256,
		Index:     first.Meta.Index,
		Term:      first.Meta.Term,
		RaftID:    first.Meta.ID,
		Verified:  true,
		Sealed:    first.Sealed,
		Servers:   job.ServerIDs(first.Meta.Configuration),
	}
	var errs []error
	invalid := false
	for _, ns := range set.stores {
		if have, err := findCopy(ctx, ns.st, jobName, first.ArchiveSHA256); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ns.label, err))
			continue
		} else if have != "" {
			fmt.Fprintf(g.stdout, "Already in %s as %s: nothing to do\n", ns.label, have)
			continue
		}
		stored, err := putFile(ctx, ns.st, jobName, name, path, first, entry)
		if err != nil {
			var verr *store.VerificationError
			invalid = invalid || errors.As(err, &verr)
			errs = append(errs, fmt.Errorf("%s: %w", ns.label, err))
			continue
		}
		fmt.Fprintf(g.stdout, "Stored %s as %s in %s: %s\n", path, stored.Name, ns.label, factsOf(first))
	}
	if len(errs) > 0 {
		err := fmt.Errorf("%s not stored in %d of %d store(s): %w", path, len(errs), len(set.stores), errors.Join(errs...))
		if invalid {
			return invalidError(err)
		}
		return err
	}
	return nil
}

// putFile writes the archive at path into st as the snapshot name of job,
// verifying it again as it streams: it is committed only if it verifies
// and is the file first described (its size and SHA-256), else aborted.
func putFile(ctx context.Context, st store.Store, jobName, name, path string, first *snapshot.Report, entry store.Entry) (store.Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return store.Entry{}, err
	}
	defer f.Close()
	p, err := st.Create(ctx, jobName, name)
	if err != nil {
		return store.Entry{}, err
	}
	defer p.Abort()
	v := snapshot.NewVerifier(ctx, snapshot.VerifyOptions{})
	if _, err := io.Copy(io.MultiWriter(v, p), f); err != nil {
		v.Abort()
		v.Close()
		var archiveErr *snapshot.Error
		if errors.As(err, &archiveErr) {
			return store.Entry{}, &store.VerificationError{Name: path, Err: err}
		}
		return store.Entry{}, err
	}
	report, err := v.Close()
	if err != nil {
		var archiveErr *snapshot.Error
		if errors.As(err, &archiveErr) {
			return store.Entry{}, &store.VerificationError{Name: path, Err: err}
		}
		return store.Entry{}, err
	}
	if report.ArchiveBytes != first.ArchiveBytes || report.ArchiveSHA256 != first.ArchiveSHA256 {
		return store.Entry{}, &store.VerificationError{Name: path, Err: errors.New("the file changed while it was being stored")}
	}
	entry.VerifiedAt = time.Now().UTC()
	return p.Commit(ctx, entry)
}

// findCopy is the name of job's snapshot in st whose archive has the
// SHA-256 sum, "" when there is none: a put is not repeated.
func findCopy(ctx context.Context, st store.Store, jobName, sum string) (string, error) {
	entries, _, err := st.List(ctx)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Job == jobName && e.SHA256 == sum {
			return e.Name, nil
		}
	}
	return "", nil
}

// isAgeFile says whether the file at path starts with an age header.
func isAgeFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	prefix := make([]byte, len(agecrypt.Header))
	n, _ := f.ReadAt(prefix, 0)
	return agecrypt.IsEncrypted(prefix[:n])
}
