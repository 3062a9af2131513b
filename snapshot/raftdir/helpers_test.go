package raftdir

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	raftwal "github.com/hashicorp/raft-wal"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/snapshot"
)

var (
	unchanged = testkit.Unchanged
	flipByte  = testkit.FlipByte
)

// The fixtures are written by the libraries the servers use: raft's
// FileSnapshotStore, raft-boltdb and raft-wal.

var testConfiguration = raft.Configuration{Servers: []raft.Server{
	{Suffrage: raft.Voter, ID: "server-1", Address: "127.0.0.1:8300"},
}}

// addSnapshot writes a snapshot of state at term and index into raftDir
// with hashicorp/raft's FileSnapshotStore and returns its name.
func addSnapshot(t testing.TB, raftDir string, term, index uint64, state []byte) string {
	t.Helper()
	store, err := raft.NewFileSnapshotStoreWithLogger(raftDir, 100, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	// The transport encodes the legacy Peers field, as on a server.
	_, trans := raft.NewInmemTransport("127.0.0.1:8300")
	sink, err := store.Create(raft.SnapshotVersionMax, index, term, testConfiguration, 1, trans)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write(state); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	return sink.ID()
}

// stateBytes is a deterministic state.bin larger than one read chunk.
func stateBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func logEntries(first, last uint64) []*raft.Log {
	var logs []*raft.Log
	for i := first; i <= last; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte(fmt.Sprintf("entry %d", i))})
	}
	return logs
}

// writeBoltLog stores entries first..last in raftDir/raft.db.
func writeBoltLog(t testing.TB, raftDir string, first, last uint64) {
	t.Helper()
	store := openBoltLog(t, raftDir)
	if err := store.StoreLogs(logEntries(first, last)); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
}

func openBoltLog(t testing.TB, raftDir string) *raftboltdb.BoltStore {
	t.Helper()
	if err := os.MkdirAll(raftDir, 0o755); err != nil {
		t.Fatal(err)
	}
	store, err := raftboltdb.NewBoltStore(filepath.Join(raftDir, BoltFile))
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// openWALLog opens raftDir/wal with raft-wal, as Consul does.
func openWALLog(t testing.TB, raftDir string, segmentSize int) *raftwal.WAL {
	t.Helper()
	dir := filepath.Join(raftDir, WALDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if segmentSize <= 0 {
		segmentSize = raftwal.DefaultSegmentSize
	}
	wal, err := raftwal.Open(dir, raftwal.WithSegmentSize(segmentSize))
	if err != nil {
		t.Fatal(err)
	}
	return wal
}

// saveOK saves the directory and verifies the archive as every raftsnap
// archive is verified, returning the result and the archive's report.
func saveOK(t testing.TB, path string) (*Result, *snapshot.Report, []byte) {
	t.Helper()
	var archive bytes.Buffer
	res, err := Save(context.Background(), path, &archive, Options{})
	if err != nil {
		t.Fatalf("Save(%s): %v", path, err)
	}
	var state bytes.Buffer
	rep, err := snapshot.Verify(context.Background(), bytes.NewReader(archive.Bytes()), snapshot.VerifyOptions{State: &state})
	if err != nil {
		t.Fatalf("the archive does not verify: %v", err)
	}
	if rep.ArchiveSHA256 != res.Archive.ArchiveSHA256 {
		t.Fatalf("Save reported archive sha256 %s, the bytes hash to %s", res.Archive.ArchiveSHA256, rep.ArchiveSHA256)
	}
	return res, rep, state.Bytes()
}

// snapshotFile is a file of the named snapshot directory.
func snapshotFile(raftDir, name, file string) string {
	return filepath.Join(raftDir, SnapshotsDir, name, file)
}

// rewriteMeta changes meta.json of a snapshot through its JSON fields.
func rewriteMeta(t testing.TB, raftDir, name string, edit func(m map[string]any)) {
	t.Helper()
	path := snapshotFile(raftDir, name, snapshot.MetaName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // uint64 indexes survive the round trip
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}
