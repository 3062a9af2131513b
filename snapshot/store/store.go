// Package store keeps snapshot archives, each with a record (the sidecar)
// describing it. Store is the small interface the jobs use; Local keeps a
// store in a local directory, where a snapshot is listed only once both its
// archive and its sidecar are committed (temp file 0600, fsync, rename,
// fsync directory) and leftovers of interrupted writes are cleaned at Open.
//
// The interface is shaped for stores without rename or fsync too (object
// stores): a Pending write becomes visible only at Commit, and an Abort
// leaves nothing listed.
package store

import (
	"cmp"
	"context"
	"io"
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
	// Create starts writing a new snapshot of job.
	Create(ctx context.Context, job string) (Pending, error)
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
	// entry's Schema, Name, Job and Size and returns the entry stored.
	// entry.Size, when set, must equal the bytes written. On error nothing
	// is listed.
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
	// LogLag, for a snapshot read from a stopped server's raft directory
	// (the raft-dir source), says how many entries that server's log held
	// after it: writes the archive does not contain.
	LogLag *snapshot.LogLag `json:"log_lag,omitempty"`

	// Path is the archive's absolute path (not stored in the sidecar).
	Path string `json:"-"`
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
