package agecrypt_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/agetest"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/agecrypt"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket/buckettest"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// key is a fresh age identity and the recipients encrypting to it.
func key(t testing.TB) (*age.X25519Identity, *agecrypt.Recipients) {
	t.Helper()
	return agetest.Key(t)
}

func wrap(t testing.TB, inner store.Store, r *agecrypt.Recipients, ids ...age.Identity) *agecrypt.Store {
	t.Helper()
	st, err := agecrypt.Wrap(inner, r, ids)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func localStore(t testing.TB, dir string) *store.Local {
	t.Helper()
	l, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// The encrypting store, given the identity, keeps the whole Store contract
// over a local directory and over object stores.
func TestLocalConformance(t *testing.T) {
	id, r := key(t)
	storetest.Conformance(t, func(t *testing.T) store.Store {
		return wrap(t, localStore(t, t.TempDir()), r, id)
	}, 3<<20)
}

func TestMemConformance(t *testing.T) {
	id, r := key(t)
	storetest.Conformance(t, func(t *testing.T) store.Store {
		st, _ := buckettest.Mem(t, bucket.Options{})
		return wrap(t, st, r, id)
	}, 1<<20)
}

func TestVersityConformance(t *testing.T) {
	srv := servers.StartVersity(t)
	srv.SetEnv(t)
	id, r := key(t)
	fresh := buckettest.FreshS3(srv, "crypt")
	storetest.Conformance(t, func(t *testing.T) store.Store {
		return wrap(t, fresh(t), r, id)
	}, 12<<20)
}

// TestEncryptedRecordAndBytes: what lands in the directory is an age file
// (NAME.snap.age) holding no plaintext byte, its record the archive's and
// the ciphertext's sums and the recipient, and it lists, verifies without
// the key (ciphertext against record), and with the key as an archive.
func TestEncryptedRecordAndBytes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	id, r := key(t)
	st := wrap(t, localStore(t, dir), r)
	const marker = "PLAINTEXT-MARKER-7f3a"
	e := storetest.CommitState(t, st, "consul-main", 3, 100, time.Now().UTC(), bytes.Repeat([]byte(marker), 1000))
	if e.Object != e.Name+".age" || e.Encryption == nil || e.Encryption.Recipients[0] != id.Recipient().String() ||
		e.StoredSize <= e.Size || len(e.StoredSHA256) != 64 || e.StoredSHA256 == e.SHA256 {
		t.Fatalf("record %+v %+v", e, e.Encryption)
	}
	if _, err := os.Stat(filepath.Join(dir, e.Name)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("plaintext name exists: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, e.Object))
	if err != nil {
		t.Fatal(err)
	}
	if !agecrypt.IsEncrypted(data) || int64(len(data)) != e.StoredSize {
		t.Fatalf("stored file is not an age file of the recorded size")
	}
	scanForMarker(t, dir, marker)

	// Without the key: listed, and checked as stored.
	entries, foreign, err := st.List(ctx)
	if err != nil || len(entries) != 1 || len(foreign) != 0 {
		t.Fatalf("list: %v %v %v", entries, foreign, err)
	}
	if _, rep, err := store.Verify(ctx, st, e.Name, snapshot.VerifyOptions{}, nil); err != nil || rep != nil {
		t.Fatalf("verify without key: %v %v", rep, err)
	}
	// Without the key, a restore is refused before a byte is sent.
	_, _, err = store.Send(ctx, st, e.Name, snapshot.SendOptions{}, nil, func(io.Reader, int64) error {
		t.Fatal("sent without the key")
		return nil
	})
	var stored *store.ErrStoredForm
	if !errors.As(err, &stored) || !strings.Contains(err.Error(), id.Recipient().String()) {
		t.Fatalf("send without key: %v", err)
	}
	// With it: the archive, verified.
	keyed := wrap(t, localStore(t, dir), nil, id)
	if _, rep, err := store.Verify(ctx, keyed, e.Name, snapshot.VerifyOptions{}, nil); err != nil || rep.ArchiveSHA256 != e.SHA256 {
		t.Fatalf("verify with key: %v %v", rep, err)
	}
	// The scan can see the marker: the decrypted archive holds it.
	rc, _, err := keyed.Open(ctx, e.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	plain, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "x.snap")
	testkit.WriteFile(t, out, string(plain), 0o600)
	if !testkit.BytesHoldMarker(t, out, marker) {
		t.Fatal("the decrypted archive does not show the marker: the scan proves nothing")
	}
}

// scanForMarker fails when any file under dir holds marker.
func scanForMarker(t testing.TB, dir, marker string) {
	t.Helper()
	hits, n := testkit.MarkerHits(t, dir, marker)
	if n == 0 || len(hits) > 0 {
		t.Fatalf("scanned %d files; the plaintext marker is in %v", n, hits)
	}
}

// A job with several stores copies a missing snapshot without the key: the
// ciphertext as stored, checked against its record.
func TestCopyWithoutKey(t *testing.T) {
	ctx := context.Background()
	id, r := key(t)
	one, two := wrap(t, localStore(t, t.TempDir()), r), wrap(t, localStore(t, t.TempDir()), r)
	e := storetest.Commit(t, one, "consul-main", 2, 9, time.Now().UTC())
	copied, err := store.Copy(ctx, one, two, e.Name)
	if err != nil || copied.StoredSHA256 != e.StoredSHA256 || copied.Object != e.Object || copied.Encryption == nil {
		t.Fatalf("copy %+v: %v", copied, err)
	}
	if _, rep, err := store.Verify(ctx, wrap(t, two.Inner(), nil, id), e.Name, snapshot.VerifyOptions{}, nil); err != nil || rep.ArchiveSHA256 != e.SHA256 {
		t.Fatalf("the copy does not decrypt to the archive: %v", err)
	}
}

// commitSmall commits a small real archive into st and returns its name.
func commitSmall(t *testing.T, st store.Store) string {
	t.Helper()
	return storetest.Commit(t, st, "consul-main", 2, 3, time.Now().UTC()).Name
}
