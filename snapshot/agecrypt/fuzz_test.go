package agecrypt_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"filippo.io/age"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/agecrypt"
)

// fuzzIdentity is a fixed identity, so that the corpus holds files it
// opens (generated for this test; it protects nothing).
const fuzzIdentity = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"

// FuzzDecrypt: whatever the bytes, the decrypting reader ends with nil, a
// wrong-identity error or an archive error (truncated, corrupt), never a
// panic, and returns no more plaintext than the ciphertext could hold.
func FuzzDecrypt(f *testing.F) {
	id, err := age.ParseX25519Identity(fuzzIdentity)
	if err != nil {
		f.Fatal(err)
	}
	for _, size := range []int{0, 1, 64 << 10, 64<<10 + 1} {
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, id.Recipient())
		if err != nil {
			f.Fatal(err)
		}
		w.Write(bytes.Repeat([]byte{'x'}, size))
		w.Close()
		f.Add(buf.Bytes())
	}
	f.Add([]byte(agecrypt.Header))
	f.Add([]byte("not age at all"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := agecrypt.Decrypt(bytes.NewReader(data), "fuzz.snap.age", []age.Identity{id})
		if err == nil {
			var n int64
			n, err = io.Copy(io.Discard, r)
			if n > int64(len(data)) {
				t.Fatalf("%d bytes of plaintext from %d of ciphertext", n, len(data))
			}
		}
		var wrong *agecrypt.WrongIdentityError
		var archiveErr *snapshot.Error
		if err != nil && !errors.As(err, &wrong) && !errors.As(err, &archiveErr) {
			t.Fatalf("unclassified error %T: %v", err, err)
		}
	})
}
