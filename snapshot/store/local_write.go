package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/raftsnap/raftsnap/snapshot/atomicfile"
)

// localPending is a snapshot being written into a temp file of the store
// directory.
type localPending struct {
	l       *Local
	job     string
	name    string // the final name
	object  string // the stored form's name (CreateObject), "" for the archive itself
	f       *os.File
	tmp     string // base name
	written int64
	done    bool
}

// Create starts writing the snapshot name of job into a temp file (0600)
// in the store directory.
func (l *Local) Create(ctx context.Context, job, name string) (Pending, error) {
	return l.CreateObject(ctx, job, name, "")
}

// CreateObject implements ObjectCreator: Create, the bytes going into the
// file object (NAME.snap.age) at Commit; object "" is Create.
func (l *Local) CreateObject(_ context.Context, job, name, object string) (Pending, error) {
	if l.readOnly {
		return nil, ErrReadOnly
	}
	if err := CheckName(job, name); err != nil {
		return nil, err
	}
	if object != "" {
		if err := CheckObjectName(name, object); err != nil {
			return nil, err
		}
	}
	tmp := fmt.Sprintf("%s-%s%s%s", job, randomHex(6), ArchiveSuffix, atomicfile.TempSuffix)
	l.shared.mu.Lock()
	defer l.shared.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(l.dir, tmp), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, l.errorf("creating a temp file: %w", err)
	}
	l.shared.live[tmp] = true
	return &localPending{l: l, job: job, name: name, object: object, f: f, tmp: tmp}, nil
}

// TempName is the path of the temp file.
func (p *localPending) TempName() string { return filepath.Join(p.l.dir, p.tmp) }

// Written is the number of bytes written so far.
func (p *localPending) Written() int64 { return p.written }

// Write appends archive bytes to the temp file.
func (p *localPending) Write(b []byte) (int, error) {
	if p.done {
		return 0, ErrWriteAfterEnd
	}
	n, err := p.f.Write(b)
	p.written += int64(n)
	if err != nil {
		return n, p.l.errorf("%w", err)
	}
	return n, nil
}

// Commit makes the snapshot durable and listed (see Pending): fsync the temp
// file, rename it to its name (an error wrapping ErrExists if another file
// has it), write the sidecar atomically, fsync the directory. entry.Size,
// when set, must equal the bytes written. ctx's commit check runs after the
// fsync, before the rename. Commit fills Schema, Name, Job, Size, Host and
// Path (and CreatedAt, now when zero) and returns the entry stored. On
// error nothing is listed and the temp file is removed.
func (p *localPending) Commit(ctx context.Context, entry Entry) (Entry, error) {
	if p.done {
		return Entry{}, ErrCommitAfterEnd
	}
	if p.object != "" {
		if err := CheckStoredEntry(&entry, p.written); err != nil {
			p.Abort()
			return Entry{}, p.l.errorf("%s: %v", p.name, err)
		}
		entry.Object, entry.StoredSize = p.object, p.written
	} else if entry.Size != 0 && entry.Size != p.written {
		p.Abort()
		return Entry{}, p.l.errorf("entry says %d bytes but %d were written", entry.Size, p.written)
	} else {
		entry.Object, entry.StoredSize, entry.StoredSHA256 = "", 0, ""
	}
	entry.Bound()
	if entry.CreatedAt.IsZero() {
		entry.CreatedAt = time.Now()
	}
	entry.CreatedAt = entry.CreatedAt.UTC()
	entry.Schema = SidecarSchema
	entry.Job = p.job
	if p.object == "" {
		entry.Size = p.written
	}
	if entry.Host == "" {
		entry.Host = hostname()
	}
	tmpPath := p.TempName()

	if err := p.f.Sync(); err != nil {
		p.Abort()
		return Entry{}, p.l.errorf("fsync %s: %w", p.tmp, err)
	}
	if err := p.f.Close(); err != nil {
		p.Abort()
		return Entry{}, p.l.errorf("close %s: %w", p.tmp, err)
	}
	if err := CheckCommit(ctx); err != nil {
		p.Abort()
		return Entry{}, err
	}

	l := p.l
	l.shared.mu.Lock()
	defer l.shared.mu.Unlock()
	p.done = true
	delete(l.shared.live, p.tmp)
	name := p.name
	// The name is taken in either form: the archive, or its encrypted
	// object.
	for _, taken := range []string{name, name + EncryptedSuffix} {
		if _, err := os.Lstat(filepath.Join(l.dir, taken)); err == nil {
			os.Remove(tmpPath)
			return Entry{}, l.errorf("cannot commit %s: %w", name, ErrExists)
		} else if !errors.Is(err, os.ErrNotExist) {
			os.Remove(tmpPath)
			return Entry{}, l.errorf("cannot use the name %s: %w", name, err)
		}
	}
	entry.Name = name
	entry.Path = filepath.Join(l.dir, entry.ObjectName())
	entry.Store = l.dir
	// The archive is renamed before the sidecar is written: a crash in
	// between leaves an archive without sidecar, which Open re-verifies.
	if err := os.Rename(tmpPath, entry.Path); err != nil {
		os.Remove(tmpPath)
		return Entry{}, l.errorf("%w", err)
	}
	// The rename must be durable before the sidecar (the commit point)
	// exists: otherwise a power cut could keep the sidecar and lose the
	// archive's name.
	if err := atomicfile.SyncDir(l.dir); err != nil {
		os.Remove(entry.Path)
		return Entry{}, l.errorf("%w", err)
	}
	if err := l.writeSidecar(entry); err != nil {
		// Without its sidecar the archive would be adopted at the next start
		// with less information; remove it so the failure is plain.
		os.Remove(entry.Path)
		return Entry{}, err
	}
	return entry, nil
}

// Abort discards the temp file.
func (p *localPending) Abort() error {
	if p.done {
		return nil
	}
	p.done = true
	p.f.Close()
	p.l.shared.mu.Lock()
	delete(p.l.shared.live, p.tmp)
	p.l.shared.mu.Unlock()
	if err := os.Remove(p.TempName()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// writeSidecar writes (or replaces) entry's sidecar atomically; the caller
// holds shared.mu.
func (l *Local) writeSidecar(entry Entry) error {
	data, err := EncodeRecord(entry)
	if err != nil {
		return l.errorf("encoding the sidecar of %s: %w", entry.Name, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(l.dir, entry.Name+".json"), data); err != nil {
		return l.errorf("writing the sidecar of %s: %w", entry.Name, err)
	}
	return nil
}

// Update implements Store: it rewrites the sidecar of a listed snapshot.
func (l *Local) Update(_ context.Context, entry Entry) error {
	if l.readOnly {
		return ErrReadOnly
	}
	if err := checkArchiveName(entry.Name); err != nil {
		return err
	}
	l.shared.mu.Lock()
	defer l.shared.mu.Unlock()
	if _, problem := l.readEntry(entry.Name); problem != "" {
		return l.errorf("not updating %s: %s", entry.Name, problem)
	}
	entry.Schema = SidecarSchema
	return l.writeSidecar(entry)
}
