package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/atomicfile"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

type storeGetOptions struct {
	storeOptions
}

func newStoreGetCommand(g *globalOptions) *cobra.Command {
	opts := &storeGetOptions{}
	cmd := &cobra.Command{
		Use:   "get [--store DIR|URL | --config FILE --job NAME] NAME|latest OUTFILE|-",
		Short: "Fetch a snapshot from a store into a file, verified",
		Long: `Fetch the snapshot NAME, or "latest" (the newest verified snapshot, as a
restore job's latest), into OUTFILE. If OUTFILE is a directory, the file
keeps the snapshot's name in it.

The archive streams into OUTFILE.part (mode 0600) while it is verified
completely (gzip, tar, meta.json, state.bin, SHA256SUMS) and hashed; only
when it verifies and its size and SHA-256 are the ones its record commits to
is it fsynced and renamed to OUTFILE. Otherwise OUTFILE is left untouched and
nothing is written: a copy that fails is reported (exit 3 when no copy
verifies) and, for a job with several stores, the next store's copy is
tried. The verdict is recorded in the snapshot's record where the store can
be written (an object store's manifest; a local directory is only read).

With "-" the snapshot goes to standard output, but only once it has
verified whole: it is first spooled to an unlinked temporary file (in
$TMPDIR), so the output never carries a byte of a snapshot that fails, and
$TMPDIR needs room for it.

A snapshot stored encrypted (NAME.snap.age, see store list's ENCRYPTED
column) is decrypted with --identity-file (with --config: else the job's
identity_file, as a restore job does): OUTFILE gets the plaintext archive,
verified as above against the archive's size and SHA-256 in the record, and
the ciphertext is checked against its own. A wrong key fails naming the
snapshot's recipients; without one, the command fails saying so, and
nothing is written.

With several jobs' snapshots in one store, "latest" needs --job-filter (or
--config --job, which defaults to the job's own).`,
		Example: `  raftsnap store get --store 's3://backups/consul-main/?region=eu-west-1' latest consul.snap
  raftsnap store get --config /etc/raftsnap/raftsnap.yml --job consul-main latest /tmp/
  raftsnap store get --store 's3://backups/consul-main/?region=eu-west-1' --identity-file ~/raftsnap-age.key latest consul.snap
  raftsnap store get --store /var/lib/raftsnap/consul consul-main-20261203T071000Z-1234.snap - | ssh restore-host 'cat > consul.snap'`,
		Args: exactArgs(2, "NAME|latest and OUTFILE|-"),
		RunE: storeRunE(&opts.storeOptions, func(ctx context.Context, args []string) error {
			return runStoreGet(ctx, g, opts, args)
		}),
	}
	addStoreFlags(cmd, &opts.storeOptions, "the job whose stores to read (with --config); with --store: as --job-filter", true)
	addIdentityFlag(cmd, &opts.storeOptions)
	return cmd
}

// snapshotLatest names the newest verified snapshot.
const snapshotLatest = "latest"

func runStoreGet(ctx context.Context, g *globalOptions, opts *storeGetOptions, args []string) error {
	name, out := args[0], args[1]
	set, err := openStores(g, &opts.storeOptions, openRead)
	if err != nil {
		return err
	}
	defer set.Close()
	if name == snapshotLatest {
		l, err := set.list(ctx)
		if err != nil {
			return err
		}
		l.warnFailed(g.logger)
		if name, err = l.latest(set.filter, time.Now()); err != nil {
			return withCode(err, fmt.Errorf("no latest snapshot in %s: %w", set.labels(), err))
		}
	}
	_, stores, err := set.union().Copies(ctx, name)
	if err != nil {
		return err
	}

	var dst getTarget
	if out == "-" {
		dst, err = newSpool()
	} else {
		dst, err = newFileTarget(out, name)
	}
	if err != nil {
		return err
	}
	defer dst.Abort()

	var errs []error
	invalid := 0
	for i, st := range stores {
		w, err := dst.Begin()
		if err != nil {
			return err
		}
		label := set.labelOf(st)
		_, report, err := fetchVerified(ctx, st, name, w, g.logger)
		if err == nil {
			if err := dst.Commit(g.stdout); err != nil {
				return err
			}
			msg := fmt.Sprintf("Fetched %s from %s to %s: %s, verified\n", name, label, dst.Name(), factsOf(report))
			if out == "-" {
				_, err = fmt.Fprint(g.stderr, msg)
			} else {
				_, err = fmt.Fprint(g.stdout, msg)
			}
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		var verr *store.VerificationError
		if errors.As(err, &verr) {
			invalid++
		}
		err = fmt.Errorf("the copy in %s: %w", label, err)
		errs = append(errs, err)
		if i < len(stores)-1 {
			g.logger.Warn("copy refused; trying the next store's", "snapshot", name, "err", err)
		}
	}
	err = fmt.Errorf("%s not fetched, nothing written: %w", name, errors.Join(errs...))
	if invalid == len(stores) {
		return invalidError(err)
	}
	return err
}

// withCode is msg with the exit code of err.
func withCode(err, msg error) error {
	var coded *codedError
	if errors.As(err, &coded) {
		return &codedError{code: coded.code, err: msg}
	}
	return msg
}

// fetchVerified streams the stored snapshot name into w while verifying it
// completely, then checks its size and SHA-256 against the snapshot's
// record, and records the verdict in the store as store.Verify does
// (ignored where the store is read-only). A file that fails is a
// *store.VerificationError; w then holds bytes that must be discarded.
//
// On a tree with store.Send this is store.Send(ctx, st, name,
// snapshot.SendOptions{}, logger, send) with send copying into w.
func fetchVerified(ctx context.Context, st store.Store, name string, w io.Writer, logger *slog.Logger) (store.Entry, *snapshot.Report, error) {
	r, entry, err := st.Open(ctx, name)
	if err != nil {
		return entry, nil, err
	}
	defer r.Close()
	if store.IsStoredForm(&entry, r) {
		// Only the ciphertext could be read: it is no archive to write.
		return entry, nil, encryptedError(name, entry.Encryption)
	}
	v := snapshot.NewVerifier(ctx, snapshot.VerifyOptions{})
	buf := make([]byte, 256<<10)
	var verr error
	for verr == nil {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := v.Write(buf[:n]); err != nil {
				verr = err
				break
			}
			if _, err := w.Write(buf[:n]); err != nil {
				v.Abort()
				v.Close()
				return entry, nil, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// The store's read failed: no verdict on the file.
			v.Abort()
			v.Close()
			return entry, nil, fmt.Errorf("reading %s: %w", name, rerr)
		}
	}
	if verr != nil {
		v.Abort()
	}
	report, err := v.Close()
	if verr == nil {
		verr = err
	}
	var archiveErr *snapshot.Error
	switch {
	case verr != nil && !errors.As(verr, &archiveErr):
		return entry, nil, verr // the context ended: no verdict
	case verr == nil && (report.ArchiveBytes != entry.Size || report.ArchiveSHA256 != entry.SHA256):
		verr = fmt.Errorf("the file (%d bytes, sha256 %s) differs from the one stored (%d bytes, sha256 %s)",
			report.ArchiveBytes, report.ArchiveSHA256, entry.Size, entry.SHA256)
	}
	entry.Verified, entry.VerifiedAt, entry.VerifyError = verr == nil, time.Now().UTC(), ""
	if verr != nil {
		entry.VerifyError = verr.Error()
	}
	if err := st.Update(ctx, entry); err != nil && !errors.Is(err, store.ErrReadOnly) {
		logger.Warn("cannot record the verification result", "store", st.String(), "snapshot", name, "err", err)
	}
	if verr != nil {
		return entry, nil, &store.VerificationError{Name: name, Err: verr}
	}
	return entry, report, nil
}

// encryptedError says that snapshot name is encrypted and how to read it.
func encryptedError(name string, enc *store.Encryption) error {
	if enc == nil || len(enc.Recipients) == 0 {
		return usageError(fmt.Errorf("snapshot %s is stored encrypted: give --identity-file with the key that decrypts it", name))
	}
	return usageError(fmt.Errorf("snapshot %s is encrypted with %s for %s: give --identity-file with the key of one of these recipients",
		name, enc.Format, strings.Join(enc.Recipients, ", ")))
}

// getTarget is where store get writes: a file committed by rename, or
// standard output fed from a spool.
type getTarget interface {
	// Begin starts (again) from nothing and returns the writer to fill.
	Begin() (io.Writer, error)
	// Commit publishes what was written (stdout is the spool's output).
	Commit(stdout io.Writer) error
	// Abort discards what was written; safe after Commit.
	Abort()
	// Name names the destination for messages.
	Name() string
}

// fileTarget writes OUTFILE through OUTFILE.part.
type fileTarget struct {
	path string
	f    *atomicfile.File
}

func newFileTarget(out, name string) (*fileTarget, error) {
	if info, err := os.Stat(out); err == nil && info.IsDir() {
		out = filepath.Join(out, name)
	}
	return &fileTarget{path: out}, nil
}

func (t *fileTarget) Begin() (io.Writer, error) {
	t.Abort()
	f, err := atomicfile.Create(t.path)
	if err != nil {
		return nil, err
	}
	t.f = f
	return f, nil
}

func (t *fileTarget) Commit(io.Writer) error {
	if err := t.f.Commit(); err != nil {
		return fmt.Errorf("saving %s: %w", t.path, err)
	}
	t.f = nil
	return nil
}

func (t *fileTarget) Abort() {
	if t.f != nil {
		t.f.Abort()
		t.f = nil
	}
}

func (t *fileTarget) Name() string { return t.path }

// spool holds the snapshot in an unlinked temp file until it verified.
type spool struct{ f *os.File }

func newSpool() (*spool, error) {
	f, err := os.CreateTemp("", "raftsnap-get-*.snap")
	if err != nil {
		return nil, fmt.Errorf("a temporary file to hold the snapshot until it verified: %w", err)
	}
	// Unlinked at once: nothing is left behind, whatever happens next.
	os.Remove(f.Name())
	return &spool{f: f}, nil
}

func (s *spool) Begin() (io.Writer, error) {
	if err := s.f.Truncate(0); err != nil {
		return nil, err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return s.f, nil
}

func (s *spool) Commit(stdout io.Writer) error {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := io.Copy(stdout, s.f); err != nil {
		return fmt.Errorf("writing to standard output: %w", err)
	}
	return nil
}

func (s *spool) Abort() { s.f.Close() }

func (s *spool) Name() string { return "standard output" }
