// Package store keeps snapshot archives in a local directory, each with a
// JSON sidecar describing it. A snapshot is listed only once both its
// archive and its sidecar are committed (temp file 0600, fsync, rename,
// fsync directory); leftovers of interrupted writes are cleaned at Open.
package store

import (
	"time"
)

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

	// Path is the archive's absolute path (not stored in the sidecar).
	Path string `json:"-"`
}
