package agecrypt

import (
	"context"
	"fmt"
	"io"

	"filippo.io/age"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/iotrack"
)

// Adopted is an archive encrypted elsewhere (by hand, with the age CLI),
// as CheckEncrypted found it.
type Adopted struct {
	// Report is the verification of the archive inside.
	Report *snapshot.Report
	// StoredSize and StoredSHA256 describe the encrypted file itself.
	StoredSize   int64
	StoredSHA256 string
	// Recipient is the fingerprint of the key that opened it (""
	// for a kind of key whose public half cannot be told): an age header
	// does not name its recipients, so this one is all that is known.
	Recipient string
}

// CheckEncrypted reads the age file r (named name in errors), copies its
// bytes unchanged to w, and decrypts them with ids as they stream, the
// archive inside verified as the snapshot job verifies. w is where the
// ciphertext is stored (io.Discard for a first pass): what it received is
// good only when CheckEncrypted returns no error. Errors are those of
// Decrypt, the verifier's (*snapshot.Error), w's or r's.
func CheckEncrypted(ctx context.Context, r io.Reader, w io.Writer, name string, ids []age.Identity) (*Adopted, error) {
	cipher := iotrack.SHA256(w)
	tee := io.TeeReader(r, cipher)
	used := make([]age.Identity, len(ids))
	for i, id := range ids {
		used[i] = &usedIdentity{Identity: id}
	}
	plain, err := Decrypt(tee, name, used)
	if err != nil {
		return nil, err
	}
	v := snapshot.NewVerifier(ctx, snapshot.VerifyOptions{})
	if _, err := io.Copy(v, plain); err != nil {
		v.Abort()
		v.Close()
		return nil, err
	}
	report, err := v.Close()
	if err != nil {
		return nil, err
	}
	// age refuses data after its last chunk; what it did not read yet
	// (buffered ahead) must be nothing.
	if n, err := io.Copy(io.Discard, tee); err != nil {
		return nil, err
	} else if n > 0 {
		return nil, &snapshot.Error{Kind: snapshot.ErrCorrupt, Msg: fmt.Sprintf("%s: %d bytes follow the end of the encrypted file", name, n)}
	}
	a := &Adopted{Report: report, StoredSize: cipher.N, StoredSHA256: cipher.Sum()}
	for _, id := range used {
		if id.(*usedIdentity).used {
			a.Recipient = Fingerprint(id)
			break
		}
	}
	return a, nil
}
