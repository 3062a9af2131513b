package snapshot_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"
	"github.com/raftsnap/raftsnap/snapshot"
)

// The kit's cluster start-up: raft's warnings go to the test log through
// a logger that stays safe after the test (a transport goroutine may log
// late), and Close errors fail the test.
var (
	startCluster = raftcluster.Start
	leaderOf     = raftcluster.Leader
	followerOf   = raftcluster.Follower
	eventually   = testkit.Eventually
)

var testContext = testkit.Context

func putKeys(t *testing.T, c *devcluster.Cluster, n int, prefix string) map[string]string {
	t.Helper()
	want := map[string]string{}
	for i := range n {
		k, v := fmt.Sprintf("key-%03d", i), fmt.Sprintf("%s-%d", prefix, i)
		if err := c.Put(testContext(t), k, v); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	return want
}

// mutate changes, deletes and adds keys so a restore has something to undo.
func mutate(t *testing.T, c *devcluster.Cluster) {
	t.Helper()
	ctx := testContext(t)
	if err := c.Put(ctx, "key-000", "changed"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "key-001"); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "added-after-save", "x"); err != nil {
		t.Fatal(err)
	}
}

// awaitData waits until every running node holds exactly want.
func awaitData(t *testing.T, c *devcluster.Cluster, want map[string]string) {
	t.Helper()
	for _, n := range c.Nodes() {
		if n.Stopped() {
			continue
		}
		eventually(t, fmt.Sprintf("%s to hold the expected %d keys", n.ID, len(want)), func() bool {
			return maps.Equal(n.FSM.Data(), want)
		})
	}
}

// awaitEmptyDir waits for dir to be empty: a handler removes its temporary
// file after the client has read the last byte, so this can lag a little.
func awaitEmptyDir(t *testing.T, dir string) {
	t.Helper()
	eventually(t, dir+" to hold no temporary files", func() bool {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		return len(entries) == 0
	})
}

func TestSaveVerifyRestoreThreeNodes(t *testing.T) {
	c := startCluster(t, devcluster.Options{Nodes: 3})
	want := putKeys(t, c, 50, "saved")
	leader := leaderOf(t, c)

	var archive bytes.Buffer
	meta, err := snapshot.Save(leader.Raft, &archive)
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	if meta.Index == 0 || meta.Term == 0 || meta.Size == 0 {
		t.Fatalf("Save returned meta %+v", meta)
	}
	report, err := snapshot.Verify(t.Context(), bytes.NewReader(archive.Bytes()), snapshot.VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify of a saved archive: %v", err)
	}
	if report.Meta.Index != meta.Index || report.Meta.Term != meta.Term || report.Meta.Size != meta.Size {
		t.Fatalf("archive meta %+v differs from raft's %+v", report.Meta, *meta)
	}
	if report.ArchiveBytes != int64(archive.Len()) {
		t.Fatalf("report says %d archive bytes, buffer has %d", report.ArchiveBytes, archive.Len())
	}

	mutate(t, c)
	if maps.Equal(leader.FSM.Data(), want) {
		t.Fatal("mutation did not change the data")
	}
	spoolDir := t.TempDir()
	restored, err := snapshot.Restore(t.Context(), leader.Raft, bytes.NewReader(archive.Bytes()), snapshot.RestoreOptions{TempDir: spoolDir})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if restored.Index != meta.Index {
		t.Fatalf("Restore returned index %d, want the archive's %d", restored.Index, meta.Index)
	}
	awaitData(t, c, want)
	awaitEmptyDir(t, spoolDir)

	// The restored cluster keeps working.
	if err := c.Put(testContext(t), "after-restore", "ok"); err != nil {
		t.Fatal(err)
	}
	want["after-restore"] = "ok"
	awaitData(t, c, want)
}

func corruptions(t *testing.T, archive []byte) map[string][]byte {
	flipped := bytes.Clone(archive)
	flipped[len(flipped)/2] ^= 0xff
	return map[string][]byte{
		"flipped byte": flipped,
		"truncated":    archive[:len(archive)*2/3],
		"not gzip":     []byte("<html>502 Bad Gateway</html>"),
		"empty":        nil,
	}
}

func TestRestoreRefusesCorruptArchive(t *testing.T) {
	c := startCluster(t, devcluster.Options{Nodes: 3})
	putKeys(t, c, 200, "saved")
	leader := leaderOf(t, c)
	var archive bytes.Buffer
	if _, err := snapshot.Save(leader.Raft, &archive); err != nil {
		t.Fatal(err)
	}
	mutate(t, c)
	want := leader.FSM.Data()
	awaitData(t, c, want)
	lastIndex := leader.Raft.LastIndex()

	spoolDir := t.TempDir()
	for name, bad := range corruptions(t, archive.Bytes()) {
		t.Run(name, func(t *testing.T) {
			_, err := snapshot.Restore(t.Context(), leader.Raft, bytes.NewReader(bad), snapshot.RestoreOptions{TempDir: spoolDir})
			if !errors.Is(err, snapshot.ErrArchiveRejected) {
				t.Fatalf("Restore of a %s archive: err = %v, want ErrArchiveRejected", name, err)
			}
			var archiveErr *snapshot.Error
			if !errors.As(err, &archiveErr) {
				t.Fatalf("error %v carries no *snapshot.Error", err)
			}
			t.Logf("refused: %v", err)
		})
	}
	// Raft saw nothing: no new log entry (a restore appends one) and the
	// data is what it was on every node.
	if got := leader.Raft.LastIndex(); got != lastIndex {
		t.Fatalf("raft last index moved from %d to %d", lastIndex, got)
	}
	awaitData(t, c, want)
	awaitEmptyDir(t, spoolDir)
}

func TestRestoreOnFollowerFails(t *testing.T) {
	c := startCluster(t, devcluster.Options{Nodes: 3})
	putKeys(t, c, 5, "saved")
	var archive bytes.Buffer
	if _, err := snapshot.Save(leaderOf(t, c).Raft, &archive); err != nil {
		t.Fatal(err)
	}
	spoolDir := t.TempDir()
	_, err := snapshot.Restore(t.Context(), followerOf(t, c).Raft, &archive, snapshot.RestoreOptions{TempDir: spoolDir})
	if !errors.Is(err, raft.ErrNotLeader) {
		t.Fatalf("Restore on a follower: err = %v, want raft.ErrNotLeader", err)
	}
	awaitEmptyDir(t, spoolDir)
}

func TestSaveAndRestoreRejectNilRaft(t *testing.T) {
	if _, err := snapshot.Save(nil, &bytes.Buffer{}); err == nil {
		t.Fatal("Save(nil) succeeded")
	}
	if _, err := snapshot.Restore(t.Context(), nil, &bytes.Buffer{}, snapshot.RestoreOptions{}); err == nil {
		t.Fatal("Restore(nil) succeeded")
	}
}
