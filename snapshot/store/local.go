package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/atomicfile"
)

// File name parts. An archive is "<job>-<UTC yyyymmddThhmmssZ>-<index>.snap",
// with "-<n>" before ".snap" (n = 2, 3, ...) when that name is taken; its
// sidecar is the archive's name plus ".json".
const (
	ArchiveSuffix = ".snap"
	SidecarSuffix = ".snap.json"
	// RejectedSuffix is appended to an archive without a sidecar that fails
	// verification at Open: it is kept for inspection, listed as foreign.
	RejectedSuffix = ".rejected"
	timeLayout     = "20060102T150405Z"
)

var (
	jobNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	// archiveNamePattern matches names this package generates; the job part
	// is greedy so job names containing '-' parse correctly.
	archiveNamePattern = regexp.MustCompile(`^([A-Za-z0-9_.-]+)-([0-9]{8}T[0-9]{6}Z)-([0-9]+)(?:-[0-9]+)?\.snap$`)
)

// Foreign is a file in the store directory that is not a listed snapshot:
// a file raftsnap did not write (Problem is ""), or one of ours that cannot
// be trusted (Problem says why: a corrupt sidecar, a size mismatch...).
// Foreign files are reported and never modified or deleted.
type Foreign struct {
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
	Dir     bool      `json:"dir,omitempty"`
	Problem string    `json:"problem,omitempty"`
}

// Local is a store in a local directory. Several Locals (one per job) may
// share a directory within one process.
type Local struct {
	dir    string
	logger *slog.Logger
	shared *dirState
	// readOnly marks a Local made by ListReadOnly, which only lists.
	readOnly bool
}

// dirState is shared by every Local of one directory in this process: it
// serialises commits and deletes against listings (so a listing never sees
// an archive whose sidecar is a moment away) and remembers the temp files
// being written (so a second Open does not remove them).
type dirState struct {
	mu   sync.Mutex
	live map[string]bool // temp file names being written
}

var (
	dirsMu sync.Mutex
	dirs   = map[string]*dirState{}
)

func sharedState(dir string) *dirState {
	dirsMu.Lock()
	defer dirsMu.Unlock()
	s := dirs[dir]
	if s == nil {
		s = &dirState{live: map[string]bool{}}
		dirs[dir] = s
	}
	return s
}

// Open opens (creating it 0700 if missing) the store in dir. It removes
// temp files left by interrupted writes, and settles archives left without
// a sidecar by a crash between the two renames of a commit: an archive that
// verifies gets a sidecar ("adopted"), one that does not is renamed to
// "<name>.rejected" and left for the operator. A nil logger discards.
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
	info, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return nil, fmt.Errorf("store: creating %s: %w", abs, err)
		}
		logger.Info("store directory created", "path", abs)
	case err != nil:
		return nil, fmt.Errorf("store %s: %w", abs, err)
	case !info.IsDir():
		return nil, fmt.Errorf("store %s is not a directory", abs)
	}
	l := &Local{dir: abs, logger: logger.With("store", abs), shared: sharedState(abs)}
	if err := l.recover(); err != nil {
		return nil, err
	}
	return l, nil
}

// ListReadOnly lists the store in dir without changing anything: unlike
// Open it neither removes leftovers nor adopts orphans, so tools such as
// `raftsnap test pruning` can run beside a daemon writing to the same
// directory. Temp files are reported as Foreign (a write in progress, or a
// crash's leftover).
func ListReadOnly(dir string) ([]Entry, []Foreign, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("store %s: %w", dir, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return nil, nil, fmt.Errorf("store %s: %w", abs, err)
	}
	if !info.IsDir() {
		return nil, nil, fmt.Errorf("store %s is not a directory", abs)
	}
	// A private, empty state: every temp file is reported, even one this
	// process is writing.
	l := &Local{dir: abs, logger: slog.New(slog.DiscardHandler), shared: &dirState{live: map[string]bool{}}, readOnly: true}
	return l.List()
}

// Dir is the store's absolute directory.
func (l *Local) Dir() string { return l.dir }

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
		return fmt.Errorf("store %s: removing leftover temp files: %w", l.dir, err)
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
			if present[archive] {
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
	// Start-up has no context to honour; the work is bounded by the file's size.
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
		return nil, fmt.Errorf("store %s: %w", l.dir, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("store %s: reading directory: %w", l.dir, err)
	}
	sort.Strings(names)
	return names, nil
}

// Pending is a snapshot being written. Write the archive into it, then call
// Commit or Abort (Abort after Commit does nothing, so it can be deferred).
type Pending struct {
	l       *Local
	job     string
	f       *os.File
	tmp     string // base name
	written int64
	done    bool
}

// Create starts writing a snapshot for job into a temp file (0600) in the
// store directory.
func (l *Local) Create(job string) (*Pending, error) {
	if err := checkJobName(job); err != nil {
		return nil, err
	}
	tmp := fmt.Sprintf("%s-%s%s%s", job, randomHex(6), ArchiveSuffix, atomicfile.TempSuffix)
	l.shared.mu.Lock()
	defer l.shared.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(l.dir, tmp), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store %s: creating temp file: %w", l.dir, err)
	}
	l.shared.live[tmp] = true
	return &Pending{l: l, job: job, f: f, tmp: tmp}, nil
}

func checkJobName(job string) error {
	if !jobNamePattern.MatchString(job) || strings.HasPrefix(job, ".") {
		return fmt.Errorf("store: invalid job name %q: use letters, digits, '_', '.' and '-', not starting with '.'", job)
	}
	if len(job) > maxJobName {
		return fmt.Errorf("store: job name of %d characters is too long (at most %d: it goes into file names)", len(job), maxJobName)
	}
	return nil
}

// maxJobName keeps "<job>-<timestamp>-<index>-<n>.snap.json" within the
// usual 255-byte limit on file names.
const maxJobName = 128

// TempName is the path of the temp file.
func (p *Pending) TempName() string { return filepath.Join(p.l.dir, p.tmp) }

// Written is the number of bytes written so far.
func (p *Pending) Written() int64 { return p.written }

// Write appends archive bytes to the temp file.
func (p *Pending) Write(b []byte) (int, error) {
	if p.done {
		return 0, errors.New("store: write after commit or abort")
	}
	n, err := p.f.Write(b)
	p.written += int64(n)
	return n, err
}

// Commit makes the snapshot durable and listed: fsync the temp file, rename
// it to its final name, write the sidecar atomically, fsync the directory.
// The final name is built from entry.CreatedAt (now when zero) and
// entry.Index. entry.Size, when set, must equal the bytes written. Commit
// fills Schema, Name, Job, Size and Path and returns the entry stored. On
// error nothing is listed and the temp file is removed.
func (p *Pending) Commit(entry Entry) (Entry, error) {
	if p.done {
		return Entry{}, errors.New("store: commit after commit or abort")
	}
	if entry.Size != 0 && entry.Size != p.written {
		p.Abort()
		return Entry{}, fmt.Errorf("store: entry says %d bytes but %d were written", entry.Size, p.written)
	}
	if entry.CreatedAt.IsZero() {
		entry.CreatedAt = time.Now()
	}
	entry.CreatedAt = entry.CreatedAt.UTC()
	entry.Schema = SidecarSchema
	entry.Job = p.job
	entry.Size = p.written
	tmpPath := p.TempName()

	if err := p.f.Sync(); err != nil {
		p.Abort()
		return Entry{}, fmt.Errorf("store: fsync %s: %w", tmpPath, err)
	}
	if err := p.f.Close(); err != nil {
		p.Abort()
		return Entry{}, fmt.Errorf("store: close %s: %w", tmpPath, err)
	}

	l := p.l
	l.shared.mu.Lock()
	defer l.shared.mu.Unlock()
	p.done = true
	delete(l.shared.live, p.tmp)
	base := fmt.Sprintf("%s-%s-%d", p.job, entry.CreatedAt.Format(timeLayout), entry.Index)
	name := base + ArchiveSuffix
	for n := 2; ; n++ {
		_, err := os.Lstat(filepath.Join(l.dir, name))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			// Not "taken" but unusable (a name too long, an I/O error):
			// trying the next suffix would loop forever under the lock.
			os.Remove(tmpPath)
			return Entry{}, fmt.Errorf("store: cannot use the name %s: %w", name, err)
		}
		name = fmt.Sprintf("%s-%d%s", base, n, ArchiveSuffix)
	}
	entry.Name = name
	entry.Path = filepath.Join(l.dir, name)
	// The archive is renamed before the sidecar is written: a crash in
	// between leaves an archive without sidecar, which Open re-verifies.
	if err := os.Rename(tmpPath, entry.Path); err != nil {
		os.Remove(tmpPath)
		return Entry{}, fmt.Errorf("store: %w", err)
	}
	// The rename must be durable before the sidecar (the commit point)
	// exists: otherwise a power cut could keep the sidecar and lose the
	// archive's name.
	if err := atomicfile.SyncDir(l.dir); err != nil {
		os.Remove(entry.Path)
		return Entry{}, fmt.Errorf("store: %w", err)
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
func (p *Pending) Abort() error {
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
	data, err := json.MarshalIndent(entry, "", "  ")
	if err != nil {
		return fmt.Errorf("store: encoding sidecar for %s: %w", entry.Name, err)
	}
	data = append(data, '\n')
	if err := atomicfile.WriteFile(filepath.Join(l.dir, entry.Name+".json"), data); err != nil {
		return fmt.Errorf("store: writing sidecar for %s: %w", entry.Name, err)
	}
	return nil
}

// maxSidecarSize caps what List reads of a sidecar: real ones are < 2 KiB.
const maxSidecarSize = 1 << 20

// List returns the snapshots whose archive and sidecar both exist and agree,
// newest first (by CreatedAt, then term and index), and every other file in
// the directory as Foreign (with Problem set for files of ours that cannot
// be trusted). Temp files being written are not reported.
func (l *Local) List() ([]Entry, []Foreign, error) {
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
		case strings.HasSuffix(name, atomicfile.TempSuffix):
			if !l.shared.live[name] && !strings.HasSuffix(strings.TrimSuffix(name, atomicfile.TempSuffix), SidecarSuffix) {
				problem := "temp file not being written by this process (removed at the next start)"
				if l.readOnly {
					problem = "temp file: a write in progress, or left by a crash"
				}
				addForeign(name, problem)
			}
		case strings.HasSuffix(name, SidecarSuffix):
			if !present[strings.TrimSuffix(name, ".json")] {
				addForeign(name, "sidecar without its archive")
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
	SortNewestFirst(entries)
	return entries, foreign, nil
}

// SortNewestFirst orders entries by CreatedAt, then term, then index, newest
// first; names break remaining ties so the order is stable.
func SortNewestFirst(entries []Entry) {
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.After(b.CreatedAt)
		}
		if a.Term != b.Term {
			return a.Term > b.Term
		}
		if a.Index != b.Index {
			return a.Index > b.Index
		}
		return a.Name > b.Name
	})
}

// readEntry reads and checks name's sidecar; a non-empty problem means the
// pair must not be listed.
func (l *Local) readEntry(name string) (Entry, string) {
	path := filepath.Join(l.dir, name)
	f, err := os.Open(path + ".json")
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
	var entry Entry
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&entry); err != nil {
		return Entry{}, "sidecar is not valid JSON: " + err.Error()
	}
	switch {
	case entry.Schema != SidecarSchema:
		return Entry{}, fmt.Sprintf("sidecar schema %d is not supported (want %d)", entry.Schema, SidecarSchema)
	case entry.Name != name:
		return Entry{}, fmt.Sprintf("sidecar names %q, not this archive", entry.Name)
	case entry.Job == "":
		return Entry{}, "sidecar names no job"
	case len(entry.SHA256) != sha256.Size*2:
		return Entry{}, "sidecar has no valid sha256"
	}
	info, err := os.Stat(path)
	if err != nil {
		return Entry{}, "cannot stat archive: " + err.Error()
	}
	if !info.Mode().IsRegular() {
		return Entry{}, "archive is not a regular file"
	}
	if info.Size() != entry.Size {
		return Entry{}, fmt.Sprintf("archive is %d bytes, sidecar says %d", info.Size(), entry.Size)
	}
	entry.Path = path
	return entry, ""
}

// Get returns the listed entry called name.
func (l *Local) Get(name string) (Entry, error) {
	if err := checkArchiveName(name); err != nil {
		return Entry{}, err
	}
	l.shared.mu.Lock()
	defer l.shared.mu.Unlock()
	entry, problem := l.readEntry(name)
	if problem != "" {
		if _, err := os.Lstat(filepath.Join(l.dir, name)); errors.Is(err, os.ErrNotExist) {
			return Entry{}, fmt.Errorf("store %s: no snapshot named %q: %w", l.dir, name, os.ErrNotExist)
		}
		return Entry{}, fmt.Errorf("store %s: snapshot %s cannot be trusted: %s", l.dir, name, problem)
	}
	return entry, nil
}

func checkArchiveName(name string) error {
	if name == "" || strings.ContainsRune(name, '/') || strings.ContainsRune(name, os.PathSeparator) ||
		!strings.HasSuffix(name, ArchiveSuffix) || strings.HasPrefix(name, ".") {
		return fmt.Errorf("store: %q is not a snapshot name (a file name ending in %s)", name, ArchiveSuffix)
	}
	return nil
}

// Delete removes a listed snapshot. The sidecar goes first: a crash before
// the archive is removed leaves an archive without sidecar, which the next
// Open re-verifies and adopts (to be pruned again), never a listed snapshot
// whose archive is gone. The directory is fsynced after each removal.
func (l *Local) Delete(name string) error {
	if err := checkArchiveName(name); err != nil {
		return err
	}
	l.shared.mu.Lock()
	defer l.shared.mu.Unlock()
	if _, problem := l.readEntry(name); problem != "" {
		// Only listed snapshots are deleted: a corrupt sidecar is the
		// operator's to look at.
		return fmt.Errorf("store %s: not deleting %s: %s", l.dir, name, problem)
	}
	path := filepath.Join(l.dir, name)
	if err := os.Remove(path + ".json"); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := atomicfile.SyncDir(l.dir); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := atomicfile.SyncDir(l.dir); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// VerificationError is a stored archive that no longer matches its sidecar
// or fails archive verification.
type VerificationError struct {
	Name string
	Err  error // a *snapshot.Error, or a size/checksum mismatch
}

func (e *VerificationError) Error() string {
	return fmt.Sprintf("stored snapshot %s fails verification: %v", e.Name, e.Err)
}

func (e *VerificationError) Unwrap() error { return e.Err }

// Verify re-reads name completely: archive verification with opts, and the
// file's size and SHA-256 against the sidecar. The sidecar is updated with
// the outcome (Verified, VerifiedAt); a failure is a *VerificationError.
// When ctx ends first, Verify returns its error and records nothing.
func (l *Local) Verify(ctx context.Context, name string, opts snapshot.VerifyOptions) (Entry, *snapshot.Report, error) {
	f, entry, report, err := l.OpenVerified(ctx, name, opts)
	if f != nil {
		f.Close()
	}
	return entry, report, err
}

// OpenVerified verifies name as Verify does and, on success, returns the
// verified file open and positioned at its start, so what is sent next is
// the very file that was checked. The caller closes it.
func (l *Local) OpenVerified(ctx context.Context, name string, opts snapshot.VerifyOptions) (*os.File, Entry, *snapshot.Report, error) {
	entry, err := l.Get(name)
	if err != nil {
		return nil, Entry{}, nil, err
	}
	f, err := os.Open(entry.Path)
	if err != nil {
		return nil, entry, nil, fmt.Errorf("store: %w", err)
	}
	// The verdict recorded in the sidecar comes from the checks every
	// archive must pass; what only a particular caller demands (Vault's
	// sealed sums, for a Vault target) is checked after, and a failure of
	// it says nothing about the file, so it is not recorded.
	neutral := opts
	neutral.RequireSealed = false
	report, verr := snapshot.Verify(ctx, f, neutral)
	if verr != nil {
		var archiveErr *snapshot.Error
		if !errors.As(verr, &archiveErr) {
			// An I/O error says nothing about the archive.
			f.Close()
			return nil, entry, nil, fmt.Errorf("store: reading %s: %w", name, verr)
		}
	} else if report.ArchiveBytes != entry.Size || report.ArchiveSHA256 != entry.SHA256 {
		verr = fmt.Errorf("the file (%d bytes, sha256 %s) differs from the one stored (%d bytes, sha256 %s)",
			report.ArchiveBytes, report.ArchiveSHA256, entry.Size, entry.SHA256)
	}
	entry.Verified = verr == nil
	entry.VerifiedAt = time.Now().UTC()
	l.shared.mu.Lock()
	if _, problem := l.readEntry(name); problem == "" {
		if err := l.writeSidecar(entry); err != nil {
			l.logger.Error("cannot record verification result in sidecar", "file", name, "err", err)
		}
	}
	l.shared.mu.Unlock()
	if verr != nil {
		f.Close()
		return nil, entry, nil, &VerificationError{Name: name, Err: verr}
	}
	if opts.RequireSealed && !report.Sealed {
		f.Close()
		return nil, entry, nil, fmt.Errorf("store: %s is not a Vault snapshot (no %s member), which this target requires", name, snapshot.SealedSumsName)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, entry, nil, fmt.Errorf("store: %w", err)
	}
	return f, entry, report, nil
}

// Summary counts entries and their bytes; newest is entries[0] when any
// (entries as List returns them).
func Summary(entries []Entry) (count int, bytes int64, newest *Entry) {
	for i := range entries {
		bytes += entries[i].Size
	}
	if len(entries) > 0 {
		newest = &entries[0]
	}
	return len(entries), bytes, newest
}

// ParseName splits a name generated by this package into job, creation
// time and raft index; ok is false for other names.
func ParseName(name string) (job string, created time.Time, index uint64, ok bool) {
	m := archiveNamePattern.FindStringSubmatch(name)
	if m == nil {
		return "", time.Time{}, 0, false
	}
	created, err := time.Parse(timeLayout, m[2])
	if err != nil {
		return "", time.Time{}, 0, false
	}
	index, err = strconv.ParseUint(m[3], 10, 64)
	if err != nil {
		return "", time.Time{}, 0, false
	}
	return m[1], created, index, true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
