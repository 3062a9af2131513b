package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"
	"github.com/raftsnap/raftsnap/snapshot/raftdir"
)

// TestDaemonRaftDirJob: a snapshot job of the daemon on a cluster stopped
// on purpose (a real hashicorp/raft server's directory, raft-boltdb and
// file snapshots): the archive verifies, its sidecar records the log lag,
// and the run report says how far the log ran past the snapshot.
func TestDaemonRaftDirJob(t *testing.T) {
	dir := shortTempDir(t)
	c, raftDir := raftcluster.Snapshotted(t, 1, devcluster.Options{Dir: filepath.Join(dir, "cluster")})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	d := startDaemon(t, writeConfig(t, dir, controlIn, []string{
		`{name: stopped, type: snapshot, source: {type: raft-dir, path: %[2]s}, interval: 1h, store: {path: %[1]s/store}, pruning: {keep: [{last_n: {count: 3}}]}}`,
	}, raftDir))
	_, _, _, sc := wakeupStored(t, d.Sock, "stopped", filepath.Join(dir, "store"))
	if sc.Source != "raft-dir at "+raftDir || sc.LogLag == nil ||
		sc.LogLag.LogStore != raftdir.LogStoreBolt || sc.LogLag.SnapshotIndex != sc.Index || sc.LogLag.Missing == 0 {
		t.Fatalf("sidecar %+v (log lag %+v)", sc, sc.LogLag)
	}
	job := jobStatus(t, fetchStatus(t, d.Sock), "stopped")
	if job.LastRun == nil || !strings.Contains(strings.Join(job.LastRun.Warnings, "\n"), sc.LogLag.String()) {
		t.Fatalf("the run report does not carry the log lag %q: %+v", sc.LogLag, job.LastRun)
	}
}
