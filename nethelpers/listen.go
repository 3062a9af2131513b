// Package nethelpers holds the private unix socket the daemon's control
// server listens on, and the HTTP client the CLI talks to it with.
//
// The socket lives in a directory only its owner can enter (0700), is itself
// 0600, and is guarded by an exclusive lock on "<socket>.lock" for the
// listener's whole life, so a second daemon refuses to start instead of
// silently taking the socket over (zrepl's failure mode).
package nethelpers

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/raftsnap/raftsnap/snapshot/atomicfile"
)

// maxSockPath is the longest path a unix socket can be bound to: sun_path is
// 108 bytes on Linux, including the terminating NUL.
const maxSockPath = 107

// staleProbeTimeout bounds the connect that decides whether an existing
// socket file still has a listener.
const staleProbeTimeout = time.Second

// InUseError means another daemon holds the socket's lock.
type InUseError struct {
	SockPath string
	// PID is the pid recorded in the lock file, 0 if it could not be read.
	PID int
}

func (e *InUseError) Error() string {
	pid := "pid unknown"
	if e.PID > 0 {
		pid = "pid " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("another raftsnap daemon is using %s (%s)", e.SockPath, pid)
}

// Listener is a unix socket listener that owns its socket file and lock.
// Close removes the socket and releases the lock.
type Listener struct {
	*net.UnixListener
	path      string
	lock      *atomicfile.Lock
	closeOnce sync.Once
	closeErr  error
}

// Path is the socket's path.
func (l *Listener) Path() string { return l.path }

// Close stops listening, removes the socket file and releases the lock. The
// lock file itself stays: removing it while locked would let two daemons
// lock two different files of the same name.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		l.closeErr = l.UnixListener.Close()
		if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) && l.closeErr == nil {
			l.closeErr = err
		}
		// Closing the descriptor releases the flock.
		if err := l.lock.Release(); err != nil && l.closeErr == nil {
			l.closeErr = err
		}
	})
	return l.closeErr
}

// ListenPrivate listens on the unix socket sockpath, for its owner only.
//
// It creates the socket's directory (0700) if missing and refuses a directory
// that is not a directory, not owned by the effective user, or accessible by
// group or others. It takes an exclusive lock on sockpath+".lock" (and writes
// its pid there), failing with *InUseError if another process holds it. A
// socket file already at sockpath is removed only if connecting to it fails
// (a stale socket left by a killed daemon); if something answers, it
// refuses. The socket is made 0600.
func ListenPrivate(sockpath string) (*Listener, error) {
	if sockpath == "" {
		return nil, errors.New("control socket path is empty")
	}
	if len(sockpath) > maxSockPath {
		return nil, fmt.Errorf("control socket path %s is %d bytes long; unix sockets allow at most %d: choose a shorter path",
			sockpath, len(sockpath), maxSockPath)
	}
	if err := ensurePrivateDir(filepath.Dir(sockpath)); err != nil {
		return nil, err
	}
	lock, err := lockFile(sockpath)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			lock.Release()
		}
	}()
	if err := removeStaleSocket(sockpath); err != nil {
		return nil, err
	}
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: sockpath, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// The directory is 0700, so the instant between bind and chmod exposes
	// nothing; the chmod makes the socket private even if the directory's
	// mode is later loosened.
	if err := os.Chmod(sockpath, 0o600); err != nil {
		ul.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ok = true
	return &Listener{UnixListener: ul, path: sockpath, lock: lock}, nil
}

// ensurePrivateDir makes sure dir exists, is a directory owned by us, and is
// closed to group and others.
func ensurePrivateDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("cannot create the control socket directory: %w", err)
		}
		// MkdirAll's mode went through the umask, which can only remove
		// bits; chmod anyway so the result does not depend on it.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("cannot create the control socket directory: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("control socket directory %s is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("control socket directory %s is owned by uid %d, not by this process's uid %d: use a directory of your own",
			dir, st.Uid, os.Geteuid())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("control socket directory %s is accessible by group or others (mode %04o): run `chmod 700 %s` or choose another directory",
			dir, perm, dir)
	}
	return nil
}

// lockFile takes the exclusive lock on sockpath+".lock" for the
// listener's whole life.
func lockFile(sockpath string) (*atomicfile.Lock, error) {
	lock, err := atomicfile.TryLock(sockpath + ".lock")
	var locked *atomicfile.LockedError
	if errors.As(err, &locked) {
		return nil, &InUseError{SockPath: sockpath, PID: locked.PID}
	}
	if err != nil {
		return nil, fmt.Errorf("control socket lock: %w", err)
	}
	return lock, nil
}

// removeStaleSocket removes a socket file at path nobody listens on. We hold
// the lock, so no daemon of ours can be binding it meanwhile.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket; refusing to replace it", path)
	}
	conn, err := net.DialTimeout("unix", path, staleProbeTimeout)
	if err == nil {
		conn.Close()
		return fmt.Errorf("another process is answering on %s although it holds no lock (an older raftsnap?); stop it first", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot remove the stale control socket: %w", err)
	}
	return nil
}
