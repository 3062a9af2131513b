// Package atomicfile writes files so that a reader, or the next start after a
// crash, sees either the old file or the complete new one, never a part:
// write to "<name>.part" (0600, created exclusively) in the same directory,
// fsync it, rename it over the final name, then fsync the directory so the
// rename itself is durable.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// TempSuffix marks files that are still being written. Anything carrying it
// is, by definition, not a committed file.
const TempSuffix = ".part"

// File is a file being written; Commit or Abort must be called.
type File struct {
	*os.File
	final string
	done  bool
}

// Create starts writing final through final+".part" (mode 0600), which it
// holds an exclusive lock on until Commit or Abort. A ".part" another
// process holds locked is another writer at work: Create refuses it. One
// nobody holds is the leftover of a writer that died (a kill -9, a crash):
// Create takes it over, so that it never blocks every later write to final.
func Create(final string) (*File, error) {
	tmp := final + TempSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is being written by another process: wait for it to finish, or stop it", tmp)
		}
		return nil, fmt.Errorf("locking %s: %w", tmp, err)
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", tmp)
	}
	if err == nil {
		// A leftover's bytes are not ours; its mode may not be either.
		err = f.Truncate(0)
		if err == nil {
			err = f.Chmod(0o600)
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &File{File: f, final: final}, nil
}

// TempName is the path being written until Commit.
func (f *File) TempName() string { return f.final + TempSuffix }

// Commit makes the written bytes durable under the final name, replacing
// any file already there. On error the temporary file is removed.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: already committed or aborted")
	}
	f.done = true
	tmp := f.TempName()
	if err := f.File.Sync(); err != nil {
		f.File.Close()
		os.Remove(tmp)
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.File.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, f.final); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(f.final))
}

// Abort discards the file. It is safe to call after Commit (it does nothing),
// so callers can defer it.
func (f *File) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	f.File.Close()
	if err := os.Remove(f.TempName()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// SyncDir fsyncs a directory so that entries created, renamed or removed in
// it survive a power loss.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// WriteFile atomically replaces name with data (mode 0600).
func WriteFile(name string, data []byte) error {
	f, err := Create(name)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// RemoveLeftovers deletes every "*.part" file directly in dir, as left by a
// crash mid-write, and returns their names. Call it only when no writer can
// be active in dir (at start-up, under the owner's lock).
func RemoveLeftovers(dir string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(filepath.Clean(dir), "*"+TempSuffix))
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, m := range matches {
		if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, m)
	}
	if len(removed) > 0 {
		if err := SyncDir(dir); err != nil {
			return removed, err
		}
	}
	return removed, nil
}
