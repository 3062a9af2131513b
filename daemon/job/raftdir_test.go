package job

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"
	"github.com/raftsnap/raftsnap/snapshot/raftdir"
	"github.com/raftsnap/raftsnap/snapshot/source"
)

// TestSnapshotJobFromRaftDir runs a snapshot job on a stopped server's raft
// directory, as the daemon builds it: the newest snapshot is damaged, the
// older one is stored with the log lag in its record and warnings in the
// run report.
func TestSnapshotJobFromRaftDir(t *testing.T) {
	dir := t.TempDir()
	c := raftcluster.Start(t, devcluster.Options{Dir: dir})
	leader := raftcluster.Leader(t, c)
	raftcluster.Put(t, c, "a", "1")
	if err := leader.Raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	raftcluster.Put(t, c, "b", "2")
	if err := leader.Raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	raftcluster.Put(t, c, "c", "3")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	raftDir := filepath.Join(dir, "node-0")
	snaps, _ := filepath.Glob(filepath.Join(raftDir, raftdir.SnapshotsDir, "*"))
	if len(snaps) != 2 {
		t.Fatalf("snapshot directories %v, want 2", snaps)
	}
	// Newest first: names are TERM-INDEX-MILLISECONDS, one term here.
	index := func(path string) int {
		n, _ := strconv.Atoi(strings.Split(filepath.Base(path), "-")[1])
		return n
	}
	sort.Slice(snaps, func(i, j int) bool { return index(snaps[i]) > index(snaps[j]) })
	// Same size, other bytes: only the CRC-64 can tell.
	state := filepath.Join(snaps[0], "state.bin")
	data, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	data[0] ^= 0xff
	if err := os.WriteFile(state, data, 0o644); err != nil {
		t.Fatal(err)
	}

	src, err := source.NewDeferred(source.Config{Kind: source.RaftDir, Path: raftDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	j := takeSnapshots(t, "stopped-cluster", src, st, 1)
	rep := *j.Status().LastRun
	if rep.Result != "success" {
		t.Fatalf("run %+v", rep)
	}
	entries, _, err := st.List(testContext(t))
	if err != nil || len(entries) != 1 {
		t.Fatalf("stored %+v, %v", entries, err)
	}
	e := entries[0]
	if e.RaftID != filepath.Base(snaps[1]) || e.Source != "raft-dir at "+raftDir || !e.Verified {
		t.Fatalf("stored %+v, want the older snapshot %s", e, filepath.Base(snaps[1]))
	}
	if e.LogLag == nil || e.LogLag.LogStore != raftdir.LogStoreBolt || e.LogLag.SnapshotIndex != e.Index || e.LogLag.Missing == 0 {
		t.Fatalf("log lag recorded as %+v for index %d", e.LogLag, e.Index)
	}
	warnings := strings.Join(rep.Warnings, "\n")
	for _, want := range []string{"skipped 1 newer damaged snapshot(s): " + filepath.Base(snaps[0]), "CRC-64",
		e.LogLag.String()} {
		if !strings.Contains(warnings, want) {
			t.Errorf("run warnings lack %q:\n%s", want, warnings)
		}
	}
}
