// Package raftdir reads a stopped hashicorp/raft server's directory, the
// way Consul and Nomad lay it out, without ever writing to it: the
// snapshots of raft's FileSnapshotStore (snapshots/TERM-INDEX-MS/ holding
// meta.json and state.bin, each checked against the CRC-64 in its
// meta.json) and the log store (raft-boltdb's raft.db, or raft-wal's wal/),
// opened read-only to learn how far the log runs past the snapshot. Save
// turns the newest intact snapshot into a standard snapshot archive;
// Inspect describes the directory.
//
// A running server holds its log store's lock; both refuse then
// (ErrServerRunning), after waiting at most Options.LockTimeout.
package raftdir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/raftsnap/raftsnap/snapshot"
)

// Options tune Save and Inspect.
type Options struct {
	// LockTimeout bounds the wait for the log store's lock (0:
	// DefaultLockTimeout).
	LockTimeout time.Duration
}

// Result describes what Save archived.
type Result struct {
	Dir Dir `json:"dir"`
	// Snapshot is the snapshot archived.
	Snapshot Snapshot `json:"snapshot"`
	// Skipped are the newer snapshots that failed their checks.
	Skipped []Snapshot `json:"skipped,omitempty"`
	Log     LogInfo    `json:"log"`
	// LogLag says how far the snapshot lags the log.
	LogLag snapshot.LogLag `json:"log_lag"`
	// Warnings say what the caller should report: newer snapshots skipped
	// as damaged, no log store to compare with.
	Warnings []string `json:"warnings,omitempty"`
	// Archive describes the archive written.
	Archive *snapshot.Report `json:"-"`
}

// Save writes the newest intact snapshot of the raft directory at (or
// below, see Locate) path into w as a standard archive (snapshot.Write:
// what Consul and Nomad restore). Newer snapshots that fail their checks
// are skipped with a warning. The log store's lock is held throughout, so
// no server can start on the directory meanwhile (one that tries waits).
//
// Errors: *Error for the directory (ErrNotRaftDir, ErrVault,
// ErrServerRunning, ErrLogStore, ErrNoSnapshot, ErrNoValidSnapshot
// wrapping the newest snapshot's *snapshot.Error, ErrChanged); a write
// error of w comes back wrapped as it is; a context error when ctx ends.
func Save(ctx context.Context, path string, w io.Writer, opts Options) (*Result, error) {
	d, log, l, err := open(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	res := &Result{Dir: d, Log: log.info}
	if len(l.snapshots) == 0 {
		return nil, noSnapshot(d, l)
	}
	var (
		chosen   *Snapshot
		firstErr error
	)
	for i := range l.snapshots {
		s := &l.snapshots[i]
		if err := check(ctx, s); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			res.Skipped = append(res.Skipped, *s)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		chosen = s
		break
	}
	if chosen == nil {
		return nil, noValidSnapshot(d, res.Skipped, firstErr)
	}
	res.Snapshot = *chosen
	if len(res.Skipped) > 0 {
		res.Warnings = append(res.Warnings, fallbackWarning(res.Skipped, chosen))
	}
	if res.Archive, err = writeArchive(ctx, w, chosen); err != nil {
		return nil, err
	}
	res.LogLag = snapshot.NewLogLag(log.info.Store, chosen.Index, log.info.FirstIndex, log.info.LastIndex)
	if log.info.Store == LogStoreNone {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s holds no log store (%s or %s/): whether a server was running, and how many entries it wrote after the snapshot, cannot be told",
			d.Raft, BoltFile, WALDir))
	}
	return res, nil
}

// open locates the directory, opens its log store (refusing a running
// server before reading anything else) and lists its snapshots.
func open(ctx context.Context, path string, opts Options) (Dir, *logStore, *listing, error) {
	d, err := Locate(path)
	if err != nil {
		return Dir{}, nil, nil, err
	}
	log, err := openLog(ctx, d.Raft, opts.LockTimeout)
	if err != nil {
		return Dir{}, nil, nil, err
	}
	l, err := listSnapshots(d.Raft)
	if err != nil {
		log.Close()
		return Dir{}, nil, nil, err
	}
	return d, log, l, nil
}

func noSnapshot(d Dir, l *listing) error {
	msg := fmt.Sprintf("%s holds no snapshot: the server never wrote one (it does every raft_snapshot_interval once raft_snapshot_threshold entries were written since the last)",
		filepath.Join(d.Raft, SnapshotsDir))
	if l.tmpCount > 0 {
		msg += fmt.Sprintf("; %d unfinished .tmp snapshot directories were ignored", l.tmpCount)
	}
	return newError(ErrNoSnapshot, filepath.Join(d.Raft, SnapshotsDir), nil, "%s", msg)
}

// noValidSnapshot wraps the newest snapshot's error (a *snapshot.Error
// unless a file could not be read), so that callers classify the failure
// as a damaged snapshot.
func noValidSnapshot(d Dir, skipped []Snapshot, newest error) error {
	problems := make([]string, len(skipped))
	for i, s := range skipped {
		problems[i] = s.Problem
	}
	return newError(ErrNoValidSnapshot, filepath.Join(d.Raft, SnapshotsDir), newest,
		"%s holds no intact snapshot, nothing was archived: %s", filepath.Join(d.Raft, SnapshotsDir), strings.Join(problems, "; "))
}

func fallbackWarning(skipped []Snapshot, chosen *Snapshot) string {
	names := make([]string, len(skipped))
	for i, s := range skipped {
		names[i] = fmt.Sprintf("%s (%s)", s.Name, s.Problem)
	}
	return fmt.Sprintf("skipped %d newer damaged snapshot(s): %s; archived the older snapshot %s (index %d) instead",
		len(skipped), strings.Join(names, "; "), chosen.Name, chosen.Index)
}

// writeArchive copies s into w as an archive, checking the CRC-64 again on
// the way: the bytes archived are the bytes checked.
func writeArchive(ctx context.Context, w io.Writer, s *Snapshot) (*snapshot.Report, error) {
	f, err := s.openState()
	if err != nil {
		return nil, changed(s, err)
	}
	defer f.Close()
	pr, pw := io.Pipe()
	crc := make(chan error, 1)
	go func() {
		got, err := copyState(ctx, pw, f, s)
		if err == nil {
			err = s.compareCRC(got)
		}
		crc <- err
		pw.CloseWithError(err)
	}()
	out := &trackingWriter{w: w}
	rep, err := snapshot.WriteWithOptions(out, s.meta, pr, snapshot.WriteOptions{ModTime: s.Created})
	pr.CloseWithError(errors.New("archive writer stopped"))
	crcErr := <-crc
	switch {
	case out.err != nil:
		return nil, fmt.Errorf("writing the archive of %s: %w", s.Name, out.err)
	case ctx.Err() != nil:
		return nil, context.Cause(ctx)
	case crcErr != nil:
		return nil, changed(s, crcErr)
	case err != nil:
		return nil, fmt.Errorf("archiving snapshot %s: %w", s.Name, err)
	}
	return rep, nil
}

func changed(s *Snapshot, err error) error {
	return newError(ErrChanged, s.dir, err, "snapshot %s changed while it was archived (is a server writing into the directory?): %v", s.Name, err)
}

// trackingWriter remembers w's own error, to tell it from the state's.
type trackingWriter struct {
	w   io.Writer
	err error
}

func (t *trackingWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil && t.err == nil {
		t.err = err
	}
	return n, err
}
