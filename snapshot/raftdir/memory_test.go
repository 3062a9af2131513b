package raftdir

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"hash/crc64"
	"io"
	"os"
	"runtime"
	"testing"

	"github.com/raftsnap/raftsnap/snapshot"
)

// TestSaveMemoryIsBounded archives a 256 MiB state.bin (sparse, so the test
// needs no disk space) and checks that the process allocated far less than
// that: the state streams from the file through the archive writer and is
// never held in memory.
func TestSaveMemoryIsBounded(t *testing.T) {
	const size = 256 << 20
	raftDir := t.TempDir()
	name := addSnapshot(t, raftDir, 1, 10, nil)
	if err := os.Truncate(snapshotFile(raftDir, name, snapshot.StateName), size); err != nil {
		t.Fatal(err)
	}
	h := crc64.New(crcTable)
	if _, err := io.CopyN(h, zeros{}, size); err != nil {
		t.Fatal(err)
	}
	crc := binary.BigEndian.AppendUint64(nil, h.Sum64())
	rewriteMeta(t, raftDir, name, func(m map[string]any) {
		m["Size"] = size
		m["CRC"] = base64.StdEncoding.EncodeToString(crc)
	})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var out countingWriter
	res, err := Save(context.Background(), raftDir, &out, Options{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if res.Snapshot.Size != size || out.n == 0 {
		t.Fatalf("archived %d bytes of state into %d bytes", res.Snapshot.Size, out.n)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("saving a %d MiB state allocated %d MiB", size>>20, allocated>>20)
	if allocated > 32<<20 {
		t.Fatalf("saving a %d MiB state allocated %d MiB", size>>20, allocated>>20)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
