// Package storetest writes real snapshots into a store, for the tests of
// the packages that read stores (retention, the jobs, the CLI).
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// Commit writes a real archive of job into st, holding the raft state at
// term and index, and commits it verified, dated created (any date: a test
// may play a wrong clock).
func Commit(t testing.TB, st store.Store, job string, term, index uint64, created time.Time) store.Entry {
	t.Helper()
	state := bytes.Repeat([]byte(fmt.Sprintf("state of %s at %d/%d ", job, term, index)), 500)
	return CommitState(t, st, job, term, index, created, state)
}

// CommitState is Commit with the given state.bin (its first bytes say
// whose state it is: see snapshot.Flavor).
func CommitState(t testing.TB, st store.Store, job string, term, index uint64, created time.Time, state []byte) store.Entry {
	t.Helper()
	meta := &raft.SnapshotMeta{Version: 1, ID: fmt.Sprintf("%d-%d-%d", term, index, created.UnixMilli()), Index: index, Term: term, Size: int64(len(state))}
	var archive bytes.Buffer
	rep, err := snapshot.Write(&archive, meta, bytes.NewReader(state))
	if err != nil {
		t.Fatal(err)
	}
	name, err := store.FreeName(context.Background(), []store.Store{st}, job, created, index)
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.Create(context.Background(), job, name)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Abort()
	if _, err := p.Write(archive.Bytes()); err != nil {
		t.Fatal(err)
	}
	e, err := p.Commit(context.Background(), store.Entry{Source: "test", CreatedAt: created, Size: rep.ArchiveBytes, SHA256: rep.ArchiveSHA256,
		Index: index, Term: term, RaftID: meta.ID, Verified: true, VerifiedAt: created})
	if err != nil {
		t.Fatal(err)
	}
	return e
}
