package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/snapshot"
)

// TestHugeIDsAreBoundedAndListed: a raft server ID tens of thousands of
// characters long (legal in meta.json) once made the sidecar larger than a
// store reads back: the run said OK while the store listed nothing and
// retention never ran. The record is bounded, and the snapshot is listed.
func TestHugeIDsAreBoundedAndListed(t *testing.T) {
	l := mustOpen(t, t.TempDir())
	huge := strings.Repeat("é", 40_000)
	servers := make([]string, 500)
	for i := range servers {
		servers[i] = huge
	}
	headers := map[string]string{}
	for i := range 100 {
		headers[strings.Repeat("H", i+1)] = huge
	}
	e := commitArchive(t, l, Entry{RaftID: huge, Servers: servers, Headers: headers})
	if len(e.RaftID) > maxRecordField || len(e.Servers) != maxRecordServers || len(e.Headers) != maxRecordHeaders ||
		!strings.HasSuffix(e.RaftID, "…(80000 bytes)") {
		t.Fatalf("stored entry not bounded: raft id %d bytes, %d servers, %d headers", len(e.RaftID), len(e.Servers), len(e.Headers))
	}
	entries, foreign, err := l.List(context.Background())
	if err != nil || len(entries) != 1 || len(foreign) != 0 {
		t.Fatalf("listed %d entries, %d foreign (%+v), %v; want the snapshot listed", len(entries), len(foreign), foreign, err)
	}
	if entries[0].RaftID != e.RaftID {
		t.Fatal("the listed record differs from the committed one")
	}
}

// TestLogLagRecorded: the log lag of a raft-dir snapshot is kept in its
// record, bounded like every field that came from outside, and read back.
func TestLogLagRecorded(t *testing.T) {
	l := mustOpen(t, t.TempDir())
	lag := snapshot.NewLogLag(strings.Repeat("x", 10_000), 7, 1, 30)
	e := commitArchive(t, l, Entry{LogLag: &lag})
	if len(lag.LogStore) != 10_000 {
		t.Fatal("bounding the record changed the caller's log lag")
	}
	entries, _, err := l.List(context.Background())
	if err != nil || len(entries) != 1 || entries[0].LogLag == nil {
		t.Fatalf("listed %+v, %v", entries, err)
	}
	got := *entries[0].LogLag
	if got.Missing != 23 || got.LastIndex != 30 || got.SnapshotIndex != 7 || len(got.LogStore) > maxRecordField || *e.LogLag != got {
		t.Fatalf("log lag read back as %+v (committed %+v)", got, *e.LogLag)
	}
}

// commitArchive stores a verified archive at index 7 for job "job", its
// record holding e's other fields, as a snapshot job commits one.
func commitArchive(t *testing.T, l *Local, e Entry) Entry {
	t.Helper()
	data, rep := archive(t, 7, "state")
	p, err := l.Create(context.Background(), "job", NewName("job", time.Now(), 7, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(data); err != nil {
		t.Fatal(err)
	}
	e.CreatedAt, e.Size, e.SHA256, e.Index, e.Term, e.Verified = time.Now(), rep.ArchiveBytes, rep.ArchiveSHA256, 7, 1, true
	committed, err := p.Commit(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	return committed
}
