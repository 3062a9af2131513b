package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// Archive is a real archive of job at term/index with stateSize bytes of
// random (incompressible) state, and its report.
func Archive(t testing.TB, job string, term, index uint64, stateSize int) ([]byte, *snapshot.Report) {
	t.Helper()
	state := make([]byte, stateSize)
	rand.Read(state)
	meta := &raft.SnapshotMeta{Version: 1, ID: fmt.Sprintf("%d-%d-%s", term, index, job), Index: index, Term: term, Size: int64(len(state))}
	var buf bytes.Buffer
	rep, err := snapshot.Write(&buf, meta, bytes.NewReader(state))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), rep
}

// EntryFor is the entry a job commits for an archive it verified.
func EntryFor(rep *snapshot.Report, created time.Time) store.Entry {
	return store.Entry{Source: "test", CreatedAt: created, Size: rep.ArchiveBytes, SHA256: rep.ArchiveSHA256,
		Index: rep.Meta.Index, Term: rep.Meta.Term, RaftID: rep.Meta.ID, Verified: true, VerifiedAt: created}
}

// Conformance checks that a store behaves as store.Store promises, through
// its interface only. open returns a new, empty store each call (the
// same kind), closed by the caller. large is the size of the state in the
// large-archive case (several parts for an object store).
func Conformance(t *testing.T, open func(t *testing.T) store.Store, large int) {
	ctx := context.Background()
	at := time.Date(2026, 11, 22, 5, 10, 0, 0, time.UTC)

	t.Run("commit, list, get, open, update, delete", func(t *testing.T) {
		st := open(t)
		defer st.Close()
		if entries, foreign, err := st.List(ctx); err != nil || len(entries)+len(foreign) != 0 {
			t.Fatalf("a new store lists %v %v %v", entries, foreign, err)
		}
		data, rep := Archive(t, "consul-main", 2, 42, 10_000)
		name := store.NewName("consul-main", at, 42, 1)
		p, err := st.Create(ctx, "consul-main", name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write(data); err != nil {
			t.Fatal(err)
		}
		if p.Written() != int64(len(data)) {
			t.Fatalf("Written %d, wrote %d", p.Written(), len(data))
		}
		if entries, _, _ := st.List(ctx); len(entries) != 0 {
			t.Fatalf("listed before Commit: %v", entries)
		}
		e, err := p.Commit(ctx, EntryFor(rep, at))
		if err != nil {
			t.Fatal(err)
		}
		p.Abort() // after Commit: nothing
		if e.Name != name || e.Job != "consul-main" || e.Size != int64(len(data)) || e.Schema != store.SidecarSchema || e.Host == "" {
			t.Fatalf("committed %+v", e)
		}
		entries, foreign, err := st.List(ctx)
		if err != nil || len(entries) != 1 || len(foreign) != 0 || entries[0].Name != name || entries[0].SHA256 != rep.ArchiveSHA256 {
			t.Fatalf("List = %+v %+v %v", entries, foreign, err)
		}
		got, err := st.Get(ctx, name)
		if err != nil || got.Index != 42 || got.Term != 2 || !got.Verified || !got.CreatedAt.Equal(at) {
			t.Fatalf("Get = %+v %v", got, err)
		}
		r, _, err := st.Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		read, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(read, data) {
			t.Fatalf("Open read %d bytes (%v), want the %d written", len(read), err, len(data))
		}
		// A verdict is recorded; fields of a newer version survive it.
		got.Verified, got.VerifyError = false, "checksum mismatch"
		got.Extra = map[string]json.RawMessage{"from_a_newer_version": json.RawMessage(`{"result":"ok"}`)}
		if err := st.Update(ctx, got); err != nil {
			t.Fatal(err)
		}
		got, err = st.Get(ctx, name)
		if err != nil || got.Verified || got.VerifyError != "checksum mismatch" || string(got.Extra["from_a_newer_version"]) != `{"result":"ok"}` {
			t.Fatalf("after Update: %+v %v", got, err)
		}
		if entries, _, _ := st.List(ctx); len(entries) != 1 || entries[0].Verified {
			t.Fatalf("List after Update: %+v", entries)
		}
		if err := st.Delete(ctx, name); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Get(ctx, name); !errors.Is(err, store.ErrNotFound) || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Get after Delete: %v", err)
		}
		if err := st.Delete(ctx, name); err == nil {
			t.Fatal("a second Delete succeeded")
		}
		if entries, foreign, err := st.List(ctx); err != nil || len(entries)+len(foreign) != 0 {
			t.Fatalf("after Delete: %v %v %v", entries, foreign, err)
		}
	})

	t.Run("a taken name is refused, an abort leaves nothing", func(t *testing.T) {
		st := open(t)
		defer st.Close()
		first := commitArchive(t, st, "job", 3, 7, at)
		data, rep := Archive(t, "job", 3, 7, 1000)
		p, err := st.Create(ctx, "job", first.Name)
		if err != nil {
			t.Fatal(err)
		}
		p.Write(data)
		if _, err := p.Commit(ctx, EntryFor(rep, at)); !errors.Is(err, store.ErrExists) {
			t.Fatalf("Commit under a taken name: %v, want ErrExists", err)
		}
		got, err := st.Get(ctx, first.Name)
		if err != nil || got.SHA256 != first.SHA256 {
			t.Fatalf("the first snapshot changed: %+v %v", got, err)
		}
		p, err = st.Create(ctx, "job", store.NewName("job", at, 8, 1))
		if err != nil {
			t.Fatal(err)
		}
		p.Write(data)
		if err := p.Abort(); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Commit(ctx, store.Entry{}); err == nil {
			t.Fatal("Commit after Abort succeeded")
		}
		entries, foreign, err := st.List(ctx)
		if err != nil || len(entries) != 1 || len(foreign) != 0 {
			t.Fatalf("after an abort: %+v %+v %v", entries, foreign, err)
		}
		if _, err := st.Create(ctx, "job", "other-20261122T051000Z-1.snap"); err == nil {
			t.Fatal("Create accepted another job's name")
		}
		if _, err := st.Create(ctx, "job", "../job-20261122T051000Z-1.snap"); err == nil {
			t.Fatal("Create accepted a path")
		}
	})

	t.Run("the commit check runs right before the commit point", func(t *testing.T) {
		st := open(t)
		defer st.Close()
		data, rep := Archive(t, "job", 4, 9, 1000)
		name := store.NewName("job", at, 9, 1)
		refused := errors.New("fenced off")
		listed := -1 // snapshots listed when the check ran
		check := func(err error) func(context.Context) error {
			return func(ctx context.Context) error {
				entries, _, lerr := st.List(ctx)
				if lerr != nil {
					return lerr
				}
				listed = len(entries)
				return err
			}
		}
		commit := func(check func(context.Context) error) error {
			p, err := st.Create(ctx, "job", name)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Abort()
			if _, err := p.Write(data); err != nil {
				t.Fatal(err)
			}
			_, err = p.Commit(store.WithCommitCheck(ctx, check), EntryFor(rep, at))
			return err
		}
		if err := commit(check(refused)); !errors.Is(err, refused) {
			t.Fatalf("Commit with a failing check: %v, want the check's error", err)
		}
		if listed != 0 {
			t.Fatalf("the check ran with %d snapshots listed (-1: it never ran), want 0: before the commit point", listed)
		}
		if entries, foreign, err := st.List(ctx); err != nil || len(entries)+len(foreign) != 0 {
			t.Fatalf("after a commit its check refused: %+v %+v %v", entries, foreign, err)
		}
		// The refused commit left nothing in the name's way.
		listed = -1
		if err := commit(check(nil)); err != nil || listed != 0 {
			t.Fatalf("Commit with a passing check: %v (the check saw %d listed)", err, listed)
		}
		if entries, _, err := st.List(ctx); err != nil || len(entries) != 1 || entries[0].Name != name {
			t.Fatalf("after the commit: %+v %v", entries, err)
		}
	})

	t.Run("newest first, by raft position", func(t *testing.T) {
		st := open(t)
		defer st.Close()
		a := commitArchive(t, st, "job", 2, 100, at)
		b := commitArchive(t, st, "job", 3, 50, at.Add(-time.Hour)) // newer term, older clock
		c := commitArchive(t, st, "job", 2, 10, at.Add(time.Hour))
		entries, _, err := st.List(ctx)
		if err != nil || len(entries) != 3 || entries[0].Name != b.Name || entries[1].Name != a.Name || entries[2].Name != c.Name {
			t.Fatalf("order %v %v", names(entries), err)
		}
	})

	t.Run("a large archive streams", func(t *testing.T) {
		st := open(t)
		defer st.Close()
		data, rep := Archive(t, "big", 2, 9, large)
		p, err := st.Create(ctx, "big", store.NewName("big", at, 9, 1))
		if err != nil {
			t.Fatal(err)
		}
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 32<<10)
			if _, err := p.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		e, err := p.Commit(ctx, EntryFor(rep, at))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.Verify(ctx, st, e.Name, snapshot.VerifyOptions{}, nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("upload to two stores, copy, union", func(t *testing.T) {
		one, two := open(t), open(t)
		defer one.Close()
		defer two.Close()
		data, rep := Archive(t, "job", 2, 77, 100_000)
		u := store.NewUpload(ctx, "job", at, []store.Store{one, two}, store.UploadOptions{})
		if _, err := io.Copy(u, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		results, err := u.Commit(ctx, EntryFor(rep, at))
		if err != nil || len(results) != 2 || results[0].Err != nil || results[1].Err != nil {
			t.Fatalf("Upload.Commit = %+v, %v", results, err)
		}
		if results[0].Entry.Name != results[1].Entry.Name || results[0].Entry.Name != store.NewName("job", at, 77, 1) {
			t.Fatalf("copies named %q and %q", results[0].Entry.Name, results[1].Entry.Name)
		}
		// Same second, same index: both stores take the next name.
		u = store.NewUpload(ctx, "job", at, []store.Store{one, two}, store.UploadOptions{})
		io.Copy(u, bytes.NewReader(data))
		results, err = u.Commit(ctx, EntryFor(rep, at))
		if err != nil || results[0].Entry.Name != store.NewName("job", at, 77, 2) || results[1].Entry.Name != results[0].Entry.Name {
			t.Fatalf("second upload: %+v %v", results, err)
		}
		if err := two.Delete(ctx, results[1].Entry.Name); err != nil {
			t.Fatal(err)
		}
		copied, err := store.Copy(ctx, one, two, results[0].Entry.Name)
		if err != nil || copied.SHA256 != rep.ArchiveSHA256 || copied.Name != results[0].Entry.Name {
			t.Fatalf("Copy = %+v %v", copied, err)
		}
		union := store.NewUnion(one, two)
		entries, _, err := union.List(ctx)
		if err != nil || len(entries) != 2 {
			t.Fatalf("union lists %v %v", names(entries), err)
		}
		if err := union.Delete(ctx, entries[0].Name); !errors.Is(err, store.ErrReadOnly) {
			t.Fatalf("union Delete: %v", err)
		}
	})
}

// commitArchive commits a small real archive of job at term/index.
func commitArchive(t *testing.T, st store.Store, job string, term, index uint64, created time.Time) store.Entry {
	t.Helper()
	data, rep := Archive(t, job, term, index, 1000)
	return CommitData(t, st, job, data, EntryFor(rep, created))
}

func names(entries []store.Entry) []string {
	var n []string
	for _, e := range entries {
		n = append(n, e.Name)
	}
	return n
}
