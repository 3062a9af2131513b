package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// DefaultRestoreTimeout bounds how long raft may take to enqueue a restore
// when RestoreOptions.Timeout is zero.
const DefaultRestoreTimeout = 5 * time.Minute

// ErrArchiveRejected wraps every verification failure that made Restore
// refuse an archive, so callers can tell "bad input" from "raft failed".
var ErrArchiveRejected = errors.New("archive rejected")

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// TempDir holds the spooled state.bin while the archive is verified;
	// "" means os.TempDir(). The file is 0600 and always removed.
	TempDir string
	// Timeout is passed to raft.Restore; 0 means DefaultRestoreTimeout.
	Timeout time.Duration
	// Verify tunes the verification of the archive; its State field is
	// ignored (Restore sets it).
	Verify VerifyOptions
}

// Save takes a user snapshot of r and writes it to w as an archive in the
// Consul/Nomad format. It works on any node, leader or not: callers that need
// a consistent snapshot check leadership first (see NewHandler).
func Save(r *raft.Raft, w io.Writer) (*raft.SnapshotMeta, error) {
	if r == nil {
		return nil, errors.New("snapshot save: raft is nil")
	}
	meta, state, err := takeAndOpen(r)
	if err != nil {
		return nil, err
	}
	defer state.Close()
	if _, err := Write(w, meta, state); err != nil {
		return nil, fmt.Errorf("snapshot save: write archive: %w", err)
	}
	if err := state.Close(); err != nil {
		return nil, fmt.Errorf("snapshot save: close raft snapshot: %w", err)
	}
	return meta, nil
}

// takeLocks holds one mutex per *raft.Raft (see takeAndOpen): one small
// entry per raft instance ever saved, which lives as long as the process.
var takeLocks sync.Map

// takeAndOpen takes a user snapshot of r and opens it. Concurrent Saves on
// one raft are serialised from take to open: raft's snapshot store keeps
// only its newest few snapshots, so the snapshots of other Saves could
// otherwise reap this one before it is opened. Once open, the files stay
// readable even if reaped, so the streaming runs concurrently.
func takeAndOpen(r *raft.Raft) (*raft.SnapshotMeta, io.ReadCloser, error) {
	mu, _ := takeLocks.LoadOrStore(r, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	// Open does not wait for the snapshot; Error does.
	future := r.Snapshot()
	if err := future.Error(); err != nil {
		return nil, nil, fmt.Errorf("snapshot save: take raft snapshot: %w", err)
	}
	meta, state, err := future.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("snapshot save: take raft snapshot: %w", err)
	}
	return meta, state, nil
}

// Restore verifies archive completely, spooling state.bin to a temporary
// file, and only then hands the state to r.Restore. Raft never sees a byte
// of an archive that failed verification; such failures wrap
// ErrArchiveRejected. r must be the leader. When ctx ends before raft is
// handed the state, Restore stops, removes the spool file and returns an
// error wrapping ctx's cause; raft.Restore itself is bounded by
// opts.Timeout, not by ctx.
func Restore(ctx context.Context, r *raft.Raft, archive io.Reader, opts RestoreOptions) (*raft.SnapshotMeta, error) {
	if r == nil {
		return nil, errors.New("snapshot restore: raft is nil")
	}
	spool, err := os.CreateTemp(opts.TempDir, ".raftsnap-restore-*.state")
	if err != nil {
		return nil, fmt.Errorf("snapshot restore: create spool file: %w", err)
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	verify := opts.Verify
	verify.State = spool
	report, err := Verify(ctx, archive, verify)
	if errors.Is(err, ErrStateWriter) {
		// The spool file failed (disk full...): our problem, not the archive's.
		return nil, fmt.Errorf("snapshot restore: spool state to %s: %w", spool.Name(), err)
	}
	if err != nil && ctx.Err() != nil {
		// Stopped, not judged: the archive is not rejected.
		return nil, fmt.Errorf("snapshot restore: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot restore: %w: %w", ErrArchiveRejected, err)
	}
	stateSize, err := spool.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("snapshot restore: spool file: %w", err)
	}
	meta := report.Meta
	// raft.Restore copies exactly meta.Size bytes and fails afterwards on a
	// mismatch; refuse up front with a clearer message instead.
	if meta.Size != stateSize {
		return nil, fmt.Errorf("snapshot restore: %w: %s says the state is %d bytes but %s has %d",
			ErrArchiveRejected, MetaName, meta.Size, StateName, stateSize)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("snapshot restore: rewind spool file: %w", err)
	}
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("snapshot restore: stopped before raft saw the state: %w", err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultRestoreTimeout
	}
	// A leader refuses a restore until the configuration entry of its
	// term is applied ("cannot restore snapshot now"): just after an
	// election it may not be yet. A barrier waits for that.
	if err := r.Barrier(timeout).Error(); err != nil {
		return nil, fmt.Errorf("snapshot restore: raft: %w", err)
	}
	if err := r.Restore(&meta, spool, timeout); err != nil {
		return nil, fmt.Errorf("snapshot restore: raft: %w", err)
	}
	return &meta, nil
}
