package testkit

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// ShortTempDir returns a fresh directory with a short path, removed when
// the test ends: a unix socket's address is limited to 107 bytes, and
// t.TempDir paths can be longer.
func ShortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// WriteFile writes content to path with mode, failing the test on error.
func WriteFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// PartFiles lists the temp files (writes in progress) in dir.
func PartFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.part"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// MountTmpfs mounts a tmpfs of size (e.g. "2m") on path, creating it, and
// unmounts it when the test ends: a real file system that fills up or
// turns read-only on demand. It needs root (RequireRoot).
func MountTmpfs(t testing.TB, path, size string) {
	t.Helper()
	RequireRoot(t, "mounting a tmpfs")
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", path).CombinedOutput(); err != nil {
		Missing(t, "mounting a tmpfs: "+err.Error()+": "+strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", path).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", path, err, out)
		}
	})
}

// Remount remounts a MountTmpfs file system with mode "ro" or "rw".
func Remount(t testing.TB, path, mode string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+mode, path).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v: %s", mode, path, err, out)
	}
}

// FillFS writes dir/filler until the file system is full (ENOSPC) and
// returns its path.
func FillFS(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return path
		}
	}
}

// Perm is the permission bits of path (not following a last symlink).
func Perm(t testing.TB, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TreeDigest describes every file and directory under dir: its name,
// mode, size, modification time and the SHA-256 of its content. Two equal
// digests taken around an operation prove that it changed nothing there
// (a read-only reader of a server's data directory).
func TreeDigest(t testing.TB, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %d %d", path, info.Mode(), info.Size(), info.ModTime().UnixNano())
		if info.Mode().IsRegular() {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x", h.Sum(nil))
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// Unchanged fails the test at its end if anything under dir changed
// (see TreeDigest).
func Unchanged(t testing.TB, dir string) {
	t.Helper()
	before := TreeDigest(t, dir)
	t.Cleanup(func() {
		if after := TreeDigest(t, dir); after != before {
			t.Errorf("%s changed:\nbefore:\n%s\nafter:\n%s", dir, before, after)
		}
	})
}

// FlipByte damages one byte of the file at offset in place, keeping its
// size and name: damage only a checksum can find.
func FlipByte(t testing.TB, path string, offset int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, offset); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, offset); err != nil {
		t.Fatal(err)
	}
}
