package source

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/raftdir"
)

// TestRaftDirRoundTrip takes a real hashicorp/raft server's directory
// (raft-boltdb, file snapshots), refuses it while the server runs, saves
// it once stopped, and restores the archive into another cluster.
func TestRaftDirRoundTrip(t *testing.T) {
	ctx := testContext(t)
	cluster, raftDir := raftcluster.Snapshotted(t, 1, devcluster.Options{NodeIDPrefix: "old"})

	src := mustNew(t, Config{Kind: RaftDir, Path: raftDir})
	if src.String() != "raft-dir at "+raftDir || src.Kind() != RaftDir {
		t.Fatalf("source %s (%s)", src, src.Kind())
	}
	var archive bytes.Buffer
	_, err := src.Save(ctx, &archive)
	var srcErr *Error
	if !errors.As(err, &srcErr) || !srcErr.Permanent() || !errors.Is(err, raftdir.ErrServerRunning) ||
		!strings.HasPrefix(err.Error(), "raft-dir at "+raftDir+": the raft-boltdb log store "+filepath.Join(raftDir, "raft.db")+" is locked by a running server") {
		t.Fatalf("save while running: %v", err)
	}

	if err := cluster.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := src.Save(ctx, &archive)
	if err != nil {
		t.Fatalf("save of the stopped server: %v", err)
	}
	report := verifyArchive(t, archive.Bytes(), src.VerifyOptions())
	if res.Bytes != report.ArchiveBytes || res.LogLag == nil {
		t.Fatalf("result %+v, archive %d bytes", res, report.ArchiveBytes)
	}
	if res.LogLag.LogStore != raftdir.LogStoreBolt || res.LogLag.SnapshotIndex != report.Meta.Index || res.LogLag.Missing == 0 {
		t.Fatalf("log lag %+v for a snapshot at %d with a later write in the log", res.LogLag, report.Meta.Index)
	}

	target := raftcluster.Start(t, devcluster.Options{NodeIDPrefix: "new"})
	restore := mustNew(t, Config{Kind: Raft, Address: raftcluster.Leader(t, target).HTTPAddr})
	if err := restore.Restore(ctx, bytes.NewReader(archive.Bytes()), int64(archive.Len())); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := target.Get(ctx, "snap-1"); err != nil || !ok || v != "value 1" {
		t.Fatalf("after restore snap-1 = %q, %v, %v", v, ok, err)
	}
	if _, ok, _ := target.Get(ctx, "after-snapshots"); ok {
		t.Fatal("a write that was only in the log came back: the archive holds the snapshot only")
	}

	err = src.Restore(ctx, bytes.NewReader(archive.Bytes()), int64(archive.Len()))
	if !errors.As(err, &srcErr) || !srcErr.Permanent() || srcErr.Op != OpRestore ||
		!strings.Contains(err.Error(), "cannot restore into a raft directory: it reads a stopped server's files and never writes them") {
		t.Fatalf("restore into raft-dir: %v", err)
	}
}

// TestRaftDirErrors: a damaged snapshot is judged as a damaged archive
// would be; a directory that is not a server's is a permanent source error.
func TestRaftDirErrors(t *testing.T) {
	ctx := testContext(t)
	cluster, raftDir := raftcluster.Snapshotted(t, 1, devcluster.Options{})
	if err := cluster.Close(); err != nil {
		t.Fatal(err)
	}
	states, _ := filepath.Glob(filepath.Join(raftDir, "snapshots", "*", "state.bin"))
	if len(states) != 1 {
		t.Fatalf("state files %v", states)
	}
	if err := os.WriteFile(states[0], []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := mustNew(t, Config{Kind: RaftDir, Path: raftDir})
	_, err := src.Save(ctx, new(bytes.Buffer))
	var archiveErr *snapshot.Error
	if !errors.As(err, &archiveErr) || !errors.Is(err, snapshot.ErrStateSize) || !errors.Is(err, raftdir.ErrNoValidSnapshot) ||
		!strings.HasPrefix(archiveErr.Error(), filepath.Join(raftDir, "snapshots")+" holds no intact snapshot") {
		t.Fatalf("damaged snapshot: %v", err)
	}

	plain := mustNew(t, Config{Kind: RaftDir, Path: t.TempDir()})
	_, err = plain.Save(ctx, new(bytes.Buffer))
	var srcErr *Error
	if !errors.As(err, &srcErr) || !srcErr.Permanent() || !errors.Is(err, raftdir.ErrNotRaftDir) {
		t.Fatalf("plain directory: %v", err)
	}
}

func TestRaftDirConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no_path", Config{Kind: RaftDir}, "invalid raft-dir source configuration: path: is empty: give the server's raft directory or its data_dir"},
		{"address", Config{Kind: RaftDir, Path: "/d", Address: "http://127.0.0.1:8500"},
			"invalid raft-dir source configuration: address: applies to consul, nomad, vault and raft sources only; raft-dir reads files (path)"},
		{"token_file", Config{Kind: RaftDir, Path: "/d", TokenFile: "/t"}, "invalid raft-dir source configuration: token_file: applies to"},
		{"tls", Config{Kind: RaftDir, Path: "/d", TLS: TLSConfig{CAFile: "/ca"}}, "invalid raft-dir source configuration: tls: applies to"},
		{"max_size", Config{Kind: RaftDir, Path: "/d", MaxSize: 10}, "invalid raft-dir source configuration: max_size: applies to"},
		{"stale", Config{Kind: RaftDir, Path: "/d", Stale: true}, "invalid raft-dir source configuration: stale: raft-dir has no stale mode (it reads what the stopped server last wrote)"},
		{"region", Config{Kind: RaftDir, Path: "/d", Region: "eu"}, "invalid raft-dir source configuration: region: applies to nomad sources only"},
		{"path_on_http", Config{Kind: Consul, Address: "http://127.0.0.1:8500", Path: "/d"}, "invalid consul source configuration: path: applies to raft-dir sources only; give an address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			var cfgErr *ConfigError
			if !errors.As(err, &cfgErr) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("New(%+v) = %v, want %q", tc.cfg, err, tc.want)
			}
		})
	}
	// The daemon's deferred source shows the path and builds nothing more.
	d, err := NewDeferred(Config{Kind: RaftDir, Path: "/var/lib/consul", ConnectTimeout: DefaultConnectTimeout}, nil)
	if err != nil || d.String() != "raft-dir at /var/lib/consul" || d.StaleFallback() {
		t.Fatalf("deferred: %v, %v", d, err)
	}
}
