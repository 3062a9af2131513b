package store

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/snapshot"
)

// archive builds a real snapshot archive with snapshot.Write.
func archive(t *testing.T, index uint64, state string) ([]byte, *snapshot.Report) {
	t.Helper()
	var buf bytes.Buffer
	meta := &raft.SnapshotMeta{Version: 1, ID: "1-" + state, Index: index, Term: 2, Size: int64(len(state))}
	rep, err := snapshot.Write(&buf, meta, strings.NewReader(state))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), rep
}

// logBuffer collects a logger's text output for assertions.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

func commit(t *testing.T, l *Local, job string, index uint64, created time.Time) Entry {
	t.Helper()
	data, rep := archive(t, index, "state of "+job)
	name, err := FreeName(context.Background(), []Store{l}, job, created, index)
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Create(context.Background(), job, name)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(p.(*localPending).TempName()); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("temp file %s: %v, mode %v", p.(*localPending).TempName(), err, info.Mode())
	}
	if _, err := p.Write(data); err != nil {
		t.Fatal(err)
	}
	e, err := p.Commit(context.Background(), Entry{Source: "test", CreatedAt: created, Size: rep.ArchiveBytes, SHA256: rep.ArchiveSHA256,
		Index: rep.Meta.Index, Term: rep.Meta.Term, RaftID: rep.Meta.ID, Verified: true, VerifiedAt: created})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestOpenCreatesDirAndRefusesFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "store")
	if _, err := Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(dir)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("store dir: %v %v", err, info.Mode())
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o600)
	if _, err := Open(file, nil); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Fatalf("Open(file) = %v", err)
	}
}

func TestCommitListDelete(t *testing.T) {
	l := mustOpen(t, t.TempDir())
	at := time.Date(2026, 11, 22, 5, 10, 0, 0, time.UTC)
	first := commit(t, l, "consul-main", 42, at)
	if first.Name != "consul-main-20261122T051000Z-42.snap" {
		t.Fatalf("name %q", first.Name)
	}
	// Same job, same second, same index: still a distinct name.
	second := commit(t, l, "consul-main", 42, at)
	if second.Name != "consul-main-20261122T051000Z-42-2.snap" {
		t.Fatalf("second name %q", second.Name)
	}
	newer := commit(t, l, "other", 50, at.Add(time.Hour))

	entries, foreign, err := l.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(foreign) != 0 || len(entries) != 3 {
		t.Fatalf("entries %v foreign %v", entries, foreign)
	}
	if entries[0].Name != newer.Name || entries[0].Job != "other" || !entries[0].Verified {
		t.Fatalf("newest %+v", entries[0])
	}
	for _, e := range entries {
		info, err := os.Stat(e.Path)
		if err != nil || info.Size() != e.Size || info.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v", e.Name, err)
		}
	}
	if _, _, err := Verify(context.Background(), l, first.Name, snapshot.VerifyOptions{}, nil); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	if err := l.Delete(context.Background(), second.Name); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{second.Path, second.Path + ".json"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s still there: %v", p, err)
		}
	}
	if err := l.Delete(context.Background(), "../etc/passwd.snap"); err == nil {
		t.Fatal("Delete accepted a path")
	}
	if err := l.Delete(context.Background(), second.Name); err == nil {
		t.Fatal("second Delete succeeded")
	}
	entries, _, _ = l.List(context.Background())
	if len(entries) != 2 {
		t.Fatalf("after delete: %v", entries)
	}
}

func TestAbortRemovesTempFile(t *testing.T) {
	l := mustOpen(t, t.TempDir())
	p, err := l.Create(context.Background(), "job", "job-20260101T000000Z-1.snap")
	if err != nil {
		t.Fatal(err)
	}
	p.Write([]byte("partial"))
	if _, foreign, _ := l.List(context.Background()); len(foreign) != 0 {
		t.Fatalf("a live temp file is reported: %v", foreign)
	}
	// A second Open of the same directory (another job) must not remove a
	// temp file being written.
	if _, err := Open(l.Dir(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.(*localPending).TempName()); err != nil {
		t.Fatalf("live temp file removed by Open: %v", err)
	}
	if err := p.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.(*localPending).TempName()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file remains: %v", err)
	}
	if _, err := p.Commit(context.Background(), Entry{}); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
}

func TestCommitRejectsSizeMismatch(t *testing.T) {
	l := mustOpen(t, t.TempDir())
	p, _ := l.Create(context.Background(), "job", "job-20260101T000000Z-1.snap")
	p.Write([]byte("abc"))
	if _, err := p.Commit(context.Background(), Entry{Size: 4}); err == nil || !strings.Contains(err.Error(), "4 bytes but 3") {
		t.Fatalf("Commit = %v", err)
	}
	names, _ := os.ReadDir(l.Dir())
	if len(names) != 1 || names[0].Name() != LockName {
		t.Fatalf("files left: %v, want only the lock file", names)
	}
}

func TestOpenRecovery(t *testing.T) {
	dir := t.TempDir()
	l, _ := Open(dir, nil)
	kept := commit(t, l, "job", 7, time.Now())

	// Leftover temp files of a crashed write.
	os.WriteFile(filepath.Join(dir, "job-abc.snap.part"), []byte("half"), 0o600)
	os.WriteFile(filepath.Join(dir, "x.snap.json.part"), []byte("{"), 0o600)
	// A valid archive whose sidecar was never written (crash between renames).
	good, goodRep := archive(t, 99, "orphan")
	os.WriteFile(filepath.Join(dir, "my-job-20260101T000000Z-99.snap"), good, 0o600)
	// An invalid one in the same situation.
	os.WriteFile(filepath.Join(dir, "my-job-20260101T000001Z-100.snap"), good[:len(good)/2], 0o600)
	// Foreign files: never touched.
	os.WriteFile(filepath.Join(dir, "README"), []byte("mine"), 0o644)
	os.WriteFile(filepath.Join(dir, "hand-made.snap"), []byte("not ours"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o700)
	// A corrupt sidecar.
	bad := commit(t, l, "job", 8, time.Now())
	os.WriteFile(bad.Path+".json", []byte("{not json"), 0o600)

	logger, logs := logBuffer()
	l2, err := Open(dir, logger)
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"job-abc.snap.part", "x.snap.json.part"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("leftover %s not removed", gone)
		}
	}
	for _, want := range []string{"removed temp file left by an interrupted write", "job-abc.snap.part", "adopted archive", "moved aside"} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
	entries, foreign, err := l2.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Entry{}
	for _, e := range entries {
		byName[e.Name] = e
	}
	adopted, ok := byName["my-job-20260101T000000Z-99.snap"]
	if !ok || adopted.Job != "my-job" || adopted.Index != 99 || adopted.SHA256 != goodRep.ArchiveSHA256 || !adopted.Verified ||
		adopted.CreatedAt.Before(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || !adopted.CreatedAt.Before(time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)) {
		t.Fatalf("adopted entry %+v (all: %v)", adopted, entries)
	}
	if _, ok := byName[kept.Name]; !ok || len(entries) != 2 {
		t.Fatalf("entries %v", entries)
	}
	problems := map[string]string{}
	for _, f := range foreign {
		problems[f.Name] = f.Problem
	}
	want := map[string]string{
		"README":         "",
		"hand-made.snap": "",
		"sub":            "",
		"my-job-20260101T000001Z-100.snap.rejected": "",
		bad.Name: "sidecar is not valid JSON",
	}
	if len(problems) != len(want) {
		t.Fatalf("foreign %+v", foreign)
	}
	for name, problem := range want {
		got, ok := problems[name]
		if !ok || !strings.HasPrefix(got, problem) || (problem == "" && got != "") {
			t.Fatalf("foreign %s: %q (all %+v)", name, got, foreign)
		}
	}
	// Corrupt sidecars are never deleted.
	if err := l2.Delete(context.Background(), bad.Name); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("Delete(corrupt) = %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "README")); string(data) != "mine" {
		t.Fatal("foreign file changed")
	}
}

func TestVerifyDetectsFlippedByte(t *testing.T) {
	l := mustOpen(t, t.TempDir())
	e := commit(t, l, "job", 3, time.Now())
	testkit.FlipByte(t, e.Path, e.Size/2)
	_, _, err := Verify(context.Background(), l, e.Name, snapshot.VerifyOptions{}, nil)
	var verr *VerificationError
	if !errors.As(err, &verr) {
		t.Fatalf("Verify = %v", err)
	}
	got, err := l.Get(context.Background(), e.Name)
	if err != nil || got.Verified {
		t.Fatalf("sidecar not marked unverified: %+v %v", got, err)
	}
}

func TestParseName(t *testing.T) {
	job, created, index, ok := ParseName("a-b.c-20261122T051000Z-12345-3.snap")
	if !ok || job != "a-b.c" || index != 12345 || created.Hour() != 5 {
		t.Fatalf("%q %v %d %v", job, created, index, ok)
	}
	if _, _, _, ok := ParseName("consul.snap"); ok {
		t.Fatal("parsed a foreign name")
	}
}

// mustOpen opens the store in dir and closes it when the test ends (before
// the test's earlier cleanups, such as unmounting its file system).
func mustOpen(t testing.TB, dir string) *Local {
	t.Helper()
	l, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
