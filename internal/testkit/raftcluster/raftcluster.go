// Package raftcluster starts the in-process hashicorp/raft dev clusters of
// daemon/devcluster for tests: real raft-boltdb stores, file snapshot
// stores and TCP transports on 127.0.0.1, closed when the test ends.
package raftcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/internal/testkit"
)

// StartTimeout bounds a cluster's start-up and the wait for a leader.
const StartTimeout = 30 * time.Second

// Start runs a dev cluster with opts for the test. Dir defaults to a test
// temp directory; Logger defaults to raft's warnings in the test log,
// through testkit.Logger, which stays safe when a transport goroutine logs
// after the test ended. Close errors fail the test.
func Start(t testing.TB, opts devcluster.Options) *devcluster.Cluster {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = testkit.Logger(t, slog.LevelWarn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	c, err := devcluster.Start(ctx, opts)
	if err != nil {
		t.Fatalf("starting a dev cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("closing the dev cluster: %v", err)
		}
	})
	return c
}

// Leader waits for c's leader.
func Leader(t testing.TB, c *devcluster.Cluster) *devcluster.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	n, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Follower returns a running node of c that does not lead, once it has
// applied every entry the leader had applied when asked: a follower still
// catching up has nothing to snapshot yet (its handler answers 503), which
// made stale saves from it fail at random.
func Follower(t testing.TB, c *devcluster.Cluster) *devcluster.Node {
	t.Helper()
	leader := Leader(t, c)
	for _, n := range c.Nodes() {
		if n != leader && !n.Stopped() {
			applied := leader.Raft.AppliedIndex()
			if err := testkit.Poll(testkit.DefaultWait, func() bool { return n.Raft.AppliedIndex() >= applied }); err != nil {
				t.Fatalf("follower %s did not apply up to index %d", n.ID, applied)
			}
			return n
		}
	}
	t.Fatal("no running follower")
	return nil
}

// Put writes key=value through c's leader, failing the test on error.
func Put(t testing.TB, c *devcluster.Cluster, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	if err := c.Put(ctx, key, value); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// Fill writes about mib MiB of random hex values (gzip compresses them
// about 2:1) through c's leader, so that its snapshots are as big as a
// test needs, for instance bigger than what a restore holds back.
func Fill(t testing.TB, c *devcluster.Cluster, mib int) {
	t.Helper()
	raw := make([]byte, 128<<10)
	for i := range mib * 4 {
		rand.Read(raw)
		Put(t, c, fmt.Sprintf("fill/%04d", i), hex.EncodeToString(raw))
	}
}

// Snapshotted runs a one-node dev cluster (in opts.Dir, a test temp
// directory when empty) whose raft directory then holds n raft snapshots,
// the key "snap-i" written before the i-th (from 1), and one entry after
// the last one, the key "after-snapshots", that only the log holds. It
// returns the cluster, still running (close it to read the directory as a
// stopped server leaves it), and the node's raft directory (raft.db and
// snapshots/).
func Snapshotted(t testing.TB, n int, opts devcluster.Options) (*devcluster.Cluster, string) {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	opts.Nodes = 1
	c := Start(t, opts)
	leader := Leader(t, c)
	for i := 1; i <= n; i++ {
		Put(t, c, fmt.Sprintf("snap-%d", i), fmt.Sprintf("value %d", i))
		if err := leader.Raft.Snapshot().Error(); err != nil {
			t.Fatalf("raft snapshot %d: %v", i, err)
		}
	}
	Put(t, c, "after-snapshots", "only in the log")
	return c, filepath.Join(c.Dir(), "node-0")
}
