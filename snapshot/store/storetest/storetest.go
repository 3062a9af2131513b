// Package storetest writes real snapshots into a store, for the tests of
// the packages that read stores (retention, the jobs, the CLI).
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	return CommitData(t, st, job, archive.Bytes(), EntryFor(rep, created))
}

// CommitData writes data (an archive of job) into st under the free name
// for e.CreatedAt and e.Index, and commits it with e.
func CommitData(t testing.TB, st store.Store, job string, data []byte, e store.Entry) store.Entry {
	t.Helper()
	name, err := store.FreeName(context.Background(), []store.Store{st}, job, e.CreatedAt, e.Index)
	if err != nil {
		t.Fatal(err)
	}
	return Put(t, st, job, name, data, e)
}

// Put writes data (an archive of job) into st as name and commits it with
// e, as a job does; it returns the committed entry.
func Put(t testing.TB, st store.Store, job, name string, data []byte, e store.Entry) store.Entry {
	t.Helper()
	p, err := st.Create(context.Background(), job, name)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Abort()
	if _, err := p.Write(data); err != nil {
		t.Fatal(err)
	}
	committed, err := p.Commit(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	return committed
}

// Local is a local store in a new temporary directory, closed at the
// test's end.
func Local(t testing.TB) *store.Local {
	t.Helper()
	st, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// CommitFake commits data, which need not be an archive (pruning never
// reads one), as the verified snapshot of job at term/index dated created,
// under the name a job would give it; its record has data's SHA-256.
func CommitFake(t testing.TB, st store.Store, job string, term, index uint64, created time.Time, data []byte) store.Entry {
	t.Helper()
	sum := sha256.Sum256(data)
	return Put(t, st, job, store.NewName(job, created, index, 1), data,
		store.Entry{CreatedAt: created, Index: index, Term: term, Verified: true, SHA256: hex.EncodeToString(sum[:])})
}
