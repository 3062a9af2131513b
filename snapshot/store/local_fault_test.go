package store

// Faults at the store, on real file systems: a full tmpfs, a read-only
// remount, and sidecars damaged in every way List checks. What must hold:
// the error names the cause, no temp file is left, nothing already
// committed changes, and a damaged entry is reported, never trusted and
// never deleted. See docs/reliability.md.

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/snapshot"
)

// mountTmpfs mounts a tmpfs of the given size (e.g. "2m") on a fresh
// directory and unmounts it at cleanup (testkit.MountTmpfs: it needs root).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	testkit.MountTmpfs(t, dir, size)
	return dir
}

// mustListExactly lists l and checks that exactly want are listed, each
// verifying against its sidecar, and that no temp file is left.
func mustListExactly(t *testing.T, l *Local, want ...Entry) {
	t.Helper()
	entries, foreign, err := l.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Fatalf("store lists %d snapshots, want %d: %+v (foreign %+v)", len(entries), len(want), entries, foreign)
	}
	listed := map[string]bool{}
	for _, e := range entries {
		listed[e.Name] = true
		rep, err := snapshot.VerifyFile(t.Context(), e.Path, snapshot.VerifyOptions{})
		if err != nil || rep.ArchiveSHA256 != e.SHA256 || rep.ArchiveBytes != e.Size {
			t.Fatalf("listed %s does not match its sidecar: %v", e.Name, err)
		}
	}
	for _, w := range want {
		if !listed[w.Name] {
			t.Fatalf("%s is no longer listed: %+v", w.Name, entries)
		}
	}
	if parts, _ := filepath.Glob(filepath.Join(l.Dir(), "*.part")); len(parts) != 0 {
		t.Fatalf("temp files left: %v", parts)
	}
}

// TestFaultDiskFullDuringWrite: the archive does not fit. The write fails
// with ENOSPC, Abort removes the temp file, the snapshot already there is
// untouched, and the next snapshot fits once the space is back.
func TestFaultDiskFullDuringWrite(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	l := mustOpen(t, dir)
	good := commit(t, l, "job", 1, time.Now())

	p, err := l.Create(context.Background(), "job", "job-20260101T000000Z-1.snap")
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 3<<20)
	rand.Read(big)
	_, werr := p.Write(big)
	if !errors.Is(werr, syscall.ENOSPC) || !strings.Contains(werr.Error(), "no space left on device") {
		t.Fatalf("writing 3 MiB into a 2 MiB store: %v, want ENOSPC", werr)
	}
	if err := p.Abort(); err != nil {
		t.Fatalf("Abort after ENOSPC: %v", err)
	}
	mustListExactly(t, l, good)
	next := commit(t, l, "job", 2, time.Now())
	mustListExactly(t, l, good, next)
}

// TestFaultDiskFullAtSidecar: the archive fits but its sidecar does not.
// Commit fails naming the sidecar and ENOSPC, and removes the renamed
// archive: nothing half-committed is left for the next start to adopt.
func TestFaultDiskFullAtSidecar(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	l := mustOpen(t, dir)
	good := commit(t, l, "job", 1, time.Now())

	data, rep := archive(t, 2, "second")
	p, err := l.Create(context.Background(), "job", "job-20260101T000000Z-1.snap")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(data); err != nil {
		t.Fatal(err)
	}
	filler := testkit.FillFS(t, dir)
	_, cerr := p.Commit(context.Background(), Entry{Source: "test", Size: rep.ArchiveBytes, SHA256: rep.ArchiveSHA256, Index: 2, Term: 2, Verified: true})
	if !errors.Is(cerr, syscall.ENOSPC) || !strings.Contains(cerr.Error(), "sidecar") {
		t.Fatalf("Commit on a full store: %v, want ENOSPC writing the sidecar", cerr)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	mustListExactly(t, l, good)
	_, foreign, _ := l.List(context.Background())
	if len(foreign) != 0 {
		t.Fatalf("a failed commit left files behind: %+v", foreign)
	}
	mustListExactly(t, l, good, commit(t, l, "job", 3, time.Now()))
}

// TestFaultReadOnlyStore: a store remounted read-only refuses new
// snapshots and deletes with EROFS, still lists and opens (no leftovers to
// clean), and works again once writable.
func TestFaultReadOnlyStore(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	l := mustOpen(t, dir)
	good := commit(t, l, "job", 1, time.Now())
	testkit.Remount(t, dir, "ro")
	t.Cleanup(func() { exec.Command("mount", "-o", "remount,rw", dir).Run() })

	if _, err := l.Create(context.Background(), "job", "job-20260101T000000Z-1.snap"); !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), "read-only file system") {
		t.Fatalf("Create on a read-only store: %v, want EROFS", err)
	}
	// The store is named once, not "store X: store X: open X/...".
	if _, err := l.Create(context.Background(), "job", "job-20260101T000000Z-1.snap"); strings.Count(err.Error(), dir) != 1 || strings.Count(err.Error(), "store") != 1 {
		t.Fatalf("Create on a read-only store: %q names the store more than once", err)
	}
	if err := l.Delete(context.Background(), good.Name); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("Delete on a read-only store: %v, want EROFS", err)
	}
	l2, err := Open(dir, nil)
	if err != nil {
		t.Fatalf("Open of a clean read-only store: %v", err)
	}
	t.Cleanup(func() { l2.Close() })
	mustListExactly(t, l2, good)

	testkit.Remount(t, dir, "rw")
	mustListExactly(t, l2, good, commit(t, l2, "job", 2, time.Now()))
}

// TestFaultDamagedSidecars: every way a sidecar can disagree with its
// archive makes the pair foreign with a problem naming it; Get and
// Send refuse it, Delete refuses it, and a new Open changes
// neither file.
func TestFaultDamagedSidecars(t *testing.T) {
	cases := []struct {
		name, problem string
		damage        func(t *testing.T, e Entry)
	}{
		{"truncated", "sidecar is not valid JSON", func(t *testing.T, e Entry) {
			data, _ := os.ReadFile(e.Path + ".json")
			os.WriteFile(e.Path+".json", data[:len(data)/2], 0o600)
		}},
		{"empty", "sidecar is not valid JSON", func(t *testing.T, e Entry) { os.WriteFile(e.Path+".json", nil, 0o600) }},
		{"other schema", "sidecar schema 2 is not supported", func(t *testing.T, e Entry) { editSidecar(t, e, `"schema": 1`, `"schema": 2`) }},
		{"names another archive", "sidecar names", func(t *testing.T, e Entry) { editSidecar(t, e, `"name": "`, `"name": "x`) }},
		{"no job", "sidecar names no job", func(t *testing.T, e Entry) { editSidecar(t, e, `"job": "job"`, `"job": ""`) }},
		{"bad sha256", "sidecar has no valid sha256", func(t *testing.T, e Entry) { editSidecar(t, e, `"sha256": "`, `"sha256": "zz`) }},
		{"wrong size", "archive is ", func(t *testing.T, e Entry) {
			editSidecar(t, e, `"size": `, `"size": 1`)
		}},
		{"huge", "sidecar is larger than", func(t *testing.T, e Entry) {
			os.WriteFile(e.Path+".json", []byte(`{"schema": 1, "x": "`+strings.Repeat("a", maxSidecarSize)+`"}`), 0o600)
		}},
		{"archive truncated", "archive is ", func(t *testing.T, e Entry) { os.Truncate(e.Path, e.Size/2) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			l := mustOpen(t, dir)
			older := commit(t, l, "job", 1, time.Now().Add(-time.Hour))
			e := commit(t, l, "job", 2, time.Now())
			c.damage(t, e)
			archiveBefore, _ := os.ReadFile(e.Path)
			sidecarBefore, _ := os.ReadFile(e.Path + ".json")

			entries, foreign, err := l.List(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Name != older.Name {
				t.Fatalf("listed %+v, want only the undamaged %s", entries, older.Name)
			}
			if len(foreign) != 1 || foreign[0].Name != e.Name || !strings.HasPrefix(foreign[0].Problem, c.problem) {
				t.Fatalf("foreign %+v, want %s reported with %q", foreign, e.Name, c.problem)
			}
			if _, err := l.Get(context.Background(), e.Name); err == nil || !strings.Contains(err.Error(), "exists but cannot be trusted") {
				t.Fatalf("Get of a damaged entry: %v", err)
			}
			if sent, err := sendAll(l, e.Name); err == nil || len(sent) > 0 {
				t.Fatalf("Send sent %d bytes of a snapshot whose sidecar is damaged (err %v)", len(sent), err)
			}
			if err := l.Delete(context.Background(), e.Name); err == nil || !strings.Contains(err.Error(), "not deleting") {
				t.Fatalf("Delete of a damaged entry: %v", err)
			}
			if _, err := Open(dir, nil); err != nil {
				t.Fatal(err)
			}
			archiveAfter, _ := os.ReadFile(e.Path)
			sidecarAfter, _ := os.ReadFile(e.Path + ".json")
			if string(archiveAfter) != string(archiveBefore) || string(sidecarAfter) != string(sidecarBefore) {
				t.Fatal("a damaged entry was changed by List, Get, Delete or Open")
			}
		})
	}
}

// TestFaultSidecarLiesAboutChecksum: a sidecar that parses and agrees on
// size but carries another file's SHA-256 is listed (List reads no
// archive), but the first full read catches it: Verify fails, the sidecar
// records verified=false, and Send sends nothing whole.
func TestFaultSidecarLiesAboutChecksum(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir)
	e := commit(t, l, "job", 1, time.Now())
	editSidecar(t, e, `"sha256": "`+e.SHA256, `"sha256": "`+strings.Repeat("0", 64))

	_, _, err := Verify(context.Background(), l, e.Name, snapshot.VerifyOptions{}, nil)
	var verr *VerificationError
	if !errors.As(err, &verr) || !strings.Contains(err.Error(), "differs from the one stored") {
		t.Fatalf("Verify of a snapshot whose sidecar lies: %v", err)
	}
	got, err := l.Get(context.Background(), e.Name)
	if err != nil || got.Verified {
		t.Fatalf("after a failed verification the entry says verified=%v (err %v)", got.Verified, err)
	}
	if sent, err := sendAll(l, e.Name); !errors.As(err, &verr) || int64(len(sent)) >= e.Size {
		t.Fatalf("Send sent %d of %d bytes of a snapshot whose checksum does not match its sidecar (err %v)", len(sent), e.Size, err)
	}
}

// sendAll sends a stored snapshot with Send to a receiver that reads all
// it is given, and returns what it got.
func sendAll(st Store, name string) ([]byte, error) {
	var got []byte
	_, _, err := Send(context.Background(), st, name, snapshot.SendOptions{}, nil, func(archive io.Reader, _ int64) error {
		var err error
		got, err = io.ReadAll(archive)
		return err
	})
	return got, err
}

func editSidecar(t *testing.T, e Entry, old, new string) {
	t.Helper()
	data, err := os.ReadFile(e.Path + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("sidecar of %s has no %q:\n%s", e.Name, old, data)
	}
	if err := os.WriteFile(e.Path+".json", []byte(strings.Replace(string(data), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCreateRefusesOverlongJobName: a job name long enough to push the
// snapshot's file name past the 255-byte limit is refused up front, not
// discovered at commit time.
func TestCreateRefusesOverlongJobName(t *testing.T) {
	st := mustOpen(t, t.TempDir())
	if _, err := st.Create(context.Background(), strings.Repeat("j", 232), strings.Repeat("j", 232)+"-20260101T000000Z-1.snap"); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("Create with a 232-character job name: %v", err)
	}
}

// TestRequireSealedDoesNotMarkGoodSnapshotUnverified: a Vault target asks
// for sealed sums; a Consul snapshot lacks them. It is refused for that
// target, but it is still a good snapshot: its sidecar keeps "verified", so
// pruning's guard and other restores still trust it.
func TestRequireSealedDoesNotMarkGoodSnapshotUnverified(t *testing.T) {
	st := mustOpen(t, t.TempDir())
	e := commit(t, st, "consul", 7, time.Now())
	if _, _, err := Verify(context.Background(), st, e.Name, snapshot.VerifyOptions{RequireSealed: true}, nil); err == nil || !strings.Contains(err.Error(), "not a Vault snapshot") {
		t.Fatalf("Verify with RequireSealed of a Consul snapshot: %v", err)
	}
	got, err := st.Get(context.Background(), e.Name)
	if err != nil || !got.Verified {
		t.Fatalf("the sidecar lost its verified verdict: %+v, %v", got, err)
	}
}
