package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// createOver writes "old" into a new file (mode 0644), then starts
// writing it again with Create.
func createOver(t *testing.T) (f *File, final string) {
	t.Helper()
	final = filepath.Join(t.TempDir(), "snap")
	if err := os.WriteFile(final, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Create(final)
	if err != nil {
		t.Fatal(err)
	}
	return f, final
}

func TestCommitReplacesAndLeavesNoTemp(t *testing.T) {
	f, final := createOver(t)
	st, err := os.Stat(f.TempName())
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("temp file mode %v, want 0600", st.Mode().Perm())
	}
	// Until Commit the old content is what readers see.
	if got, _ := os.ReadFile(final); string(got) != "old" {
		t.Fatalf("final changed before commit: %q", got)
	}
	if _, err := f.WriteString("new"); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(final); string(got) != "new" {
		t.Fatalf("final = %q, want new", got)
	}
	if _, err := os.Stat(f.TempName()); !os.IsNotExist(err) {
		t.Fatalf("temp file still there: %v", err)
	}
	if err := f.Abort(); err != nil {
		t.Fatalf("Abort after Commit: %v", err)
	}
}

func TestAbortKeepsOldFile(t *testing.T) {
	f, final := createOver(t)
	f.WriteString("half")
	if err := f.Abort(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(final); string(got) != "old" {
		t.Fatalf("final = %q, want old", got)
	}
	entries, _ := os.ReadDir(filepath.Dir(final))
	if len(entries) != 1 {
		t.Fatalf("directory has %d entries, want only the final file", len(entries))
	}
}

// TestCreateTakesOverALeftover: the .part of a writer that died (nobody
// holds its lock) does not block the next write; it is truncated and used.
func TestCreateTakesOverALeftover(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "snap")
	if err := os.WriteFile(final+TempSuffix, []byte("half of an old save"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Create(final)
	if err != nil {
		t.Fatalf("Create over a leftover temp file: %v", err)
	}
	f.WriteString("new")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(final); string(got) != "new" {
		t.Fatalf("final = %q, want new (the leftover's bytes must not survive)", got)
	}
	if info, _ := os.Stat(final); info.Mode().Perm() != 0o600 {
		t.Fatalf("final mode %v, want 0600", info.Mode().Perm())
	}
}

// TestCreateRefusesALiveWriter: a .part another writer holds is refused.
func TestCreateRefusesALiveWriter(t *testing.T) {
	final := filepath.Join(t.TempDir(), "snap")
	first, err := Create(final)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Abort()
	if _, err := Create(final); err == nil || !strings.Contains(err.Error(), "is being written by another process") {
		t.Fatalf("second Create while the first writes: %v", err)
	}
	first.Abort()
	second, err := Create(final)
	if err != nil {
		t.Fatalf("Create after the first writer ended: %v", err)
	}
	second.Abort()
}

func TestRemoveLeftovers(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.part", "b.part", "keep.tar.gz", "keep.json"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := RemoveLeftovers(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 {
		t.Fatalf("removed %v, want the two .part files", removed)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "keep.json,keep.tar.gz" {
		t.Fatalf("left %v", names)
	}
}

func TestWriteFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "x.json")
	if err := WriteFile(name, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
}
