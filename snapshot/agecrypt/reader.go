package agecrypt

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"filippo.io/age"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/iotrack"
)

// Header is how every age file (binary, not armored) starts.
const Header = "age-encryption.org/v1\n"

// IsEncrypted says whether the first bytes of a file are an age header.
func IsEncrypted(prefix []byte) bool {
	return bytes.HasPrefix(prefix, []byte(Header))
}

// WrongIdentityError is an encrypted snapshot that none of the identities
// given can open. It names the snapshot's recipients (public), so that the
// operator knows which key it needs.
type WrongIdentityError struct {
	Name       string
	Recipients []string // from its record; none when decrypting a bare file
}

func (e *WrongIdentityError) Error() string {
	if len(e.Recipients) == 0 {
		return fmt.Sprintf("%s: none of the identity file's keys opens it (it is encrypted to other recipients)", e.Name)
	}
	return fmt.Sprintf("%s: none of the identity file's keys opens it; it is encrypted to %s", e.Name, strings.Join(e.Recipients, ", "))
}

// Decrypt starts decrypting the age file r (named name in errors) with
// ids: the header is read and unwrapped now, the payload as the returned
// reader is read. A wrong identity is a *WrongIdentityError; a damaged,
// truncated or tampered file, now or while reading, a *snapshot.Error
// (ErrTruncated or ErrCorrupt, so that callers file it with the archive
// faults). Read errors of r itself come back as they are. Memory stays
// bounded: age decrypts one 64 KiB chunk at a time, and never returns a
// byte of a chunk that failed authentication.
func Decrypt(r io.Reader, name string, ids []age.Identity) (io.Reader, error) {
	src := &iotrack.Reader{R: r}
	dec, err := age.Decrypt(src, ids...)
	if err != nil {
		return nil, classify(err, src.Err, name, true)
	}
	return &plainReader{r: dec, src: src, name: name}, nil
}

// plainReader is the plaintext of an age file.
type plainReader struct {
	r    io.Reader
	src  *iotrack.Reader
	name string
}

func (p *plainReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err != nil && err != io.EOF {
		err = classify(err, p.src.Err, p.name, false)
	}
	return n, err
}

// classify turns age's error into what callers branch on.
func classify(err, srcErr error, name string, header bool) error {
	var noMatch *age.NoIdentityMatchError
	switch {
	case srcErr != nil && errors.Is(err, srcErr):
		return srcErr
	case errors.As(err, &noMatch):
		return &WrongIdentityError{Name: name}
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		where := "payload"
		if header {
			where = "header"
		}
		return &snapshot.Error{Kind: snapshot.ErrTruncated, Err: err,
			Msg: fmt.Sprintf("%s: the encrypted file ends in its %s (truncated)", name, where)}
	case header:
		return &snapshot.Error{Kind: snapshot.ErrCorrupt, Err: err,
			Msg: fmt.Sprintf("%s: not a valid age file, or its header was tampered with: %v", name, err)}
	}
	return &snapshot.Error{Kind: snapshot.ErrCorrupt, Err: err,
		Msg: fmt.Sprintf("%s: the encrypted data fails authentication (damaged or tampered with): %v", name, err)}
}

// checkedReader is the plaintext of a stored snapshot: its ciphertext is
// also hashed as it streams, and at the end checked against the record's
// StoredSize and StoredSHA256, so that a record that disagrees with its
// object fails the read before its last byte is returned.
type checkedReader struct {
	plain      io.Reader
	ahead      *readAhead
	closer     io.Closer
	hash       hash.Hash
	n          *int64
	name       string
	wantSize   int64
	wantSHA256 string
	err        error
}

func (c *checkedReader) DecodedArchive() {}

func (c *checkedReader) Close() error {
	c.ahead.stop()
	return c.closer.Close()
}

func (c *checkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.plain.Read(p)
	if err == io.EOF {
		// The end comes only with a ciphertext that matched its record:
		// a reader that checks the end (snapshot.Send) never takes an
		// archive whose object disagrees with its record.
		if cerr := c.check(); cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		c.err = err
	}
	return n, err
}

func (c *checkedReader) check() error {
	sum := hex.EncodeToString(c.hash.Sum(nil))
	if *c.n != c.wantSize || sum != c.wantSHA256 {
		return &snapshot.Error{Kind: snapshot.ErrChecksum,
			Msg: fmt.Sprintf("%s: the encrypted object (%d bytes, sha256 %s) differs from its record (%d bytes, sha256 %s)",
				c.name, *c.n, sum, c.wantSize, c.wantSHA256)}
	}
	return nil
}

// newChecked decrypts the stored object r of a snapshot recorded as want.
func newChecked(r io.ReadCloser, name string, wantSize int64, wantSHA256 string, recipients []string, ids []age.Identity) (*checkedReader, error) {
	h := iotrack.SHA256(io.Discard)
	plain, err := Decrypt(io.TeeReader(bufio.NewReaderSize(r, 64<<10), h), name, ids)
	if err != nil {
		var wrong *WrongIdentityError
		if errors.As(err, &wrong) {
			wrong.Recipients = recipients
		}
		return nil, err
	}
	ahead := newReadAhead(plain)
	return &checkedReader{plain: ahead, ahead: ahead, closer: r, hash: h.H, n: &h.N, name: name, wantSize: wantSize, wantSHA256: wantSHA256}, nil
}
