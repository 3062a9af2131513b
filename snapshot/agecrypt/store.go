package agecrypt

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"filippo.io/age"

	"github.com/raftsnap/raftsnap/snapshot/iotrack"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// Store encrypts what is written into its inner store, and decrypts what is
// read when it has identities. Everything else (listing, records, deletes)
// is the inner store's.
type Store struct {
	inner      store.Store
	recipients *Recipients    // nil: writes are refused
	identities []age.Identity // nil: Open gives the ciphertext
	// identityFile, when set, is read at each Open of an encrypted
	// snapshot (a restore or drill job reads its identity only when it
	// runs, never at start).
	identityFile string
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.ObjectCreator = (*Store)(nil)
	_ store.Cleaner       = (*Store)(nil)
)

// Wrap returns inner encrypting its writes to recipients (nil: a store only
// read from, such as a restore job's) and decrypting its reads with
// identities (nil: reads give the stored ciphertext, which is all that
// listing, pruning and scrub need). The inner store must be an
// store.ObjectCreator when recipients are given.
func Wrap(inner store.Store, recipients *Recipients, identities []age.Identity) (*Store, error) {
	if recipients != nil {
		if _, ok := inner.(store.ObjectCreator); !ok {
			return nil, fmt.Errorf("%s cannot keep encrypted snapshots", inner)
		}
	}
	return &Store{inner: inner, recipients: recipients, identities: identities}, nil
}

// WrapIdentityFile is Wrap with the identities read from identityFile
// (LoadIdentityFile) each time an encrypted snapshot is opened: only when
// a job that restores runs, so that the key can be put in place for a
// restore and removed after it, and a bad file fails that run, not the
// daemon.
func WrapIdentityFile(inner store.Store, recipients *Recipients, identityFile string) (*Store, error) {
	s, err := Wrap(inner, recipients, nil)
	if err != nil {
		return nil, err
	}
	s.identityFile = identityFile
	return s, nil
}

// Inner is the wrapped store.
func (s *Store) Inner() store.Store { return s.inner }

func (s *Store) String() string   { return s.inner.String() }
func (s *Store) Location() string { return s.inner.Location() }
func (s *Store) Close() error     { return s.inner.Close() }

func (s *Store) List(ctx context.Context) ([]store.Entry, []store.Foreign, error) {
	return s.inner.List(ctx)
}

func (s *Store) Get(ctx context.Context, name string) (store.Entry, error) {
	return s.inner.Get(ctx, name)
}

func (s *Store) Update(ctx context.Context, entry store.Entry) error {
	return s.inner.Update(ctx, entry)
}

func (s *Store) Delete(ctx context.Context, name string) error { return s.inner.Delete(ctx, name) }

// Clean implements store.Cleaner for an inner store that is one.
func (s *Store) Clean(ctx context.Context, jobs []string) ([]string, error) {
	if c, ok := s.inner.(store.Cleaner); ok {
		return c.Clean(ctx, jobs)
	}
	return nil, nil
}

// Open implements store.Store. A snapshot stored in the clear (written
// before encryption was configured) is read as it is. An encrypted one
// gives, with identities, its plaintext archive as it decrypts (a
// store.Decoded reader whose end is held back until the ciphertext matched
// its record), else its ciphertext. A wrong identity is a
// *WrongIdentityError naming the snapshot's recipients.
func (s *Store) Open(ctx context.Context, name string) (io.ReadCloser, store.Entry, error) {
	r, entry, err := s.inner.Open(ctx, name)
	if err != nil || entry.Object == "" || s.identities == nil && s.identityFile == "" {
		return r, entry, err
	}
	ids := s.identities
	if ids == nil {
		if ids, err = LoadIdentityFile(s.identityFile); err != nil {
			r.Close()
			return nil, entry, fmt.Errorf("snapshot %s is encrypted: %w", name, err)
		}
	}
	var recipients []string
	if entry.Encryption != nil {
		recipients = entry.Encryption.Recipients
	}
	if entry.Encryption == nil || entry.Encryption.Format != store.EncryptionAge {
		r.Close()
		return nil, entry, fmt.Errorf("%s: snapshot %s is stored as %s in a form this raftsnap does not know", s.inner, name, entry.Object)
	}
	c, err := newChecked(r, name, entry.StoredSize, entry.StoredSHA256, recipients, ids)
	if err != nil {
		r.Close()
		return nil, entry, err
	}
	return c, entry, nil
}

// Create implements store.Store: the snapshot is encrypted to the store's
// recipients as it is written, into NAME.snap.age.
func (s *Store) Create(ctx context.Context, job, name string) (store.Pending, error) {
	if s.recipients == nil {
		return nil, fmt.Errorf("%s: no recipients to encrypt to: %w", s.inner, store.ErrReadOnly)
	}
	p, err := s.inner.(store.ObjectCreator).CreateObject(ctx, job, name, name+store.EncryptedSuffix)
	if err != nil {
		return nil, err
	}
	cipher := iotrack.SHA256(p)
	enc, err := age.Encrypt(cipher, s.recipients.list...)
	if err != nil {
		p.Abort()
		return nil, fmt.Errorf("%s: encrypting %s: %w", s.inner, name, err)
	}
	return &pending{inner: p, enc: enc, cipher: cipher, fingerprints: s.recipients.Fingerprints(), name: name}, nil
}

// CreateObject implements store.ObjectCreator: the bytes (already
// transformed, as a copy from another store gives them) go to the inner
// store as they are.
func (s *Store) CreateObject(ctx context.Context, job, name, object string) (store.Pending, error) {
	oc, ok := s.inner.(store.ObjectCreator)
	if !ok {
		return nil, fmt.Errorf("%s cannot keep encrypted snapshots", s.inner)
	}
	return oc.CreateObject(ctx, job, name, object)
}

// pending encrypts into the inner store's Pending.
type pending struct {
	inner        store.Pending
	enc          io.WriteCloser
	cipher       *iotrack.Writer
	written      int64
	fingerprints []string
	name         string
	done         bool
}

func (p *pending) Written() int64 { return p.written }

func (p *pending) Write(b []byte) (int, error) {
	if p.done {
		return 0, store.ErrWriteAfterEnd
	}
	n, err := p.enc.Write(b)
	p.written += int64(n)
	return n, err
}

// Commit ends the age stream (its last chunk) and commits it with a record
// of both forms: the archive's size and SHA-256 (which must agree with the
// entry's: those the job verified), the ciphertext's, and who can decrypt
// it.
func (p *pending) Commit(ctx context.Context, entry store.Entry) (store.Entry, error) {
	if p.done {
		return store.Entry{}, store.ErrCommitAfterEnd
	}
	if err := p.enc.Close(); err != nil {
		p.Abort()
		return store.Entry{}, fmt.Errorf("encrypting %s: %w", p.name, err)
	}
	p.done = true
	switch {
	case entry.Size != 0 && entry.Size != p.written:
		p.inner.Abort()
		return store.Entry{}, fmt.Errorf("encrypting %s: entry says %d bytes but %d were written", p.name, entry.Size, p.written)
	case len(entry.SHA256) != sha256.Size*2:
		// The archive's SHA-256 is the one its verification computed from
		// the same bytes (hashing them again here would cost a pass).
		p.inner.Abort()
		return store.Entry{}, fmt.Errorf("encrypting %s: the entry must give the archive's SHA-256", p.name)
	}
	entry.Size = p.written
	entry.StoredSize, entry.StoredSHA256 = p.cipher.N, p.cipher.Sum()
	entry.Encryption = &store.Encryption{Format: store.EncryptionAge, Recipients: p.fingerprints}
	return p.inner.Commit(ctx, entry)
}

func (p *pending) Abort() error {
	p.done = true
	return p.inner.Abort()
}
