package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/raftsnap/raftsnap/snapshot/iotrack"
)

// copyStored copies a snapshot stored transformed (encrypted) as it is
// stored: the bytes are not decrypted (the agent holds no key), they go
// into the same object name in to and must match the record's StoredSize
// and StoredSHA256, else nothing is committed.
func copyStored(ctx context.Context, from, to Store, r io.Reader, src Entry) (Entry, error) {
	oc, ok := to.(ObjectCreator)
	if !ok {
		return Entry{}, fmt.Errorf("%s cannot keep %s, which is stored encrypted as %s", to, src.Name, src.Object)
	}
	p, err := oc.CreateObject(ctx, src.Job, src.Name, src.Object)
	if err != nil {
		return Entry{}, err
	}
	defer p.Abort()
	h := sha256.New()
	in := &iotrack.Reader{R: r}
	n, err := io.Copy(io.MultiWriter(p, h), in)
	if err != nil {
		if in.Err != nil && ctx.Err() == nil {
			return Entry{}, &CopySourceError{Err: fmt.Errorf("reading %s from %s: %w", src.Object, from, err)}
		}
		return Entry{}, err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != src.StoredSize || sum != src.StoredSHA256 {
		return Entry{}, &CopySourceError{Err: &VerificationError{Name: src.Name, Err: fmt.Errorf(
			"the copy read of %s (%d bytes, sha256 %s) differs from the one committed in %s (%d bytes, sha256 %s)",
			src.Object, n, sum, from, src.StoredSize, src.StoredSHA256)}}
	}
	entry := src
	entry.Verified, entry.VerifiedAt, entry.VerifyError = true, time.Now().UTC(), ""
	entry.Host = ""
	entry.Path, entry.Store = "", ""
	return p.Commit(ctx, entry)
}
