package source

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"
)

// TestRaftKindAgainstDevCluster runs the raft source against a real
// 3-node hashicorp/raft cluster whose nodes serve snapshot.NewHandler.
func TestRaftKindAgainstDevCluster(t *testing.T) {
	ctx := testContext(t)
	cluster := raftcluster.Start(t, devcluster.Options{Nodes: 3, Token: testToken})
	leader, follower := raftcluster.Leader(t, cluster), raftcluster.Follower(t, cluster)
	if err := cluster.Put(ctx, "k", "before"); err != nil {
		t.Fatal(err)
	}

	src := mustNew(t, Config{Kind: Raft, Address: leader.HTTPAddr, Token: testToken})
	res, archive, report := mustSaveDigested(t, ctx, "save from leader", src)
	if got := res.Headers["X-Raft-Index"]; got != strconv.FormatUint(report.Meta.Index, 10) {
		t.Fatalf("X-Raft-Index %q, archive index %d", got, report.Meta.Index)
	}
	if res.Headers["X-Raft-Known-Leader"] != "true" || res.Headers["X-Raft-Term"] == "" {
		t.Fatalf("headers not recorded: %v", res.Headers)
	}

	consistentFollower := mustNew(t, Config{Kind: Raft, Address: follower.HTTPAddr, Token: testToken})
	_, err := consistentFollower.Save(ctx, &bytes.Buffer{})
	assertStatusError(t, err, http.StatusServiceUnavailable, false, "503 from raft at "+follower.HTTPAddr+"/v1/snapshot: ")

	// A follower can snapshot only once it has applied an entry; raft has no
	// notification for a follower's apply, so poll its state machine.
	waitFor(t, "follower applied k", func() bool {
		v, ok := follower.FSM.Get("k")
		return ok && v == "before"
	})
	mustSaveDigested(t, ctx, "stale save from follower", mustNew(t, Config{Kind: Raft, Address: follower.HTTPAddr, Token: testToken, Stale: true}))

	wrongToken := mustNew(t, Config{Kind: Raft, Address: leader.HTTPAddr, Token: "not-the-token"})
	_, err = wrongToken.Save(ctx, &bytes.Buffer{})
	assertStatusError(t, err, http.StatusUnauthorized, true, "401 from raft at ")
	if strings.Contains(err.Error(), "not-the-token") || strings.Contains(err.Error(), testToken) {
		t.Fatalf("token in error: %v", err)
	}

	if err := cluster.Put(ctx, "k", "after"); err != nil {
		t.Fatal(err)
	}
	if err := src.Restore(ctx, bytes.NewReader(archive), int64(len(archive))); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got, ok, err := cluster.Get(ctx, "k"); err != nil || !ok || got != "before" {
		t.Fatalf("after restore k = %q (exists %v, err %v), want before", got, ok, err)
	}
}

var waitFor = testkit.Eventually
