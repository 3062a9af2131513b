package source

import (
	"context"
	"errors"
	"io"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/raftdir"
)

// RaftDir reads a stopped server's raft directory (package raftdir): for
// the day the HTTP API is gone, or for clusters stopped on purpose.
const RaftDir Kind = "raft-dir"

func init() {
	register(Spec{
		Kind:            RaftDir,
		Title:           "a stopped Consul, Nomad or hashicorp/raft server's raft directory",
		Directory:       true,
		Reads:           "the newest intact snapshot in `snapshots/` and the log store (`raft.db` or `wal/`) of `path`, read-only",
		NoRestoreReason: "it reads a stopped server's files and never writes them; restore the archive into a running server with the consul or nomad source",
		NoStaleReason:   "it reads what the stopped server last wrote",
		CheckCRC:        true,
		open:            func(cfg Config) (Source, error) { return &raftDirSource{path: cfg.Path}, nil },
		order:           50,
	})
}

type raftDirSource struct{ path string }

func (s *raftDirSource) Kind() Kind     { return RaftDir }
func (s *raftDirSource) String() string { return string(RaftDir) + " at " + s.path }

func (s *raftDirSource) VerifyOptions() snapshot.VerifyOptions { return snapshot.VerifyOptions{} }

// Save writes the directory's newest intact snapshot as an archive (see
// raftdir.Save). A damaged snapshot comes back as a *snapshot.Error, as a
// damaged archive would; the writer's own errors and cancellation as they
// are; everything else about the directory (not a raft directory, a
// running server, Vault) as a permanent *Error.
func (s *raftDirSource) Save(ctx context.Context, w io.Writer) (*SaveResult, error) {
	res, err := raftdir.Save(ctx, s.path, w, raftdir.Options{})
	if err != nil {
		var (
			archiveErr *snapshot.Error
			dirErr     *raftdir.Error
		)
		switch {
		case errors.As(err, &archiveErr):
			// The whole message (which snapshots, why), under the kind of
			// the first problem: callers quote the *snapshot.Error they find.
			return nil, &snapshot.Error{Kind: archiveErr.Kind, Member: archiveErr.Member, Msg: err.Error(), Err: err}
		case errors.As(err, &dirErr):
			return nil, &Error{Kind: RaftDir, Op: OpSave, URL: s.path, Message: err.Error(), Err: err, permanent: true}
		}
		return nil, err
	}
	lag := res.LogLag
	return &SaveResult{Bytes: res.Archive.ArchiveBytes, LogLag: &lag, Warnings: res.Warnings}, nil
}

// Restore refuses: nothing is ever written into a server's directory.
func (s *raftDirSource) Restore(context.Context, io.Reader, int64) error {
	spec, _ := Lookup(RaftDir)
	return &Error{Kind: RaftDir, Op: OpRestore, URL: s.path, Message: "cannot restore into a raft directory: " + spec.NoRestoreReason, permanent: true}
}
