package store

import (
	"context"
	"fmt"
	"strings"
)

// EncryptedSuffix is appended to a snapshot's name to name the object its
// age-encrypted archive is stored in (Entry.Object): NAME.snap.age, which
// the age CLI decrypts back into NAME.snap.
const EncryptedSuffix = ".age"

// EncryptionAge is Encryption.Format for archives encrypted with age.
const EncryptionAge = "age"

// Encryption is the record of how a snapshot's archive is encrypted. It
// names who can read it (public keys only) so that an operator knows which
// identity opens which snapshot after a key rotation.
type Encryption struct {
	// Format is EncryptionAge.
	Format string `json:"format"`
	// Recipients are the fingerprints of the public keys it is encrypted
	// to: an age1 key itself, "ssh-ed25519 SHA256:..." for an SSH key.
	Recipients []string `json:"recipients"`
}

// ObjectCreator is a store that can keep a snapshot's bytes transformed,
// under an object name of their own (Entry.Object). The store neither
// knows nor undoes the transformation: a wrapper (snapshot/agecrypt) does.
type ObjectCreator interface {
	// CreateObject is Create, the bytes written going into object (a
	// form of name: CheckObjectName). The Pending's Commit records object
	// as Entry.Object and the bytes written as Entry.StoredSize; the
	// entry given to it must carry the archive's own Size and SHA256, and
	// StoredSHA256.
	CreateObject(ctx context.Context, job, name, object string) (Pending, error)
}

// CheckObjectName checks that object is a form of the snapshot name under
// which a store may keep its transformed bytes: NAME.snap.age.
func CheckObjectName(name, object string) error {
	if object != name+EncryptedSuffix {
		return fmt.Errorf("store: %q is not a stored form of %s (want %s)", object, name, name+EncryptedSuffix)
	}
	return nil
}

// CheckStoredEntry checks what a Commit of transformed bytes needs from
// the entry it is given; written is the number of stored bytes.
func CheckStoredEntry(entry *Entry, written int64) error {
	switch {
	case entry.Size <= 0:
		return fmt.Errorf("the entry of a transformed snapshot must give the archive's size")
	case len(entry.StoredSHA256) != 64 || strings.Trim(entry.StoredSHA256, "0123456789abcdef") != "":
		return fmt.Errorf("the entry of a transformed snapshot must give the stored bytes' SHA-256")
	case entry.StoredSize != 0 && entry.StoredSize != written:
		return fmt.Errorf("entry says %d stored bytes but %d were written", entry.StoredSize, written)
	}
	return nil
}

// Decoded is implemented by a reader that Open returns over the archive
// itself for a snapshot stored transformed (Entry.Object set): a store
// wrapper that undid the transformation returns one. Any other reader of
// such a snapshot gives the stored bytes, which only their record's
// StoredSize and StoredSHA256 can check.
type Decoded interface{ DecodedArchive() }

// IsStoredForm says whether r, opened for entry, gives the stored bytes
// rather than the archive.
func IsStoredForm(entry *Entry, r any) bool {
	if entry.Object == "" {
		return false
	}
	_, ok := r.(Decoded)
	return !ok
}

// ErrStoredForm is a snapshot whose archive is stored encrypted, read
// where only the archive will do (a restore, a verification of the
// archive) without the identity that decrypts it.
type ErrStoredForm struct {
	Name       string
	Encryption *Encryption
}

func (e *ErrStoredForm) Error() string {
	if e.Encryption != nil {
		return fmt.Sprintf("store: snapshot %s is encrypted (%s, for %s): give the identity file that decrypts it",
			e.Name, e.Encryption.Format, strings.Join(e.Encryption.Recipients, ", "))
	}
	return fmt.Sprintf("store: snapshot %s is stored transformed: give the identity file that decrypts it", e.Name)
}
