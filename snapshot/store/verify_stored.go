package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
)

// VerifyStored checks a snapshot stored transformed (encrypted) without
// undoing the transformation: its stored bytes against the record's
// StoredSize and StoredSHA256. What the agent can do without the key: the
// archive was verified before it was encrypted, and age authenticates
// every chunk, so bytes that still match their hash still decrypt to the
// verified archive. The verdict is recorded as Verify records it; a
// mismatch is a *VerificationError, a failed read a *ReadError.
func VerifyStored(ctx context.Context, st Store, name string, logger *slog.Logger) (Entry, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r, entry, err := st.Open(ctx, name)
	if err != nil {
		return entry, err
	}
	defer r.Close()
	if entry.Object == "" || entry.StoredSHA256 == "" {
		return entry, fmt.Errorf("store: snapshot %s is not stored transformed: verify its archive", name)
	}
	h := sha256.New()
	in := &trackedReader{r: r}
	n, err := io.Copy(h, &ctxReader{ctx: ctx, r: in})
	switch {
	case ctx.Err() != nil:
		return entry, ctx.Err()
	case in.err != nil:
		return entry, &ReadError{Name: name, Err: in.err}
	case err != nil:
		return entry, err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != entry.StoredSize || sum != entry.StoredSHA256 {
		mismatch := fmt.Errorf("the stored %s (%d bytes, sha256 %s) differs from its record (%d bytes, sha256 %s)",
			entry.ObjectName(), n, sum, entry.StoredSize, entry.StoredSHA256)
		entry = record(ctx, st, entry, mismatch, logger)
		return entry, &VerificationError{Name: name, Err: mismatch}
	}
	return record(ctx, st, entry, nil, logger), nil
}

// ctxReader stops reading once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
