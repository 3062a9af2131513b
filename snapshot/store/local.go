package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/atomicfile"
)

// Local is a store in a local directory. Several Locals (one per job) may
// share a directory within one process.
type Local struct {
	dir    string
	logger *slog.Logger
	shared *dirState
	// readOnly marks a Local made by OpenReadOnly, which only reads.
	readOnly bool
	closed   bool
}

var _ Store = (*Local)(nil)

// ErrReadOnly is returned by the writing methods of a store opened with
// OpenReadOnly.
var ErrReadOnly = errors.New("store opened read-only")

// dirState is shared by every Local of one directory in this process: it
// serialises commits and deletes against listings (so a listing never sees
// an archive whose sidecar is a moment away) and remembers the temp files
// being written (so a second Open does not remove them).
type dirState struct {
	mu   sync.Mutex
	live map[string]bool // temp file names being written
	// records caches sidecar verdicts (see readEntry).
	records map[string]cachedRecord
	// lock is the store's owner lock, held while any Local of the
	// directory is open (refs counts them); real is the directory's real
	// path, its key in dirs.
	lock *atomicfile.Lock
	refs int
	real string
}

var (
	dirsMu sync.Mutex
	dirs   = map[string]*dirState{}
)

// lockedState returns the state of the real directory dir, taking its lock
// the first time this process opens it.
func lockedState(dir string) (*dirState, error) {
	dirsMu.Lock()
	defer dirsMu.Unlock()
	if s := dirs[dir]; s != nil {
		s.refs++
		return s, nil
	}
	lock, err := atomicfile.TryLock(filepath.Join(dir, LockName))
	var locked *atomicfile.LockedError
	if errors.As(err, &locked) {
		return nil, &InUseError{Dir: dir, PID: locked.PID}
	}
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", dir, err)
	}
	s := &dirState{live: map[string]bool{}, lock: lock, real: dir, refs: 1}
	dirs[dir] = s
	return s, nil
}

// Close releases this Local; the last one of a directory releases the
// store's lock. A closed Local must not be used again.
func (l *Local) Close() error {
	if l.readOnly || l.closed {
		return nil
	}
	l.closed = true
	dirsMu.Lock()
	defer dirsMu.Unlock()
	l.shared.refs--
	if l.shared.refs > 0 {
		return nil
	}
	delete(dirs, l.shared.real)
	return l.shared.lock.Release()
}

// LockName is the lock file in a store directory: the process that opened
// the store holds it, so that a second daemon (or a job whose store path
// is another's under a different name) is refused instead of removing the
// first one's writes in progress as leftovers, or pruning its snapshots.
const LockName = ".raftsnap-store.lock"

// InUseError is a store directory another process has open.
type InUseError struct {
	Dir string
	// PID is the holder's pid, 0 when unknown.
	PID int
}

func (e *InUseError) Error() string {
	holder := (&atomicfile.LockedError{PID: e.PID}).Holder()
	return fmt.Sprintf("store %s is in use by another raftsnap process (%s): two daemons must not share a store directory; "+
		"give each daemon its own store, or stop the other one", e.Dir, holder)
}

// Open opens (creating it 0700 if missing) the store in dir and locks it
// for this process. It refuses a directory another user owns or can write
// to (see CheckDir). It removes temp files left by interrupted writes, and
// settles archives left without a sidecar by a crash between the two
// renames of a commit: an archive that verifies gets a sidecar ("adopted"),
// one that does not is renamed to "<name>.rejected" and left for the
// operator. A nil logger discards.
func Open(dir string, logger *slog.Logger) (*Local, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if dir == "" {
		return nil, errors.New("store: no directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", dir, err)
	}
	// Ownership and modes are checked here too (not only by the
	// configuration): a store must never be trusted on its path alone.
	// Writability is left to the writes, so that a read-only store can
	// still serve restores.
	if err := CheckDir(abs, DirCheck{UID: os.Geteuid()}); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return nil, fmt.Errorf("store %s: creating it: %w", abs, unwrapPath(err))
		}
		logger.Info("store directory created", "path", abs)
	}
	// One state per real directory: a symlink alias shares the lock and the
	// record of writes in progress instead of racing them.
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", abs, unwrapPath(err))
	}
	shared, err := lockedState(real)
	if err != nil {
		return nil, err
	}
	l := &Local{dir: abs, logger: logger.With("store", abs), shared: shared}
	if err := l.recover(); err != nil {
		return nil, err
	}
	return l, nil
}

// OpenReadOnly opens the store in dir for reading only: unlike Open it
// neither creates the directory, removes leftovers nor adopts orphans, so
// tools such as `raftsnap test pruning` can run beside a daemon writing to
// the same directory. Temp files are listed as Foreign (a write in
// progress, or a crash's leftover). Create, Update and Delete fail with
// ErrReadOnly.
func OpenReadOnly(dir string) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", dir, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", abs, unwrapPath(err))
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("store %s is not a directory", abs)
	}
	// A private, empty state: every temp file is reported, even one this
	// process is writing.
	return &Local{dir: abs, logger: slog.New(slog.DiscardHandler), shared: &dirState{live: map[string]bool{}}, readOnly: true}, nil
}

// Dir is the store's absolute directory.
func (l *Local) Dir() string { return l.dir }

// String implements Store.
func (l *Local) String() string { return "local store " + l.dir }

// Location implements Store: the absolute directory.
func (l *Local) Location() string { return l.dir }

func (l *Local) recover() error {
	l.shared.mu.Lock()
	defer l.shared.mu.Unlock()
	var removed []string
	var err error
	if len(l.shared.live) == 0 {
		removed, err = atomicfile.RemoveLeftovers(l.dir)
	} else {
		removed, err = l.removeLeftoversExceptLive()
	}
	for _, name := range removed {
		l.logger.Warn("removed temp file left by an interrupted write", "file", filepath.Base(name))
	}
	if err != nil {
		return l.errorf("removing leftover temp files: %w", err)
	}

	names, err := l.readDirNames()
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for _, n := range names {
		present[n] = true
	}
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, ArchiveSuffix):
			if present[name+".json"] || !archiveNamePattern.MatchString(name) {
				continue
			}
			l.settleOrphan(name)
		case strings.HasSuffix(name, SidecarSuffix):
			archive := strings.TrimSuffix(name, ".json")
			if present[archive] || present[archive+EncryptedSuffix] {
				continue
			}
			// Only a hand edit gets here (deletes remove the sidecar first),
			// but a sidecar describing nothing must not linger.
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil {
				l.logger.Error("cannot remove sidecar whose archive is missing", "file", name, "err", err)
				continue
			}
			l.logger.Warn("removed sidecar whose archive is missing", "file", name)
		}
	}
	return atomicfile.SyncDir(l.dir)
}

func (l *Local) removeLeftoversExceptLive() ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(l.dir, "*"+atomicfile.TempSuffix))
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, m := range matches {
		if l.shared.live[filepath.Base(m)] {
			continue
		}
		if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, m)
	}
	return removed, nil
}

// settleOrphan adopts or rejects an archive that has no sidecar.
func (l *Local) settleOrphan(name string) {
	path := filepath.Join(l.dir, name)
	report, err := snapshot.VerifyFile(context.Background(), path, snapshot.VerifyOptions{})
	if err != nil {
		if err := os.Rename(path, path+RejectedSuffix); err != nil {
			l.logger.Error("archive without sidecar fails verification and cannot be moved aside", "file", name, "err", err)
			return
		}
		l.logger.Error("archive without sidecar fails verification: moved aside", "file", name, "to", name+RejectedSuffix, "err", err)
		return
	}
	m := archiveNamePattern.FindStringSubmatch(name)
	created, _ := time.Parse(timeLayout, m[2])
	// The name keeps whole seconds, which would sort this snapshot before
	// an older one of the same job started earlier in that second (and let
	// pruning destroy the newer). The download started within that second
	// and ended at the file's mtime, before the job's next run started:
	// the earlier of the mtime and the second's end orders it correctly.
	if info, err := os.Stat(path); err == nil {
		if mtime, end := info.ModTime().UTC(), created.Add(time.Second-time.Nanosecond); mtime.After(created) {
			created = end
			if mtime.Before(end) {
				created = mtime
			}
		}
	}
	now := time.Now().UTC()
	entry := Entry{
		Schema:     SidecarSchema,
		Name:       name,
		Job:        m[1],
		Source:     "unknown (adopted at start-up: the sidecar was never written)",
		CreatedAt:  created,
		Size:       report.ArchiveBytes,
		SHA256:     report.ArchiveSHA256,
		Index:      report.Meta.Index,
		Term:       report.Meta.Term,
		RaftID:     report.Meta.ID,
		Verified:   true,
		VerifiedAt: now,
		Sealed:     report.Sealed,
	}
	if err := l.writeSidecar(entry); err != nil {
		l.logger.Error("cannot write sidecar for adopted archive", "file", name, "err", err)
		return
	}
	l.logger.Warn("adopted archive left without a sidecar by an interrupted commit", "file", name, "job", entry.Job, "index", entry.Index)
}

func (l *Local) readDirNames() ([]string, error) {
	d, err := os.Open(l.dir)
	if err != nil {
		return nil, l.errorf("%w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, l.errorf("reading the directory: %w", err)
	}
	sort.Strings(names)
	return names, nil
}

// Delete removes a listed snapshot. The sidecar goes first: a crash before
// the archive is removed leaves an archive without sidecar, which the next
// Open re-verifies and adopts (to be pruned again), never a listed snapshot
// whose archive is gone. The directory is fsynced after each removal.
func (l *Local) Delete(_ context.Context, name string) error {
	if l.readOnly {
		return ErrReadOnly
	}
	if err := checkArchiveName(name); err != nil {
		return err
	}
	l.shared.mu.Lock()
	defer l.shared.mu.Unlock()
	entry, problem := l.readEntry(name)
	if problem != "" {
		// Only listed snapshots are deleted: a corrupt sidecar is the
		// operator's to look at.
		return l.errorf("not deleting %s: %s", name, problem)
	}
	path := filepath.Join(l.dir, name)
	if err := os.Remove(path + ".json"); err != nil {
		return l.errorf("%w", err)
	}
	if err := atomicfile.SyncDir(l.dir); err != nil {
		return l.errorf("%w", err)
	}
	if err := os.Remove(filepath.Join(l.dir, entry.ObjectName())); err != nil {
		return l.errorf("%w", err)
	}
	if err := atomicfile.SyncDir(l.dir); err != nil {
		return l.errorf("%w", err)
	}
	return nil
}

// errorf is an error of this store: "store DIR: ...", the directory named
// once. Path errors from the file system inside it are shortened to the
// file's name (errors.Is/As still see the cause).
func (l *Local) errorf(format string, args ...any) error {
	for i, a := range args {
		if err, ok := a.(error); ok {
			args[i] = shortPathError(err)
		}
	}
	return fmt.Errorf("store %s: "+format, append([]any{l.dir}, args...)...)
}

// shortPathError drops the directory from a path error's file names.
func shortPathError(err error) error {
	var pathErr *os.PathError
	var linkErr *os.LinkError
	switch {
	case errors.As(err, &linkErr):
		return &wrapped{msg: fmt.Sprintf("%s %s %s: %v", linkErr.Op, filepath.Base(linkErr.Old), filepath.Base(linkErr.New), linkErr.Err), err: err}
	case errors.As(err, &pathErr):
		return &wrapped{msg: fmt.Sprintf("%s %s: %v", pathErr.Op, filepath.Base(pathErr.Path), pathErr.Err), err: err}
	}
	return err
}

// wrapped shows msg and unwraps to err.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }
