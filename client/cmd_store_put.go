package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"
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

A FILE encrypted with age (by hand, with the age CLI) is adopted as it is:
--identity-file must give a key that opens it, so that the archive inside is
verified, in both passes, as it is decrypted; the encrypted bytes are stored
unchanged (whatever the store's own encrypt block says), with a record of the
archive's and the ciphertext's sizes and SHA-256 sums and, as its recipient,
the key that opened it (an age file does not name its recipients).

The snapshot is named as the daemon names its own,
<job>-<UTC time>-<raft index>.snap, with the file's modification time, or
--name (which must be such a name, with the archive's raft index).`,
		Example: `  raftsnap store put --store 's3://backups/consul-main/?region=eu-west-1' --job consul-main consul.snap
  raftsnap store put --config /etc/raftsnap/raftsnap.yml --job consul-main consul.snap
  raftsnap store put --store /var/lib/raftsnap/consul-main --job consul-main --identity-file key.txt consul.snap.age`,
		Args: exactArgs(1, "FILE"),
		RunE: storeRunE(&opts.storeOptions, func(ctx context.Context, args []string) error {
			return runStorePut(ctx, g, opts, args)
		}),
	}
	addStoreFlags(cmd, &opts.storeOptions, "the job the snapshot belongs to (required; with --config: the job whose stores to write to)", false)
	cmd.Flags().StringVar(&opts.identityFile, "identity-file", "", "for a FILE encrypted with age: a key that opens it, to verify the archive inside (the file is stored still encrypted)")
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
	var ids []age.Identity
	var adopted *agecrypt.Adopted
	first, err := snapshot.VerifyFile(ctx, path, snapshot.VerifyOptions{})
	if err != nil && isAgeFile(path) {
		if opts.identityFile == "" {
			return usageError(fmt.Errorf("%s is encrypted with age: give --identity-file with a key that opens it, so that the archive inside is verified before it is stored (it is stored still encrypted)", path))
		}
		if ids, err = loadIdentities(opts.identityFile); err != nil {
			return err
		}
		if adopted, err = checkAgeFile(ctx, path, io.Discard, ids); err == nil {
			first = adopted.Report
		}
		var wrong *agecrypt.WrongIdentityError
		if errors.As(err, &wrong) {
			return fmt.Errorf("nothing was stored: %w", err)
		}
	}
	if err != nil {
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
		var stored store.Entry
		if adopted != nil {
			stored, err = putAgeFile(ctx, ns.st, jobName, name, path, ids, adopted, entry)
		} else {
			stored, err = putFile(ctx, ns.st, jobName, name, path, first, entry)
		}
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
		return store.Entry{}, asVerificationError(path, err)
	}
	report, err := v.Close()
	if err != nil {
		return store.Entry{}, asVerificationError(path, err)
	}
	if report.ArchiveBytes != first.ArchiveBytes || report.ArchiveSHA256 != first.ArchiveSHA256 {
		return store.Entry{}, errFileChanged(path)
	}
	entry.VerifiedAt = time.Now().UTC()
	return p.Commit(ctx, entry)
}

// putAgeFile writes the age-encrypted file at path into st unchanged, as
// the stored form of snapshot name, decrypting and verifying it again as
// it streams: committed only if it is the file first checked (adopted).
func putAgeFile(ctx context.Context, st store.Store, jobName, name, path string, ids []age.Identity, adopted *agecrypt.Adopted, entry store.Entry) (store.Entry, error) {
	// CreateObject takes the bytes as they are: an encrypting store
	// (agecrypt) passes them through, not encrypting them again.
	oc, ok := st.(store.ObjectCreator)
	if !ok {
		return store.Entry{}, fmt.Errorf("%s cannot keep encrypted snapshots", st)
	}
	p, err := oc.CreateObject(ctx, jobName, name, name+store.EncryptedSuffix)
	if err != nil {
		return store.Entry{}, err
	}
	defer p.Abort()
	again, err := checkAgeFile(ctx, path, p, ids)
	if err != nil {
		return store.Entry{}, asVerificationError(path, err)
	}
	if again.StoredSHA256 != adopted.StoredSHA256 || again.Report.ArchiveSHA256 != adopted.Report.ArchiveSHA256 {
		return store.Entry{}, errFileChanged(path)
	}
	entry.StoredSize, entry.StoredSHA256 = again.StoredSize, again.StoredSHA256
	entry.Encryption = &store.Encryption{Format: store.EncryptionAge}
	if again.Recipient != "" {
		entry.Encryption.Recipients = []string{again.Recipient}
	}
	entry.VerifiedAt = time.Now().UTC()
	return p.Commit(ctx, entry)
}

// checkAgeFile decrypts and verifies the age file at path, its bytes
// copied to w as they are read (agecrypt.CheckEncrypted).
func checkAgeFile(ctx context.Context, path string, w io.Writer, ids []age.Identity) (*agecrypt.Adopted, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return agecrypt.CheckEncrypted(ctx, bufio.NewReaderSize(f, 256<<10), w, path, ids)
}

// asVerificationError files an archive fault met while storing path as
// a *store.VerificationError (exit 3); other errors stay as they are.
func asVerificationError(path string, err error) error {
	var archiveErr *snapshot.Error
	if errors.As(err, &archiveErr) {
		return &store.VerificationError{Name: path, Err: err}
	}
	return err
}

func errFileChanged(path string) error {
	return &store.VerificationError{Name: path, Err: errors.New("the file changed while it was being stored")}
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
