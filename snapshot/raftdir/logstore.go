package raftdir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/segment"
	"github.com/hashicorp/raft-wal/types"
	"go.etcd.io/bbolt"

	"github.com/raftsnap/raftsnap/snapshot"
)

// Log store kinds, as LogLag.LogStore names them.
const (
	LogStoreBolt = "raft-boltdb"
	LogStoreWAL  = "raft-wal"
	LogStoreNone = snapshot.LogStoreNone
)

// DefaultLockTimeout is how long opening the log store waits for its lock
// before deciding that a server holds it. A stopped server holds no lock,
// so the wait only ever matters when one is running.
const DefaultLockTimeout = time.Second

// maxWALState bounds raft-wal's persisted state (the list of segments); a
// real one holds a few hundred bytes per segment.
const maxWALState = 8 << 20

// LogInfo describes the server's raft log.
type LogInfo struct {
	// Store is LogStoreBolt, LogStoreWAL or LogStoreNone.
	Store string `json:"store"`
	// Path is raft.db or the wal/ directory ("" for LogStoreNone).
	Path string `json:"path,omitempty"`
	// FirstIndex and LastIndex are the log's range, both 0 when it is
	// empty (or when there is no log store).
	FirstIndex uint64 `json:"first_index"`
	LastIndex  uint64 `json:"last_index"`
}

// logStore is an open log store. Its lock (a shared flock, which a running
// server's exclusive lock excludes) is held until Close, so that no server
// starts writing into the directory while it is read.
type logStore struct {
	info  LogInfo
	close func() error
}

func (l *logStore) Close() error {
	if l.close == nil {
		return nil
	}
	return l.close()
}

// openLog opens the raft directory's log store read-only, as the server
// would pick it: raft.db when present (Consul ignores wal/ then), else
// wal/. A directory with neither has no log store.
func openLog(ctx context.Context, raftDir string, lockTimeout time.Duration) (*logStore, error) {
	if lockTimeout <= 0 {
		lockTimeout = DefaultLockTimeout
	}
	bolt := filepath.Join(raftDir, BoltFile)
	if exists(bolt) {
		return openBolt(bolt, lockTimeout)
	}
	wal := filepath.Join(raftDir, WALDir)
	if exists(wal) {
		return openWAL(ctx, wal, lockTimeout)
	}
	return &logStore{info: LogInfo{Store: LogStoreNone}}, nil
}

// openBoltReadOnly opens a bolt file as a reader only: O_RDONLY without
// O_CREATE (bolt would otherwise create a missing file, and initialise an
// empty one), a shared lock that waits at most timeout for a running
// server's exclusive one.
func openBoltReadOnly(path, what string, timeout time.Duration) (*bbolt.Options, error) {
	f, info, err := openRegular(path)
	if err != nil {
		return nil, newError(ErrLogStore, path, err, "cannot read %s: %v", what, unwrapPath(err))
	}
	f.Close()
	// Two meta pages at least; bolt would try to initialise a smaller file.
	if info.Size() < 2*512 {
		return nil, newError(ErrLogStore, path, nil, "%s is %d bytes: too small to be a bolt database (damaged, or not raft's)", what, info.Size())
	}
	return &bbolt.Options{
		ReadOnly: true,
		Timeout:  timeout,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
				return nil, fmt.Errorf("refusing to open %s for writing", name)
			}
			return os.OpenFile(name, flag&^(os.O_CREATE|os.O_TRUNC)|syscall.O_NOFOLLOW, perm)
		},
	}, nil
}

// boltOpenError turns bolt's open errors into ours: its lock timeout means
// a running server.
func boltOpenError(err error, path, what string) error {
	if errors.Is(err, bbolt.ErrTimeout) {
		return newError(ErrServerRunning, path, err,
			"%s is locked by a running server: raft-dir reads only a stopped server's files; "+
				"take the snapshot with the server's HTTP API instead (the consul, nomad or vault source, with stale: true when there is no leader), "+
				"or stop the server first", what)
	}
	return newError(ErrLogStore, path, err, "cannot open %s: %v", what, unwrapPath(err))
}

func openBolt(path string, timeout time.Duration) (*logStore, error) {
	what := "the raft-boltdb log store " + path
	opts, err := openBoltReadOnly(path, what, timeout)
	if err != nil {
		return nil, err
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: opts})
	if err != nil {
		return nil, boltOpenError(err, path, what)
	}
	info := LogInfo{Store: LogStoreBolt, Path: path}
	// bolt panics on some damaged pages rather than failing.
	err = recoverPanic(func() error {
		var err error
		if info.FirstIndex, err = store.FirstIndex(); err != nil {
			return err
		}
		info.LastIndex, err = store.LastIndex()
		return err
	})
	if err != nil {
		store.Close()
		return nil, newError(ErrLogStore, path, err, "cannot read the log's indexes from %s: %v", what, err)
	}
	return &logStore{info: info, close: store.Close}, nil
}

// openWAL reads raft-wal's metadata database read-only (and holds its
// lock), then the tail segment's entries, to learn the log's range as
// raft-wal computes it.
func openWAL(ctx context.Context, dir string, timeout time.Duration) (*logStore, error) {
	metaPath := filepath.Join(dir, metadb.FileName)
	what := "the raft-wal log store " + dir
	opts, err := openBoltReadOnly(metaPath, what+" ("+metadb.FileName+")", timeout)
	if err != nil {
		return nil, err
	}
	db, err := bbolt.Open(metaPath, 0, opts)
	if err != nil {
		return nil, boltOpenError(err, metaPath, what)
	}
	state, err := readWALState(db)
	if err == nil {
		var info LogInfo
		info, err = walRange(ctx, dir, state)
		if err == nil {
			return &logStore{info: info, close: db.Close}, nil
		}
	}
	db.Close()
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil, err
	}
	return nil, newError(ErrLogStore, dir, err, "cannot read %s: %v", what, err)
}

func readWALState(db *bbolt.DB) (types.PersistentState, error) {
	var state types.PersistentState
	err := recoverPanic(func() error {
		return db.View(func(tx *bbolt.Tx) error {
			bucket := tx.Bucket([]byte(metadb.MetaBucket))
			if bucket == nil {
				return fmt.Errorf("%s has no %q bucket", metadb.FileName, metadb.MetaBucket)
			}
			raw := bucket.Get([]byte(metadb.MetaKey))
			switch {
			case raw == nil:
				return nil // a WAL that was never written to
			case len(raw) > maxWALState:
				return fmt.Errorf("its state is %d bytes, over the %d byte limit", len(raw), maxWALState)
			}
			if err := json.Unmarshal(raw, &state); err != nil {
				return fmt.Errorf("its state is not valid JSON: %v", err)
			}
			return nil
		})
	})
	return state, err
}

// walRange computes the log's first and last index the way raft-wal does:
// the first segment's MinIndex, and the tail segment's last committed entry
// (or, when the tail is still empty, the index before its BaseIndex).
func walRange(ctx context.Context, dir string, state types.PersistentState) (LogInfo, error) {
	info := LogInfo{Store: LogStoreWAL, Path: dir}
	segs := state.Segments
	if len(segs) == 0 {
		return info, nil
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].BaseIndex < segs[j].BaseIndex })
	tail := segs[len(segs)-1]
	for _, s := range segs {
		if s.BaseIndex == 0 {
			return info, fmt.Errorf("segment %d has BaseIndex 0", s.ID)
		}
	}
	last := tail.MaxIndex
	if tail.SealTime.IsZero() {
		var err error
		if last, err = tailLastIndex(ctx, dir, tail); err != nil {
			return info, err
		}
		if last == 0 && len(segs) > 1 {
			last = tail.BaseIndex - 1
		}
	}
	if last == 0 {
		return info, nil // nothing written yet
	}
	info.FirstIndex, info.LastIndex = segs[0].MinIndex, last
	if info.FirstIndex == 0 {
		info.FirstIndex = segs[0].BaseIndex
	}
	return info, nil
}

// tailLastIndex reads the unsealed tail segment through raft-wal's own
// reader (which opens it read-only) and returns the index of its last
// committed entry, 0 when it holds none.
func tailLastIndex(ctx context.Context, dir string, tail types.SegmentInfo) (uint64, error) {
	vfs := &readOnlyVFS{}
	defer vfs.closeAll()
	var last uint64
	err := segment.NewFiler(dir, vfs).DumpSegment(tail.BaseIndex, tail.ID, 0, 0, func(_ types.SegmentInfo, e types.LogEntry) (bool, error) {
		if err := context.Cause(ctx); err != nil {
			return false, err
		}
		last = e.Index
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("tail segment %s: %w", segment.FileName(tail), err)
	}
	return last, nil
}

// readOnlyVFS is the file system raft-wal's segment reader gets: it can
// open files for reading and nothing else, and it closes what it opened
// (DumpSegment leaves its file open).
type readOnlyVFS struct{ open []*os.File }

var errReadOnly = errors.New("raft-dir opens the server's files read-only")

func (v *readOnlyVFS) ListDir(dir string) ([]string, error) { return nil, errReadOnly }
func (v *readOnlyVFS) Create(string, string, uint64) (types.WritableFile, error) {
	return nil, errReadOnly
}
func (v *readOnlyVFS) Delete(string, string) error { return errReadOnly }
func (v *readOnlyVFS) OpenWriter(string, string) (types.WritableFile, error) {
	return nil, errReadOnly
}

func (v *readOnlyVFS) OpenReader(dir, name string) (types.ReadableFile, error) {
	f, _, err := openRegular(filepath.Join(dir, name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is missing", name)
		}
		return nil, err
	}
	v.open = append(v.open, f)
	return f, nil
}

func (v *readOnlyVFS) closeAll() {
	for _, f := range v.open {
		f.Close()
	}
}

// recoverPanic runs fn and turns a panic (bolt's reaction to some damaged
// pages) into an error.
func recoverPanic(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the database is damaged (%v)", r)
		}
	}()
	return fn()
}
