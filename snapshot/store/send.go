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

// ReadError is a stored archive that could not be read (the store's own
// I/O failed): it says nothing about the archive.
type ReadError struct {
	Name string
	Err  error
}

func (e *ReadError) Error() string { return fmt.Sprintf("store: reading %s: %v", e.Name, e.Err) }
func (e *ReadError) Unwrap() error { return e.Err }

// Send sends the stored snapshot called name in one pass: send gets a
// reader over its archive (a snapshot.SendReader, see snapshot.Send) and
// its size. Every byte send reads is verified as it is read, and the
// archive's end is held back until all of it verified, matched its
// record's size and SHA-256 and passed opts.Check: what send reads is
// exactly the archive verified, read once, from any store. On a failure
// send is cut off short of the end, and the error is a
// *snapshot.CutError saying how much it had got.
//
// The verdict on the file is recorded (Verified, VerifiedAt): verified
// once all of it passed; unverified when it fails verification or differs
// from its record, which is then a *VerificationError (under the
// CutError). Only what every archive must pass sets it: opts.Head and
// opts.Check refusing it (a flavour the target cannot read),
// opts.Verify.RequireSealed (which only Vault demands), send failing, the
// store failing to read (a *ReadError) or ctx ending record nothing. When
// opts.Head refuses the archive, the rest of the file is verified
// (nothing more is sent) so that a file that changed since it was read
// does not keep its verdict. logger (nil: discard) hears of a record that
// could not be updated.
func Send(ctx context.Context, st Store, name string, opts snapshot.SendOptions, logger *slog.Logger, send func(archive io.Reader, size int64) error) (Entry, *snapshot.Report, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r, entry, err := st.Open(ctx, name)
	if err != nil {
		return entry, nil, err
	}
	defer r.Close()
	if IsStoredForm(&entry, r) {
		return entry, nil, &ErrStoredForm{Name: name, Encryption: entry.Encryption}
	}
	requireSealed := opts.Verify.RequireSealed
	opts.Verify.RequireSealed = false
	var mismatch error
	headRefused := false
	head, check := opts.Head, opts.Check
	if head != nil {
		opts.Head = func(h *snapshot.Head) error {
			err := head(h)
			headRefused = err != nil
			return err
		}
	}
	opts.Check = func(report *snapshot.Report, flavor snapshot.Flavor) error {
		if report.ArchiveBytes != entry.Size || report.ArchiveSHA256 != entry.SHA256 {
			mismatch = fmt.Errorf("the file (%d bytes, sha256 %s) differs from the one stored (%d bytes, sha256 %s)",
				report.ArchiveBytes, report.ArchiveSHA256, entry.Size, entry.SHA256)
			return mismatch
		}
		entry = record(ctx, st, entry, nil, logger)
		if requireSealed && !report.Sealed {
			return fmt.Errorf("store: %s is not a Vault snapshot (no %s member), which this target requires", name, snapshot.SealedSumsName)
		}
		if check != nil {
			return check(report, flavor)
		}
		return nil
	}
	in := &trackedReader{r: r}
	report, _, err := snapshot.Send(ctx, in, entry.Size, opts, send)
	var cut *snapshot.CutError
	switch {
	case err == nil:
		return entry, report, nil
	case !errors.As(err, &cut):
		return entry, nil, err
	case in.err != nil && errors.Is(cut.Err, in.err):
		return entry, nil, &ReadError{Name: name, Err: in.err}
	case snapshot.VerificationFailed(cut.Err) || mismatch != nil && errors.Is(cut.Err, mismatch):
		entry = record(ctx, st, entry, cut.Err, logger)
		cut.Err = &VerificationError{Name: name, Err: cut.Err}
		return entry, nil, cut
	case headRefused:
		if e, _, verr := Verify(ctx, st, name, snapshot.VerifyOptions{}, logger); verr != nil {
			var bad *VerificationError
			if errors.As(verr, &bad) {
				cut.Err = verr
			}
			return e, nil, cut
		}
	}
	return entry, nil, err
}

// Verify re-reads a stored snapshot completely: archive verification with
// opts, and the archive's size and SHA-256 against its record. The record
// is updated with the outcome (see Send); a failure of the file is a
// *VerificationError, one of the store's reads a *ReadError. logger (nil:
// discard) hears of a record that could not be updated.
//
// A snapshot stored encrypted, in a store that cannot decrypt it, is
// checked as stored: its bytes against the record's StoredSize and
// StoredSHA256 (see VerifyStored), and the report is nil; unless opts asks
// for the archive's content (State, RequireSealed): that is an
// *ErrStoredForm.
func Verify(ctx context.Context, st Store, name string, opts snapshot.VerifyOptions, logger *slog.Logger) (Entry, *snapshot.Report, error) {
	entry, report, err := Send(ctx, st, name, snapshot.SendOptions{Verify: opts}, logger, func(archive io.Reader, _ int64) error {
		_, err := io.Copy(io.Discard, archive)
		return err
	})
	var cut *snapshot.CutError
	if errors.As(err, &cut) {
		// Nothing was being sent: the cause is all there is to say.
		err = cut.Err
	}
	var stored *ErrStoredForm
	if errors.As(err, &stored) && opts.State == nil && !opts.RequireSealed {
		// Only the archive's content could answer a State consumer or
		// RequireSealed (a drill's counts): those need the key.
		entry, err = VerifyStored(ctx, st, name, logger)
	}
	return entry, report, err
}

// record stores the verdict on entry's file (failure nil: verified), and
// returns the entry as recorded. The failure is kept in VerifyError so
// that status and `store list` can say why a snapshot no longer counts.
func record(ctx context.Context, st Store, entry Entry, failure error, logger *slog.Logger) Entry {
	entry.Verified = failure == nil
	entry.VerifyError = ""
	if failure != nil {
		entry.VerifyError = failure.Error()
	}
	entry.VerifiedAt = time.Now().UTC()
	if err := st.Update(ctx, entry); err != nil && !errors.Is(err, ErrReadOnly) {
		logger.Error("cannot record the verification result", "store", st.String(), "snapshot", entry.Name, "err", err)
	}
	return entry
}

// trackedReader remembers its reader's error, to tell the store's read
// failures from the archive's.
type trackedReader struct {
	r   io.Reader
	err error
}

func (t *trackedReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	// A reader that decrypts says what is wrong with the bytes it read as
	// an archive error: the file's fault, not the store's.
	if err != nil && err != io.EOF && !snapshot.VerificationFailed(err) {
		t.err = err
	}
	return n, err
}

// ReadHead reads the head of the stored snapshot called name (see
// snapshot.ReadHead): what a restore checks before it sends anything. A
// head that fails verification is recorded as Send records it (the file is
// verified up to its first fault) and comes back as a *VerificationError;
// the store failing to read is a *ReadError.
func ReadHead(ctx context.Context, st Store, name string, logger *slog.Logger) (*snapshot.Head, Entry, error) {
	r, entry, err := st.Open(ctx, name)
	if err != nil {
		return nil, entry, err
	}
	if IsStoredForm(&entry, r) {
		r.Close()
		return nil, entry, &ErrStoredForm{Name: name, Encryption: entry.Encryption}
	}
	in := &trackedReader{r: r}
	head, err := snapshot.ReadHead(ctx, in, snapshot.VerifyOptions{})
	r.Close()
	switch {
	case err == nil:
		return head, entry, nil
	case in.err != nil && errors.Is(err, in.err):
		return nil, entry, &ReadError{Name: name, Err: in.err}
	case snapshot.VerificationFailed(err):
		entry, _, err = Verify(ctx, st, name, snapshot.VerifyOptions{}, logger)
		if err == nil {
			// Good again on a second read: it changed under the first.
			err = fmt.Errorf("store: %s changed while it was read; try again", name)
		}
	}
	return nil, entry, err
}
