package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// LockedError means another process (or another open of the file in this
// process) holds the lock.
type LockedError struct {
	Path string
	// PID is the pid the holder recorded, 0 if it could not be read.
	PID int
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%s is locked by %s", e.Path, e.Holder())
}

// Holder says who holds the lock, for messages: "pid 1234" or "pid unknown".
func (e *LockedError) Holder() string {
	if e.PID > 0 {
		return "pid " + strconv.Itoa(e.PID)
	}
	return "pid unknown"
}

// Lock is an exclusive advisory lock (flock) held on a file for as long as
// the file stays open; the kernel releases it when the process dies, so a
// crash never leaves a stale lock behind.
type Lock struct{ f *os.File }

// TryLock takes the exclusive lock on path (created 0600 if missing; a
// symlink is refused) without waiting, and records this process's pid in
// it. A lock held elsewhere is a *LockedError naming the holder's pid.
//
// The descriptor that holds the lock is read-only: a file held open for
// writing would keep its file system from being remounted read-only.
func TryLock(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		return nil, err
	}
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%s is not a regular file", path)
		}
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &LockedError{Path: path, PID: readPID(f)}
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	// The pid is only for the "locked by" message; the lock is what counts.
	// It is written through a second descriptor, whose close does not
	// release a flock held by the first.
	if err := writePID(path); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Release drops the lock. The file stays: removing it while locked would
// let two processes lock two different files of the same name.
func (l *Lock) Release() error { return l.f.Close() }

func writePID(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(strconv.Itoa(os.Getpid()) + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readPID(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
