package raftdir

import (
	"errors"
	"fmt"
)

// Kinds of failure that are about the directory rather than one snapshot
// in it. Every such error is an *Error whose Kind is one of these, so that
// callers can branch with errors.Is. A damaged snapshot (meta.json invalid,
// state.bin of the wrong size or CRC-64) is a *snapshot.Error instead, of
// the kind an archive with the same damage gets (snapshot.ErrInvalidMeta,
// ErrStateSize, ErrChecksum...).
var (
	// ErrNotRaftDir: the path holds no snapshots/ directory, raft.db or
	// wal/, neither itself nor where Consul and Nomad keep them.
	ErrNotRaftDir = errors.New("not a raft directory")
	// ErrVault: the directory is Vault's raft storage, which keeps its
	// state in vault.db and whose archives need sums sealed with Vault's
	// keys.
	ErrVault = errors.New("vault raft storage cannot be archived from disk")
	// ErrServerRunning: the log store is locked by a running server.
	ErrServerRunning = errors.New("a server is running on this raft directory")
	// ErrLogStore: the log store exists but cannot be read.
	ErrLogStore = errors.New("the raft log store cannot be read")
	// ErrNoSnapshot: snapshots/ holds no snapshot at all.
	ErrNoSnapshot = errors.New("the raft directory holds no snapshot")
	// ErrNoValidSnapshot: every snapshot failed its checks; Unwrap gives
	// the newest one's *snapshot.Error.
	ErrNoValidSnapshot = errors.New("the raft directory holds no intact snapshot")
	// ErrChanged: a snapshot's files changed between the check and the
	// copy into the archive (something is writing into the directory).
	ErrChanged = errors.New("the snapshot changed while it was read")
)

// Error is a problem with a raft directory, in words an operator can act on.
type Error struct {
	// Kind is one of the Err* sentinels of this package.
	Kind error
	// Path is the file or directory concerned.
	Path string
	// Msg is the full message.
	Msg string
	// Err is an underlying cause, if any.
	Err error
}

func (e *Error) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrServerRunning) and friends work.
func (e *Error) Is(target error) bool { return target == e.Kind }

func (e *Error) Unwrap() error { return e.Err }

func newError(kind error, path string, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Path: path, Msg: fmt.Sprintf(format, args...), Err: cause}
}
