package store

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// DirCheck says what CheckDir checks for.
type DirCheck struct {
	// UID is the user the daemon runs as (os.Geteuid() in the daemon).
	UID int
	// Write is true for stores a job writes to (snapshot and prune jobs);
	// a restore job only reads.
	Write bool
}

// CheckDir tells whether the user c.UID can use dir as a local store,
// without changing anything: the configuration check and Open both call
// it, so that `raftsnap configcheck` refuses what the daemon would.
//
// An existing directory must be owned by that user and writable by no one
// else: a store another user can write to lets that user plant an archive
// with a "verified" sidecar that a restore of "latest" would send, or
// delete snapshots. A store to write to must not be on a read-only file
// system, and a missing one must be creatable: its nearest existing
// ancestor is a directory. Whether the user may write there is asked of
// the kernel when the check runs as that user.
func CheckDir(dir string, c DirCheck) error {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return checkCreatable(dir, c)
	case err != nil:
		return fmt.Errorf("cannot use %s: %w", dir, unwrapPath(err))
	case !info.IsDir():
		return fmt.Errorf("%s exists and is not a directory", dir)
	}
	if err := checkOwner(dir, info, c.UID); err != nil {
		return err
	}
	want := uint32(unix.R_OK | unix.X_OK)
	if c.Write {
		if err := checkWritableFS(dir); err != nil {
			return err
		}
		want |= unix.W_OK
	}
	if c.UID == os.Geteuid() {
		if err := unix.Access(dir, want); err != nil {
			return fmt.Errorf("%s is not usable by %s: %w", dir, userName(c.UID), accessError(err))
		}
	}
	return nil
}

func checkOwner(dir string, info os.FileInfo, uid int) error {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if int(st.Uid) != uid {
		hint := ""
		if os.Geteuid() == 0 && uid == 0 {
			hint = " (checking as root? run the check as the daemon's user, e.g. `sudo -u raftsnap raftsnap configcheck`, or pass --as-user)"
		}
		return fmt.Errorf("%s is owned by %s, not by %s that raftsnap runs as%s: another user could plant or remove snapshots in it; "+
			"run `chown %s %s` or choose another directory", dir, userName(int(st.Uid)), userName(uid), hint, userName(uid), dir)
	}
	if perm := info.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %04o): anyone in them could plant or remove snapshots; run `chmod 700 %s`",
			dir, perm, dir)
	}
	return nil
}

// checkWritableFS refuses a directory on a file system mounted read-only.
func checkWritableFS(dir string) error {
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err == nil && fs.Flags&unix.ST_RDONLY != 0 {
		return fmt.Errorf("%s is on a read-only file system", dir)
	}
	return nil
}

// checkCreatable checks that MkdirAll(dir) would succeed: the nearest
// existing ancestor must be a directory on a writable file system (and
// writable by the user, when the check runs as that user).
func checkCreatable(dir string, c DirCheck) error {
	parent := filepath.Dir(dir)
	for {
		info, err := os.Stat(parent)
		switch {
		case (errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) && parent != filepath.Dir(parent):
			parent = filepath.Dir(parent)
			continue
		case err != nil:
			return fmt.Errorf("cannot create %s: %w", dir, unwrapPath(err))
		case !info.IsDir():
			return fmt.Errorf("cannot create %s: %s is not a directory", dir, parent)
		}
		if err := checkWritableFS(parent); err != nil {
			return fmt.Errorf("cannot create %s: %w", dir, err)
		}
		if c.UID == os.Geteuid() {
			if err := unix.Access(parent, unix.W_OK|unix.X_OK); err != nil {
				return fmt.Errorf("cannot create %s: %s is not writable by %s: %w", dir, parent, userName(c.UID), accessError(err))
			}
		}
		return nil
	}
}

func accessError(err error) error {
	if errors.Is(err, unix.EROFS) {
		return errors.New("read-only file system")
	}
	if errors.Is(err, unix.EACCES) {
		return errors.New("permission denied")
	}
	return err
}

func unwrapPath(err error) error {
	var pathErr *os.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}

// userName is "uid N (name)", or "uid N" when the name is unknown.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("uid %d (%s)", uid, u.Username)
	}
	return "uid " + strconv.Itoa(uid)
}

// RealPath resolves the symbolic links of path's longest existing prefix,
// so that two names of one directory compare equal even before it exists.
func RealPath(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	parent := filepath.Dir(path)
	if parent == path {
		return path
	}
	return filepath.Join(RealPath(parent), filepath.Base(path))
}
