// Package store keeps snapshot archives, each with a record (the sidecar)
// describing it. Store is the small interface the jobs use; Local keeps a
// store in a local directory, where a snapshot is listed only once both its
// archive and its sidecar are committed (temp file 0600, fsync, rename,
// fsync directory) and leftovers of interrupted writes are cleaned at Open.
//
// The interface is shaped for stores without rename or fsync too (object
// stores, package snapshot/store/bucket): a snapshot is named before its
// first byte (an object cannot be renamed), a Pending write becomes visible
// only at Commit, and an Abort leaves nothing listed. Upload writes one
// snapshot into several stores at once, Union reads a job's copies in
// several stores as one, Copy replicates a snapshot from one store to
// another, checked against its committed SHA-256.
package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/raftsnap/raftsnap/snapshot"
)

// Store is where snapshot archives live.
type Store interface {
	// String names the store in logs and errors ("local store /var/lib/x").
	String() string
	// Location is the store's directory or URL, as status shows it.
	Location() string
	// List returns the committed snapshots, newest first (by
	// CompareNewestFirst), and everything else the store holds as Foreign
	// (never touched).
	List(ctx context.Context) ([]Entry, []Foreign, error)
	// Get returns the listed snapshot called name.
	Get(ctx context.Context, name string) (Entry, error)
	// Open returns the archive of a listed snapshot for reading, with its
	// entry. The caller closes it.
	Open(ctx context.Context, name string) (io.ReadCloser, Entry, error)
	// Create starts writing the snapshot called name (see NewName; its job
	// part must be job) for job. Nothing is listed until Commit; if the
	// name is taken by then, Commit fails with an error wrapping ErrExists.
	// Upload picks a name free in every store it writes to.
	Create(ctx context.Context, job, name string) (Pending, error)
	// Update replaces the record of a listed snapshot (to record a
	// re-verification); the archive is not touched.
	Update(ctx context.Context, entry Entry) error
	// Delete removes a listed snapshot: its record first, so that a crash
	// in between never leaves a listed snapshot without its archive.
	Delete(ctx context.Context, name string) error
	// Close releases the store (its lock, its connections).
	Close() error
}

// Pending is a snapshot being written. Write the archive into it, then call
// Commit or Abort (Abort after Commit does nothing, so it can be deferred).
// Nothing is listed before Commit returns successfully.
type Pending interface {
	io.Writer
	// Written is the number of bytes written so far.
	Written() int64
	// Commit makes the snapshot durable and listed. The store fills the
	// entry's Schema, Name (the one given to Create), Job and Size and
	// returns the entry stored. entry.Size, when set, must equal the bytes
	// written. On error nothing is listed. A commit check in ctx
	// (WithCommitCheck) is run right before the commit point, and its
	// failure is Commit's.
	Commit(ctx context.Context, entry Entry) (Entry, error)
	// Abort discards what was written.
	Abort() error
}

// SidecarSchema is the version of the sidecar JSON.
const SidecarSchema = 1

// Entry is one stored snapshot: its sidecar record plus where it lives.
type Entry struct {
	Schema int `json:"schema"`
	// Name is the archive's file name (no directory), e.g.
	// "consul-main-20261122T051000Z-12345.snap"; unique in the store.
	Name string `json:"name"`
	// Job is the name of the job that wrote it; pruning only ever touches
	// entries whose Job is the pruning job's owner.
	Job       string    `json:"job"`
	Source    string    `json:"source"` // e.g. "consul at http://127.0.0.1:8500"
	CreatedAt time.Time `json:"created_at"`
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	Index     uint64    `json:"index"`
	Term      uint64    `json:"term"`
	RaftID    string    `json:"raft_id"`
	// Headers are the server headers recorded at download.
	Headers map[string]string `json:"headers,omitempty"`
	// Verified is true when the archive passed streaming verification
	// when written (and any re-verification since).
	Verified   bool      `json:"verified"`
	VerifiedAt time.Time `json:"verified_at"`
	// Sealed is true for Vault archives carrying SHA256SUMS.sealed.
	Sealed bool `json:"sealed,omitempty"`
	// Servers are the raft server IDs of the snapshot's configuration
	// (sorted): the cluster's identity, compared from one snapshot of a
	// job to the next. Absent in sidecars written before it was recorded.
	Servers []string `json:"servers,omitempty"`
	// Stale is true when a follower answered (the source's stale mode, or
	// a stale fallback while the cluster had no leader): the snapshot may
	// lag the leader's last committed state.
	Stale bool `json:"stale,omitempty"`
	// VerifyError says why the last (re-)verification failed; "" while
	// Verified.
	VerifyError string `json:"verify_error,omitempty"`
	// Host is the host name of the raftsnap that wrote the snapshot (a
	// store shared by several agents tells who wrote what).
	Host string `json:"host,omitempty"`
	// Object is the file or object the archive is stored in when that is
	// not Name: the stored bytes are then a transformation of the archive
	// (such as an encrypted NAME.age), StoredSize and StoredSHA256 describe
	// them, and Size and SHA256 the archive itself. Empty: the archive is
	// stored as is, under Name.
	Object       string `json:"object,omitempty"`
	StoredSize   int64  `json:"stored_size,omitempty"`
	StoredSHA256 string `json:"stored_sha256,omitempty"`
	// Encryption says how the stored bytes are encrypted (package
	// snapshot/agecrypt): absent for an archive stored in the clear.
	Encryption *Encryption `json:"encryption,omitempty"`
	// LogLag, for a snapshot read from a stopped server's raft directory
	// (the raft-dir source), says how many entries that server's log held
	// after it: writes the archive does not contain.
	LogLag *snapshot.LogLag `json:"log_lag,omitempty"`
	// Drill is the outcome of the last conclusive restore drill of this
	// snapshot (a drill job restored it into a throwaway server): absent
	// until one ran. A drill that could not run (no binary, a server that
	// never led) says nothing about the snapshot and is not recorded.
	Drill *DrillRecord `json:"drill,omitempty"`

	// Extra holds the record's fields this version does not know (written
	// by a newer raftsnap); rewriting the record keeps them.
	Extra map[string]json.RawMessage `json:"-"`
	// Path is the archive's absolute path in a local store (not stored).
	Path string `json:"-"`
	// Store is the Location of the store the entry was read from (not
	// stored): a Union tells its copies apart by it.
	Store string `json:"-"`
}

// ObjectName is the name the archive is stored under: Object, or Name.
func (e *Entry) ObjectName() string {
	if e.Object != "" {
		return e.Object
	}
	return e.Name
}

// ObjectSize is the size of what is stored: StoredSize when the archive is
// stored transformed, else Size.
func (e *Entry) ObjectSize() int64 {
	if e.Object != "" && e.StoredSize > 0 {
		return e.StoredSize
	}
	return e.Size
}

// ErrExists is a name already taken in a store.
var ErrExists = errors.New("a snapshot of that name exists")

// ErrWriteAfterEnd and ErrCommitAfterEnd: a Pending was written to, or
// committed, after its Commit or Abort.
var (
	ErrWriteAfterEnd  = errors.New("store: write after commit or abort")
	ErrCommitAfterEnd = errors.New("store: commit after commit or abort")
)

// ErrNotFound is a name that is not a listed snapshot (it wraps
// fs.ErrNotExist, so errors.Is(err, os.ErrNotExist) holds too).
var ErrNotFound = fmt.Errorf("no such snapshot: %w", fs.ErrNotExist)

// Drill outcomes recorded in DrillRecord.Result.
const (
	// DrillOK: the snapshot restored, and the server reported what the
	// archive holds.
	DrillOK = "ok"
	// DrillFailed: the server refused the snapshot, or reported other
	// state than the archive holds.
	DrillFailed = "failed"
)

// DrillRecord is a drill's outcome as a snapshot's record keeps it.
type DrillRecord struct {
	// Job is the drill job that ran it.
	Job string `json:"job"`
	// Result is DrillOK or DrillFailed.
	Result string `json:"result"`
	// Reason says why a drill failed ("KV keys: 12 in the archive, 11 on
	// the restored server").
	Reason string `json:"reason,omitempty"`
	// At is when the drill finished; Duration how long it took, from the
	// start of the run.
	At       time.Time `json:"at"`
	Duration float64   `json:"duration_seconds"`
	// Index is the raft index the restored server reported.
	Index uint64 `json:"index,omitempty"`
	// Server is the throwaway server's kind and version ("consul 1.22.7").
	Server string `json:"server,omitempty"`
}

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
	// Store is the Location of the store holding it, set by a Union.
	Store string `json:"store,omitempty"`
}

// Position is what places a snapshot in raftsnap's one newest-first order.
type Position struct {
	Term, Index uint64
	Created     time.Time
	Name        string
}

// Position returns where e stands in the newest-first order.
func (e *Entry) Position() Position {
	return Position{Term: e.Term, Index: e.Index, Created: e.CreatedAt, Name: e.Name}
}

// CompareNewestFirst is raftsnap's one notion of "newest": by raft term,
// then raft index (the state a snapshot holds, which a wrong clock cannot
// misdate), then creation time, then name. It returns a negative number
// when a is newer than b, so sorting with it puts the newest first.
//
// Raft positions order the snapshots of one cluster; snapshots of
// different clusters compare meaningfully only by time, which is why
// pruning plans each job's snapshots on their own.
func CompareNewestFirst(a, b Position) int {
	if c := cmp.Compare(b.Term, a.Term); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Index, a.Index); c != 0 {
		return c
	}
	// Wall-clock seconds and nanoseconds: Compare would use monotonic
	// readings when both times carry one.
	if c := cmp.Compare(b.Created.Unix(), a.Created.Unix()); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Created.Nanosecond(), a.Created.Nanosecond()); c != 0 {
		return c
	}
	return strings.Compare(b.Name, a.Name)
}

// SortNewestFirst orders entries by CompareNewestFirst.
func SortNewestFirst(entries []Entry) {
	sort.SliceStable(entries, func(i, j int) bool {
		return CompareNewestFirst(entries[i].Position(), entries[j].Position()) < 0
	})
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

// Cleaner is a store that removes, when asked, what interrupted writes left
// behind (an object store's incomplete uploads and archives without their
// manifest; a local store does it when opened). The snapshot job asks at
// start and after each pruning pass, the prune job at each pass.
type Cleaner interface {
	// Clean removes the leftovers of the named jobs' writes (of any job
	// when none is named) that are older than the store's grace period and
	// not being written by this process, and names what it removed.
	Clean(ctx context.Context, jobs []string) ([]string, error)
}
