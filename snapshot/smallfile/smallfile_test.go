package smallfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.Repeat("a", size)), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	spec := Spec{What: "key file", Kind: "a key file", Max: 2 << 10}

	data, err := spec.Read(write("full", 2<<10))
	if err != nil || len(data) != 2<<10 {
		t.Errorf("a file of Max bytes: %d bytes, %v", len(data), err)
	}
	big := write("big", 2<<10+1)
	if _, err := spec.Read(big); err == nil || err.Error() != "reading key file: "+big+" is larger than 2 KiB: not a key file" {
		t.Errorf("a file over Max: %v", err)
	}
	missing := filepath.Join(dir, "missing")
	if _, err := spec.Read(missing); !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "reading key file: ") {
		t.Errorf("a missing file: %v", err)
	}
	if _, err := spec.Read(dir); err == nil || err.Error() != "reading key file: "+dir+" is not a regular file" {
		t.Errorf("a directory: %v", err)
	}
	// A FIFO with no writer: refused at once, not waited on.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := spec.Read(fifo); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("a FIFO: %v", err)
	}

	// Check sees the file before it is read; its error comes back as it is.
	refused := errors.New("mode 0644")
	var saw os.FileInfo
	spec.Check = func(info os.FileInfo) error { saw = info; return refused }
	if _, err := spec.Read(big); err != refused {
		t.Errorf("Check's error: got %v", err)
	}
	if saw == nil || saw.Size() != 2<<10+1 {
		t.Errorf("Check saw %v", saw)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int]string{4 << 20: "4 MiB", 1 << 20: "1 MiB", 64 << 10: "64 KiB", 1536: "1536 bytes", 100: "100 bytes"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
}
