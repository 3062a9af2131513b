package raftdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/raftsnap/raftsnap/snapshot/store"
)

// Names inside a raft directory, as hashicorp/raft, raft-boltdb and
// raft-wal write them.
const (
	SnapshotsDir = "snapshots"
	BoltFile     = "raft.db"
	WALDir       = "wal"
	walMetaFile  = "wal-meta.db" // raft-wal's metadb.FileName
	tmpSuffix    = ".tmp"        // hashicorp/raft's snapshot directories in progress
	vaultFSMFile = "vault.db"    // beside Vault's raft/ directory
)

// candidates are where a raft directory may be below the path given: the
// path itself, a Consul data_dir (DATA/raft) and a Nomad data_dir
// (DATA/server/raft), as Consul 1.22 and Nomad 1.11 lay them out.
var candidates = []struct{ sub, layout string }{
	{".", "the raft directory itself"},
	{"raft", "a Consul data_dir"},
	{filepath.Join("server", "raft"), "a Nomad data_dir"},
}

// Dir is a located raft directory.
type Dir struct {
	// Given is the path as given.
	Given string `json:"path"`
	// Raft is the raft directory: Given, or the one found below it.
	Raft string `json:"raft_dir"`
	// Layout says what Given was taken for: "the raft directory itself",
	// "a Consul data_dir", "a Nomad data_dir".
	Layout string `json:"layout"`
}

// Locate finds the raft directory at or below path. It refuses Vault's raft
// storage (ErrVault) and a path holding none (ErrNotRaftDir).
func Locate(path string) (Dir, error) {
	info, err := os.Stat(path)
	if err != nil {
		return Dir{}, newError(ErrNotRaftDir, path, err, "cannot read raft directory %s: %v", path, unwrapPath(err))
	}
	if !info.IsDir() {
		return Dir{}, newError(ErrNotRaftDir, path, nil, "%s is not a directory: give the server's raft directory or its data_dir", path)
	}
	for _, c := range candidates {
		dir := filepath.Clean(filepath.Join(path, c.sub))
		ok, err := isRaftDir(dir)
		if err != nil {
			return Dir{}, err
		}
		if !ok {
			continue
		}
		if vault := filepath.Join(filepath.Dir(dir), vaultFSMFile); exists(vault) {
			return Dir{}, newError(ErrVault, dir, nil,
				"%s is Vault's raft storage (%s is beside it), which raft-dir does not read: Vault keeps its state in vault.db, "+
					"not in snapshots/ (it empties that directory at start), and its archives carry a SHA256SUMS.sealed member "+
					"encrypted with the cluster's barrier keys, which only Vault can make; start Vault on this data and save with "+
					"the vault source (or vault operator raft snapshot save)", dir, vault)
		}
		return Dir{Given: path, Raft: dir, Layout: c.layout}, nil
	}
	return Dir{}, newError(ErrNotRaftDir, path, nil,
		"%s is not a raft directory: it holds no %s/ directory, %s or %s/, and neither do %s (Consul's data_dir layout) or %s (Nomad's)",
		path, SnapshotsDir, BoltFile, WALDir, filepath.Join(path, "raft"), filepath.Join(path, "server", "raft"))
}

// Within reports whether path is dir or lies below it, comparing real
// paths (symbolic links resolved as far as the paths exist): a file
// written at path would then land in the server's directory, which
// raft-dir never writes into. Callers check where they are about to write
// (the CLI's output file, a job's store) against the path they read.
func Within(dir, path string) bool {
	absDir, err1 := filepath.Abs(dir)
	absPath, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(store.RealPath(absDir), store.RealPath(absPath))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// isRaftDir reports whether dir holds what a raft server writes there.
func isRaftDir(dir string) (bool, error) {
	for _, name := range []string{SnapshotsDir, BoltFile, WALDir} {
		_, err := os.Lstat(filepath.Join(dir, name))
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		default:
			return false, newError(ErrNotRaftDir, dir, err, "cannot read %s: %v", dir, unwrapPath(err))
		}
	}
	return false, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// openRegular opens path for reading only if it is a regular file: never
// following a symbolic link, never blocking on a FIFO, never creating.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, nil, fmt.Errorf("%s is a symbolic link, not a regular file", path)
		}
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is not a regular file (%s)", path, info.Mode().Type())
	}
	return f, info, nil
}

// unwrapPath drops *fs.PathError's "open /x:" prefix where the message
// names the file already.
func unwrapPath(err error) error {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}
