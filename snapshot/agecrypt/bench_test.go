package agecrypt_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// BenchmarkSaveVerify is a snapshot job's save of a 64 MiB archive (random,
// incompressible state: the worst case for the cipher, which has no less
// data to go through) into a local store, verified as it streams, then a
// restore's read (store.Send into io.Discard), with and without age
// encryption, in the same run. Reported in docs/performance.md (issue 15:
// at most 1.1x).
func BenchmarkSaveVerify(b *testing.B) {
	data, rep := storetest.Archive(b, "consul-main", 2, 9, 64<<20)
	id, r := key(b)
	for _, c := range []struct {
		name string
		wrap func(store.Store) store.Store
	}{
		{"plain", func(st store.Store) store.Store { return st }},
		{"age", func(st store.Store) store.Store { return wrap(b, st, r, id) }},
	} {
		b.Run("save/"+c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				st := c.wrap(localStore(b, b.TempDir()))
				save(b, st, data, rep)
			}
		})
		b.Run("restore/"+c.name, func(b *testing.B) {
			st := c.wrap(localStore(b, b.TempDir()))
			name := save(b, st, data, rep)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				_, _, err := store.Send(context.Background(), st, name, snapshot.SendOptions{}, nil, func(r io.Reader, _ int64) error {
					_, err := io.Copy(io.Discard, r)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// save streams data into st through an Upload and a Verifier, as the
// snapshot job does, and commits it.
func save(b *testing.B, st store.Store, data []byte, rep *snapshot.Report) string {
	ctx := context.Background()
	at := time.Now().UTC()
	u := store.NewUpload(ctx, "consul-main", at, []store.Store{st}, store.UploadOptions{})
	v := snapshot.NewVerifier(ctx, snapshot.VerifyOptions{})
	if _, err := io.Copy(io.MultiWriter(u, v), bytes.NewReader(data)); err != nil {
		b.Fatal(err)
	}
	got, err := v.Close()
	if err != nil || got.ArchiveSHA256 != rep.ArchiveSHA256 {
		b.Fatal(err)
	}
	res, err := u.Commit(ctx, storetest.EntryFor(got, at))
	if err != nil || res[0].Err != nil {
		b.Fatalf("%v %+v", err, res)
	}
	return res[0].Entry.Name
}
