package store_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// TestUploadTakesEveryByteBeforeItsName: writes that end before meta.json
// does are taken whole (held back), never reported short: a source's
// io.Copy would fail with io.ErrShortWrite, as a raft source's did when
// its first read was 512 bytes or more but ended inside meta.json.
func TestUploadTakesEveryByteBeforeItsName(t *testing.T) {
	ctx := context.Background()
	// A meta.json of some KiB (a configuration of many servers, with
	// random IDs so that it does not compress away) ends well past the
	// first write.
	meta := &raft.SnapshotMeta{Version: 1, ID: "2-5-big", Index: 5, Term: 2, Size: 50_000}
	for i := range 64 {
		meta.Configuration.Servers = append(meta.Configuration.Servers, raft.Server{
			ID: raft.ServerID(fmt.Sprintf("%d-%x", i, rand.Uint64())), Address: raft.ServerAddress(fmt.Sprintf("10.0.%d.%d:8300", i, rand.IntN(250)))})
	}
	var buf bytes.Buffer
	rep, err := snapshot.Write(&buf, meta, bytes.NewReader(make([]byte, 50_000)))
	if err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	st := storetest.Local(t)
	at := time.Now().UTC()
	u := store.NewUpload(ctx, "job", at, []store.Store{st}, store.UploadOptions{})
	for rest := data; len(rest) > 0; {
		p := rest[:min(len(rest), 600)]
		if n, err := u.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write of %d bytes at %d = %d, %v", len(p), len(data)-len(rest), n, err)
		}
		rest = rest[len(p):]
	}
	if res, err := u.Commit(ctx, storetest.EntryFor(rep, at)); err != nil || res[0].Err != nil {
		t.Fatalf("commit: %v %+v", err, res)
	}
}
