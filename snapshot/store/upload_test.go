package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"testing"
	"testing/iotest"
	"time"
)

// TestUploadTakesSmallWrites: a source that trickles (a slow server, a
// proxy) hands the upload a few bytes at a time, fewer than meta.json
// needs. Each write is taken whole while the name waits for meta.json's
// end; a write once answered "0 bytes, no error", which io.Copy turns into
// "short write" and the run failed at its first bytes.
func TestUploadTakesSmallWrites(t *testing.T) {
	l := mustOpen(t, t.TempDir())
	// A random 4,000-character ID makes meta.json end well after the first
	// 512 compressed bytes, where the upload first looks for it.
	random := make([]byte, 2000)
	rand.Read(random)
	data, rep := archive(t, 7, hex.EncodeToString(random))
	ctx := context.Background()
	u := NewUpload(ctx, "job", time.Now(), []Store{l}, UploadOptions{})
	if _, err := io.Copy(u, iotest.OneByteReader(bytes.NewReader(data))); err != nil {
		t.Fatalf("copying the archive one byte at a time: %v", err)
	}
	results, err := u.Commit(ctx, Entry{CreatedAt: time.Now(), Size: rep.ArchiveBytes, SHA256: rep.ArchiveSHA256, Index: 7, Term: 2, Verified: true})
	if err != nil || len(results) != 1 || results[0].Err != nil {
		t.Fatalf("commit: %v %+v", err, results)
	}
	if entries, _, err := l.List(ctx); err != nil || len(entries) != 1 || entries[0].Size != int64(len(data)) {
		t.Fatalf("listed %+v, %v; want the archive", entries, err)
	}
}
