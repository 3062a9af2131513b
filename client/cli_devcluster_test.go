package client

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"
)

func startDevCluster(t *testing.T, nodes int) (*devcluster.Cluster, *devcluster.Node) {
	t.Helper()
	c := raftcluster.Start(t, devcluster.Options{Nodes: nodes})
	return c, raftcluster.Leader(t, c)
}

// blueDevCluster starts a dev cluster of nodes, fills it with fillMiB MiB
// of data and sets its key color to blue: a state a restore must keep or
// bring back.
func blueDevCluster(t *testing.T, nodes, fillMiB int) (*devcluster.Cluster, *devcluster.Node) {
	t.Helper()
	c, leader := startDevCluster(t, nodes)
	if fillMiB > 0 {
		raftcluster.Fill(t, c, fillMiB)
	}
	if err := c.Put(context.Background(), "color", "blue"); err != nil {
		t.Fatal(err)
	}
	return c, leader
}

// TestCLIDevCluster saves from and restores into the embedded 3-node raft
// cluster through the snapshot handler every node serves.
func TestCLIDevCluster(t *testing.T) {
	c, leader := blueDevCluster(t, 3, 0)
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "dev.snap")
	mustRaftsnap(t, "snapshot", "save", "--source", "raft", "--address", leader.HTTPAddr, file)
	mustRaftsnap(t, "snapshot", "verify", file)
	// A follower refuses a consistent save; the hint names this CLI's
	// flag, not the handler's query string, and --stale then works.
	follower := raftcluster.Follower(t, c)
	r := raftsnap(t, "snapshot", "save", "--source", "raft", "--address", follower.HTTPAddr, filepath.Join(dir, "f.snap"))
	if r.Code != ExitError || !strings.Contains(r.Stderr, "not the leader") || !strings.Contains(r.Stderr, "let any server answer with --stale") || strings.Contains(r.Stderr, "?stale") {
		t.Fatalf("save from a follower: %s", r)
	}
	mustRaftsnap(t, "snapshot", "save", "--source", "raft", "--address", follower.HTTPAddr, "--stale", filepath.Join(dir, "f.snap"))
	ins := mustRaftsnap(t, "snapshot", "inspect", file)
	if !strings.Contains(ins.Stdout, "node-0") || !strings.Contains(ins.Stdout, "voter") {
		t.Fatalf("inspect does not list the cluster's servers:\n%s", ins.Stdout)
	}

	if err := c.Put(ctx, "color", "red"); err != nil {
		t.Fatal(err)
	}
	mustRaftsnap(t, "snapshot", "restore", "--source", "raft", "--address", leader.HTTPAddr, "--yes", file)
	for _, n := range c.Nodes() {
		waitFor(t, "restored key on "+string(n.ID), func() bool {
			v, _ := n.FSM.Get("color")
			return v == "blue"
		})
	}
}

// TestCLISaveCutBodyKeepsOldFile puts a proxy that answers 200 and then cuts
// the body in front of the real dev cluster: the save fails with a clear
// error, and neither the existing file nor a .part file is touched or left.
func TestCLISaveCutBodyKeepsOldFile(t *testing.T) {
	c, leader := startDevCluster(t, 1)
	if err := c.Put(context.Background(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "dev.snap")
	old := mustSave(t, "raft", leader.HTTPAddr, file)

	proxy := cuttingProxy(t, leader.HTTPAddr, 100)
	r := raftsnap(t, "snapshot", "save", "--source", "raft", "--address", proxy, file)
	if r.Code == ExitOK || !strings.Contains(r.Stderr, "cut short") {
		t.Fatalf("save through a cutting proxy: %s", r)
	}
	now, err := os.ReadFile(file)
	if err != nil || string(now) != string(old) {
		t.Fatalf("the existing snapshot was changed by a failed save (err %v)", err)
	}
	assertOnlyFiles(t, dir, "dev.snap")
}

// cuttingProxy forwards to target but stops every response body after n
// bytes while keeping the upstream Content-Length, as a server that dies
// mid-transfer would.
func cuttingProxy(t *testing.T, target string, n int64) string {
	t.Helper()
	p := testkit.NewProxy(t, target)
	p.Set(testkit.Fault{Cut: testkit.CutClose, CutAt: n})
	return p.URL
}

var waitFor = testkit.Eventually

// TestCLISaveBadBodyIsNotStored: a server (here a stand-in) answers 200
// with something that is not an archive. The save stops at the first
// bytes, says why, exits 3, and leaves nothing behind.
//   - an error page: a large HTML page, as a misconfigured proxy sends;
//   - garbage: an archive content type, but bytes that are not gzip, stop
//     the download once the verifier sees them.
func TestCLISaveBadBodyIsNotStored(t *testing.T) {
	for _, c := range []struct {
		name, contentType string
		body              []byte
		want              []string
	}{
		{"error page", "text/html", []byte(strings.Repeat("<html><body>Service Unavailable</body></html>\n", 100_000)),
			[]string{"not a snapshot archive", "text/html"}},
		{"garbage", "application/octet-stream", bytes.Repeat([]byte("not an archive at all "), 400_000),
			[]string{"failed verification, not saved", "not gzip"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", c.contentType)
				w.Write(c.body)
			}))
			defer srv.Close()
			dir := t.TempDir()
			r := raftsnap(t, "snapshot", "save", "--source", "raft", "--address", srv.URL, filepath.Join(dir, "x.snap"))
			if r.Code != ExitInvalid || !strings.Contains(r.Stderr, c.want[0]) || !strings.Contains(r.Stderr, c.want[1]) {
				t.Fatalf("save of %s: %s", c.name, r)
			}
			assertOnlyFiles(t, dir)
		})
	}
}
