package snapshot_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/snapshot"
)

// TestSaveConcurrent: many Saves at once on one node. The file snapshot
// store keeps only the newest few snapshots, so without serialising "take"
// and "open", a snapshot could be reaped by the others before its Save
// opened it ("open .../meta.json: no such file or directory"; found by the
// daemon load test with 100 jobs on one cluster).
func TestSaveConcurrent(t *testing.T) {
	c := startCluster(t, devcluster.Options{Nodes: 1})
	putKeys(t, c, 5, "concurrent")
	r := leaderOf(t, c).Raft
	const saves = 200
	var wg sync.WaitGroup
	errs := make(chan error, saves)
	for i := range saves {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			if _, err := snapshot.Save(r, &buf); err != nil {
				errs <- fmt.Errorf("save %d: %w", i, err)
				return
			}
			if _, err := snapshot.Verify(t.Context(), &buf, snapshot.VerifyOptions{}); err != nil {
				errs <- fmt.Errorf("save %d does not verify: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
