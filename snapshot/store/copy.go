package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/iotrack"
)

// CopySourceError is a copy that failed on the side it read from: the
// destination store is not to blame.
type CopySourceError struct{ Err error }

func (e *CopySourceError) Error() string { return e.Err.Error() }
func (e *CopySourceError) Unwrap() error { return e.Err }

// Copy writes the snapshot name of from into to under the same name, as it
// streams: the bytes read are verified (snapshot.Verify) and must be the
// ones from's record commits to (size and SHA-256), else nothing is
// committed in to. The copy's record is from's, with its verification time
// now and this host as its writer. A failure reading from is a
// *CopySourceError (a copy whose archive fails verification also wraps a
// *VerificationError); from's record is not changed.
func Copy(ctx context.Context, from, to Store, name string) (Entry, error) {
	r, src, err := from.Open(ctx, name)
	if err != nil {
		return Entry{}, &CopySourceError{Err: err}
	}
	defer r.Close()
	if IsStoredForm(&src, r) {
		return copyStored(ctx, from, to, r, src)
	}
	p, err := to.Create(ctx, src.Job, name)
	if err != nil {
		return Entry{}, err
	}
	defer p.Abort()
	verifier := snapshot.NewVerifier(ctx, snapshot.VerifyOptions{})
	src2 := &iotrack.Reader{R: r}
	if _, err := io.Copy(io.MultiWriter(p, verifier), src2); err != nil {
		verifier.Abort()
		verifier.Close()
		var archiveErr *snapshot.Error
		switch {
		case errors.As(err, &archiveErr):
			return Entry{}, &CopySourceError{Err: &VerificationError{Name: name, Err: err}}
		case src2.Err != nil && ctx.Err() == nil:
			return Entry{}, &CopySourceError{Err: fmt.Errorf("reading %s from %s: %w", name, from, err)}
		}
		return Entry{}, err
	}
	report, err := verifier.Close()
	if err != nil {
		if ctx.Err() != nil {
			return Entry{}, err
		}
		return Entry{}, &CopySourceError{Err: &VerificationError{Name: name, Err: err}}
	}
	if report.ArchiveBytes != src.Size || report.ArchiveSHA256 != src.SHA256 {
		return Entry{}, &CopySourceError{Err: &VerificationError{Name: name, Err: fmt.Errorf(
			"the copy read (%d bytes, sha256 %s) differs from the one committed in %s (%d bytes, sha256 %s)",
			report.ArchiveBytes, report.ArchiveSHA256, from, src.Size, src.SHA256)}}
	}
	entry := src
	entry.Verified, entry.VerifiedAt, entry.VerifyError = true, time.Now().UTC(), ""
	entry.Host = ""
	entry.Path, entry.Store = "", ""
	return p.Commit(ctx, entry)
}
