package agecrypt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/agecrypt"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// sendAll restores name from st into a buffer, as the restore job sends:
// it returns what the target received and the error.
func sendAll(t *testing.T, st store.Store, name string) ([]byte, error) {
	t.Helper()
	var got bytes.Buffer
	_, _, err := store.Send(context.Background(), st, name, snapshot.SendOptions{}, nil, func(r io.Reader, _ int64) error {
		_, err := io.Copy(&got, r)
		return err
	})
	return got.Bytes(), err
}

// Each bad input gets its own error, and the target never receives the
// whole archive.
func TestBadInputs(t *testing.T) {
	ctx := context.Background()
	id, r := key(t)
	other, _ := key(t)
	setup := func(t *testing.T) (string, store.Entry) {
		dir := t.TempDir()
		e := storetest.Commit(t, wrap(t, localStore(t, dir), r), "consul-main", 2, 7, time.Now().UTC())
		return dir, e
	}

	t.Run("wrong identity", func(t *testing.T) {
		dir, e := setup(t)
		got, err := sendAll(t, wrap(t, localStore(t, dir), nil, other), e.Name)
		var wrong *agecrypt.WrongIdentityError
		if !errors.As(err, &wrong) || len(got) != 0 || !strings.Contains(err.Error(), id.Recipient().String()) {
			t.Fatalf("sent %d bytes, err %v", len(got), err)
		}
		if strings.Contains(err.Error(), "AGE-SECRET-KEY") {
			t.Fatal("an identity in an error")
		}
	})

	t.Run("tampered ciphertext", func(t *testing.T) {
		dir, e := setup(t)
		testkit.FlipByte(t, filepath.Join(dir, e.Object), e.StoredSize/2)
		got, err := sendAll(t, wrap(t, localStore(t, dir), nil, id), e.Name)
		var cut *snapshot.CutError
		var bad *store.VerificationError
		if !errors.As(err, &cut) || !errors.As(err, &bad) || !errors.Is(err, snapshot.ErrCorrupt) || int64(len(got)) >= e.Size {
			t.Fatalf("sent %d of %d bytes, err %v", len(got), e.Size, err)
		}
		if !strings.Contains(err.Error(), "fails authentication") {
			t.Fatalf("error does not say why: %v", err)
		}
		// Without the key, scrub sees it too: the ciphertext is not the one
		// recorded.
		entry, _, err := store.Verify(ctx, wrap(t, localStore(t, dir), r), e.Name, snapshot.VerifyOptions{}, nil)
		if !errors.As(err, &bad) || entry.Verified {
			t.Fatalf("scrub without key: %v, verified %v", err, entry.Verified)
		}
	})

	t.Run("truncated ciphertext", func(t *testing.T) {
		dir, e := setup(t)
		data, err := os.ReadFile(filepath.Join(dir, e.Object))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{10, len(agecrypt.Header) + 40, len(data) - 17, len(data) - 1} {
			_, err := io.Copy(io.Discard, mustDecrypt(t, data[:n], id))
			if !errors.Is(err, snapshot.ErrTruncated) && !errors.Is(err, snapshot.ErrCorrupt) {
				t.Fatalf("cut at %d of %d: %v", n, len(data), err)
			}
		}
	})

	t.Run("record disagrees with the object", func(t *testing.T) {
		dir, e := setup(t)
		sidecar := filepath.Join(dir, e.Name+".json")
		var rec map[string]any
		data, _ := os.ReadFile(sidecar)
		if err := json.Unmarshal(data, &rec); err != nil {
			t.Fatal(err)
		}
		rec["stored_sha256"] = strings.Repeat("0", 64)
		data, _ = json.Marshal(rec)
		testkit.WriteFile(t, sidecar, string(data), 0o600)
		got, err := sendAll(t, wrap(t, localStore(t, dir), nil, id), e.Name)
		if !errors.Is(err, snapshot.ErrChecksum) || !strings.Contains(err.Error(), "differs from its record") || int64(len(got)) >= e.Size {
			t.Fatalf("sent %d of %d bytes, err %v", len(got), e.Size, err)
		}
	})

	t.Run("recipients file typo", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "recipients.txt")
		testkit.WriteFile(t, f, "# ops\n"+id.Recipient().String()+"\n\nage1typo\n", 0o644)
		_, err := agecrypt.NewRecipients(nil, f)
		var rerr *agecrypt.RecipientError
		if !errors.As(err, &rerr) || rerr.Line != 4 || !strings.HasPrefix(err.Error(), f+":4: ") {
			t.Fatalf("%v", err)
		}
	})

	t.Run("private key given as recipient", func(t *testing.T) {
		_, err := agecrypt.NewRecipients([]string{id.String()}, "")
		if err == nil || strings.Contains(err.Error(), id.String()) || !strings.Contains(err.Error(), "private key") {
			t.Fatalf("%v", err)
		}
	})

	t.Run("identity file readable by others", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "key.txt")
		testkit.WriteFile(t, f, id.String()+"\n", 0o644)
		_, err := agecrypt.LoadIdentityFile(f)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), id.String()) {
			t.Fatalf("%v", err)
		}
		os.Chmod(f, 0o600)
		if ids, err := agecrypt.LoadIdentityFile(f); err != nil || len(ids) != 1 {
			t.Fatalf("%v", err)
		}
	})

	t.Run("identity file that is not one", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "key.txt")
		testkit.WriteFile(t, f, "AGE-SECRET-KEY-1NOTAKEY\n", 0o600)
		_, err := agecrypt.LoadIdentityFile(f)
		if err == nil || strings.Contains(err.Error(), "NOTAKEY") {
			t.Fatalf("%v", err)
		}
	})
}

func mustDecrypt(t *testing.T, data []byte, id age.Identity) io.Reader {
	t.Helper()
	r, err := agecrypt.Decrypt(bytes.NewReader(data), "x.snap.age", []age.Identity{id})
	if err != nil {
		return errReader{err}
	}
	return r
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
