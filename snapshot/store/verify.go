package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/raftsnap/raftsnap/snapshot"
)

// VerificationError is a stored archive that no longer matches its sidecar
// or fails archive verification.
type VerificationError struct {
	Name string
	Err  error // a *snapshot.Error, or a size/checksum mismatch
}

func (e *VerificationError) Error() string {
	return fmt.Sprintf("stored snapshot %s fails verification: %v", e.Name, e.Err)
}

func (e *VerificationError) Unwrap() error { return e.Err }

// Verify re-reads a stored snapshot completely: archive verification with
// opts, and the archive's size and SHA-256 against its record. The record
// is updated with the outcome (Verified, VerifiedAt); a failure is a
// *VerificationError. logger (nil: discard) hears of a record that could
// not be updated.
func Verify(ctx context.Context, st Store, name string, opts snapshot.VerifyOptions, logger *slog.Logger) (Entry, *snapshot.Report, error) {
	r, entry, report, err := OpenVerified(ctx, st, name, opts, logger)
	if r != nil {
		r.Close()
	}
	return entry, report, err
}

// OpenVerified verifies a stored snapshot as Verify does and, on success,
// returns its archive open at its start. From a store whose Open returns a
// seekable file (Local), it is the very file descriptor that was checked.
// The caller closes it.
func OpenVerified(ctx context.Context, st Store, name string, opts snapshot.VerifyOptions, logger *slog.Logger) (io.ReadCloser, Entry, *snapshot.Report, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r, entry, err := st.Open(ctx, name)
	if err != nil {
		return nil, entry, nil, err
	}
	// The verdict recorded comes from the checks every archive must pass;
	// what only a particular caller demands (Vault's sealed sums, for a
	// Vault target) is checked after, and a failure of it says nothing
	// about the file, so it is not recorded.
	neutral := opts
	neutral.RequireSealed = false
	report, verr := snapshot.Verify(r, neutral)
	if verr != nil {
		var archiveErr *snapshot.Error
		if !errors.As(verr, &archiveErr) {
			// An I/O error says nothing about the archive.
			r.Close()
			return nil, entry, nil, fmt.Errorf("store: reading %s: %w", name, verr)
		}
	} else if report.ArchiveBytes != entry.Size || report.ArchiveSHA256 != entry.SHA256 {
		verr = fmt.Errorf("the file (%d bytes, sha256 %s) differs from the one stored (%d bytes, sha256 %s)",
			report.ArchiveBytes, report.ArchiveSHA256, entry.Size, entry.SHA256)
	}
	entry.Verified = verr == nil
	entry.VerifiedAt = time.Now().UTC()
	if err := st.Update(ctx, entry); err != nil && !errors.Is(err, ErrReadOnly) {
		logger.Error("cannot record the verification result", "store", st.String(), "snapshot", name, "err", err)
	}
	if verr != nil {
		r.Close()
		return nil, entry, nil, &VerificationError{Name: name, Err: verr}
	}
	if opts.RequireSealed && !report.Sealed {
		r.Close()
		return nil, entry, nil, fmt.Errorf("store: %s is not a Vault snapshot (no %s member), which this target requires", name, snapshot.SealedSumsName)
	}
	if seeker, ok := r.(io.Seeker); ok {
		if _, err := seeker.Seek(0, io.SeekStart); err != nil {
			r.Close()
			return nil, entry, nil, fmt.Errorf("store: %w", err)
		}
		return r, entry, report, nil
	}
	r.Close()
	r, again, err := st.Open(ctx, name)
	if err != nil {
		return nil, entry, nil, err
	}
	if again.SHA256 != entry.SHA256 || again.Size != entry.Size {
		r.Close()
		return nil, entry, nil, fmt.Errorf("store: %s changed while it was being verified", name)
	}
	return r, entry, report, nil
}
