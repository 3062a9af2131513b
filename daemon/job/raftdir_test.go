package job

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"
	"github.com/raftsnap/raftsnap/snapshot/raftdir"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// TestSnapshotJobFromRaftDir runs a snapshot job on a stopped server's raft
// directory, as the daemon builds it: the newest snapshot is damaged, the
// older one is stored with the log lag in its record and warnings in the
// run report.
func TestSnapshotJobFromRaftDir(t *testing.T) {
	c, raftDir := raftcluster.Snapshotted(t, 2, devcluster.Options{})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	ins, err := raftdir.Inspect(testContext(t), raftDir, raftdir.Options{})
	if err != nil || len(ins.Snapshots) != 2 {
		t.Fatalf("inspection %+v, %v; want 2 snapshots", ins, err)
	}
	newest, older := ins.Snapshots[0].Name, ins.Snapshots[1].Name
	// Same size, other bytes: only the CRC-64 can tell.
	testkit.FlipByte(t, filepath.Join(raftDir, raftdir.SnapshotsDir, newest, "state.bin"), 0)

	src, err := source.NewDeferred(source.Config{Kind: source.RaftDir, Path: raftDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.Local(t)
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
	if e.RaftID != older || e.Source != "raft-dir at "+raftDir || !e.Verified {
		t.Fatalf("stored %+v, want the older snapshot %s", e, older)
	}
	if e.LogLag == nil || e.LogLag.LogStore != raftdir.LogStoreBolt || e.LogLag.SnapshotIndex != e.Index || e.LogLag.Missing == 0 {
		t.Fatalf("log lag recorded as %+v for index %d", e.LogLag, e.Index)
	}
	warnings := strings.Join(rep.Warnings, "\n")
	for _, want := range []string{"skipped 1 newer damaged snapshot(s): " + newest, "CRC-64",
		e.LogLag.String()} {
		if !strings.Contains(warnings, want) {
			t.Errorf("run warnings lack %q:\n%s", want, warnings)
		}
	}
}
