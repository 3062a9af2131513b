package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/raftsnap/raftsnap/snapshot/atomicfile"
)

// maxSidecarSize caps what List reads of a sidecar: real ones are < 2 KiB.
const maxSidecarSize = MaxRecordSize

// List returns the snapshots whose archive and sidecar both exist and agree,
// newest first (by CompareNewestFirst), and every other file in
// the directory as Foreign (with Problem set for files of ours that cannot
// be trusted). Temp files being written are not reported.
func (l *Local) List(_ context.Context) ([]Entry, []Foreign, error) {
	l.shared.mu.Lock()
	defer l.shared.mu.Unlock()
	names, err := l.readDirNames()
	if err != nil {
		return nil, nil, err
	}
	present := map[string]bool{}
	for _, n := range names {
		present[n] = true
	}
	var (
		entries []Entry
		foreign []Foreign
	)
	addForeign := func(name, problem string) {
		f := Foreign{Name: name, Problem: problem}
		if info, err := os.Lstat(filepath.Join(l.dir, name)); err == nil {
			f.Size, f.ModTime, f.Dir = info.Size(), info.ModTime(), info.IsDir()
		}
		foreign = append(foreign, f)
	}
	for _, name := range names {
		switch {
		case name == LockName:
		case strings.HasSuffix(name, atomicfile.TempSuffix):
			if !l.shared.live[name] && !strings.HasSuffix(strings.TrimSuffix(name, atomicfile.TempSuffix), SidecarSuffix) {
				problem := "temp file not being written by this process (removed at the next start)"
				if l.readOnly {
					problem = "temp file: a write in progress, or left by a crash"
				}
				addForeign(name, problem)
			}
		case strings.HasSuffix(name, SidecarSuffix):
			archive := strings.TrimSuffix(name, ".json")
			if !present[archive] && !present[archive+EncryptedSuffix] {
				addForeign(name, "sidecar without its archive")
			} else if !present[archive] {
				// An encrypted archive (NAME.snap.age): listed from its
				// sidecar, as nothing named NAME.snap is there.
				entry, problem := l.readEntry(archive)
				if problem != "" {
					addForeign(archive+EncryptedSuffix, problem)
					continue
				}
				entries = append(entries, entry)
			}
		case strings.HasSuffix(name, ArchiveSuffix+EncryptedSuffix):
			if !present[strings.TrimSuffix(name, EncryptedSuffix)+".json"] {
				addForeign(name, "encrypted archive without its sidecar (kept, never listed: decrypt it and put it back to adopt it)")
			}
		case strings.HasSuffix(name, ArchiveSuffix):
			if !present[name+".json"] {
				if archiveNamePattern.MatchString(name) {
					addForeign(name, "archive without sidecar (re-verified and adopted at the next start)")
				} else {
					addForeign(name, "")
				}
				continue
			}
			entry, problem := l.readEntry(name)
			if problem != "" {
				addForeign(name, problem)
				continue
			}
			entries = append(entries, entry)
		default:
			addForeign(name, "")
		}
	}
	for name := range l.shared.records {
		if !present[name] {
			delete(l.shared.records, name)
		}
	}
	SortNewestFirst(entries)
	return entries, foreign, nil
}

// readEntry reads and checks name's sidecar; a non-empty problem means the
// pair must not be listed. The verdict is cached per directory, keyed by
// what changes when either file does (inode, size, modification time), so
// that listing a large store re-reads only the sidecars that changed.
// The caller holds shared.mu.
func (l *Local) readEntry(name string) (Entry, string) {
	path := filepath.Join(l.dir, name)
	sidecarInfo, err := os.Stat(path + ".json")
	if err != nil {
		return Entry{}, "cannot read sidecar: " + err.Error()
	}
	if !sidecarInfo.Mode().IsRegular() {
		// Opening a FIFO would block the listing (and the daemon) forever.
		return Entry{}, "sidecar is not a regular file"
	}
	archiveInfo, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		// Stored encrypted: the archive's object is NAME.snap.age.
		archiveInfo, err = os.Stat(path + EncryptedSuffix)
	}
	if err != nil {
		return Entry{}, "cannot stat archive: " + err.Error()
	}
	key := recordKey{sidecar: keyOf(sidecarInfo), archive: keyOf(archiveInfo)}
	if c, ok := l.shared.records[name]; ok && c.key == key {
		return c.entry, c.problem
	}
	entry, problem := l.readSidecar(path, archiveInfo)
	if l.shared.records == nil {
		l.shared.records = map[string]cachedRecord{}
	}
	l.shared.records[name] = cachedRecord{key: key, entry: entry, problem: problem}
	return entry, problem
}

// readSidecar reads and checks the sidecar of the archive at path, whose
// stat is archiveInfo.
func (l *Local) readSidecar(path string, archiveInfo os.FileInfo) (Entry, string) {
	name := filepath.Base(path)
	f, err := os.OpenFile(path+".json", os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return Entry{}, "cannot read sidecar: " + err.Error()
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSidecarSize+1))
	f.Close()
	if err != nil {
		return Entry{}, "cannot read sidecar: " + err.Error()
	}
	if len(data) > maxSidecarSize {
		return Entry{}, fmt.Sprintf("sidecar is larger than %d bytes", maxSidecarSize)
	}
	entry, err := DecodeRecord(data)
	if err != nil {
		return Entry{}, "sidecar is not valid JSON: " + err.Error()
	}
	if problem := CheckRecord(&entry, name); problem != "" {
		return Entry{}, "sidecar " + strings.TrimPrefix(problem, "record ")
	}
	if !archiveInfo.Mode().IsRegular() {
		return Entry{}, "archive is not a regular file"
	}
	if archiveInfo.Name() != entry.ObjectName() {
		return Entry{}, fmt.Sprintf("sidecar describes %s, the file is %s", entry.ObjectName(), archiveInfo.Name())
	}
	if archiveInfo.Size() != entry.ObjectSize() {
		return Entry{}, fmt.Sprintf("archive is %d bytes, sidecar says %d", archiveInfo.Size(), entry.ObjectSize())
	}
	entry.Path = filepath.Join(filepath.Dir(path), entry.ObjectName())
	entry.Store = l.dir
	return entry, ""
}

// fileKey identifies one version of a file well enough for the record
// cache: a rename, rewrite or truncation changes one of these.
type fileKey struct {
	ino, dev uint64
	size     int64
	mtime    int64
	ctime    int64
}

func keyOf(info os.FileInfo) fileKey {
	k := fileKey{size: info.Size(), mtime: info.ModTime().UnixNano()}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		k.ino, k.dev = st.Ino, uint64(st.Dev)
		k.ctime = st.Ctim.Nano()
	}
	return k
}

type recordKey struct{ sidecar, archive fileKey }

type cachedRecord struct {
	key     recordKey
	entry   Entry
	problem string
}

// Get returns the listed entry called name.
func (l *Local) Get(_ context.Context, name string) (Entry, error) {
	if err := checkArchiveName(name); err != nil {
		return Entry{}, err
	}
	l.shared.mu.Lock()
	defer l.shared.mu.Unlock()
	entry, problem := l.readEntry(name)
	if problem != "" {
		_, err := os.Lstat(filepath.Join(l.dir, name))
		if errors.Is(err, os.ErrNotExist) {
			_, err = os.Lstat(filepath.Join(l.dir, name+EncryptedSuffix))
		}
		if errors.Is(err, os.ErrNotExist) {
			return Entry{}, l.errorf("no snapshot named %q: %w", name, ErrNotFound)
		}
		return Entry{}, l.errorf("snapshot %s %w: %s", name, ErrDamaged, problem)
	}
	return entry, nil
}

// Open implements Store: the archive file, open for reading (an *os.File,
// so callers may seek it back to re-read what they verified).
func (l *Local) Open(ctx context.Context, name string) (io.ReadCloser, Entry, error) {
	entry, err := l.Get(ctx, name)
	if err != nil {
		return nil, Entry{}, err
	}
	f, err := os.Open(entry.Path)
	if err != nil {
		return nil, entry, l.errorf("%w", err)
	}
	return f, entry, nil
}
