package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/raftdir"
)

// TestDaemonRaftDirJob: a snapshot job of the daemon on a cluster stopped
// on purpose (a real hashicorp/raft server's directory, raft-boltdb and
// file snapshots): the archive verifies, its sidecar records the log lag,
// and the run report says how far the log ran past the snapshot.
func TestDaemonRaftDirJob(t *testing.T) {
	dir := shortTempDir(t)
	data := filepath.Join(dir, "cluster")
	c := raftcluster.Start(t, devcluster.Options{Dir: data})
	raftcluster.Put(t, c, "k", "in the snapshot")
	if err := leader(t, c).Raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	raftcluster.Put(t, c, "k2", "only in the log")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	raftDir := filepath.Join(data, "node-0")

	d := startDaemon(t, writeConfig(t, dir, controlIn, []string{
		`{name: stopped, type: snapshot, source: {type: raft-dir, path: %[2]s}, interval: 1h, store: {path: %[1]s/store}, pruning: {keep: [{last_n: {count: 3}}]}}`,
	}, raftDir))
	r := rs(t, "signal", "wakeup", "stopped", "--wait", "--socket", d.Sock)
	if r.code != 0 {
		t.Fatalf("signal wakeup stopped --wait: %s", r)
	}
	name := snapName.FindString(r.stdout)
	if name == "" {
		t.Fatalf("wakeup output names no snapshot: %s", r)
	}
	archive := filepath.Join(dir, "store", name)
	report, err := snapshot.VerifyFile(t.Context(), archive, snapshot.VerifyOptions{})
	if err != nil {
		t.Fatalf("the stored snapshot does not verify: %v", err)
	}
	sc := readSidecar(t, archive)
	if sc.Source != "raft-dir at "+raftDir || sc.Index != report.Meta.Index || sc.LogLag == nil ||
		sc.LogLag.LogStore != raftdir.LogStoreBolt || sc.LogLag.SnapshotIndex != sc.Index || sc.LogLag.Missing == 0 {
		t.Fatalf("sidecar %+v (log lag %+v)", sc, sc.LogLag)
	}
	job := jobStatus(t, fetchStatus(t, d.Sock), "stopped")
	if job.LastRun == nil || !strings.Contains(strings.Join(job.LastRun.Warnings, "\n"), sc.LogLag.String()) {
		t.Fatalf("the run report does not carry the log lag %q: %+v", sc.LogLag, job.LastRun)
	}
}
