package job

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"

	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/snapshot/retention"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

var testContext = testkit.Context

func startCluster(t *testing.T, nodes int) (*devcluster.Cluster, *devcluster.Node) {
	t.Helper()
	c := raftcluster.Start(t, devcluster.Options{Nodes: nodes})
	leader := raftcluster.Leader(t, c)
	// A node with nothing applied has nothing to snapshot.
	raftcluster.Put(t, c, "seed", "1")
	return c, leader
}

func raftSource(t *testing.T, addr string) source.Source {
	t.Helper()
	src, err := source.New(source.Config{Kind: source.Raft, Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// startJob runs j until the test ends. stop asks it to stop and, as a
// shutdown does once its grace is over, aborts the run in progress, then
// waits for Run to return.
func startJob(t *testing.T, j Job) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		j.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			j.Abort()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("job %s: Run did not return after cancel", j.Name())
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls a job's observable state (there is no event for "the
// status changed") until cond holds.
var waitFor = testkit.Eventually

// awaitFirstRun waits for j's first finished run (the start-up run) and
// returns its report.
func awaitFirstRun(t *testing.T, j Job) controlapi.RunReport {
	t.Helper()
	waitFor(t, "the first run of "+j.Name(), func() bool { return j.Status().LastRun != nil })
	return *j.Status().LastRun
}

// takeSnapshots runs a snapshot job (interval 1h) on src into st for n
// runs, its start-up run and n-1 wakeups, then stops it.
// snapshotOfOneNode starts a one-node cluster holding key=value and takes
// one snapshot of it with a snapshot job "src" into a new local store. It
// returns the store and that job's run.
func snapshotOfOneNode(t *testing.T, key, value string) (*store.Local, controlapi.RunReport) {
	t.Helper()
	c, leader := startCluster(t, 1)
	if err := c.Put(testContext(t), key, value); err != nil {
		t.Fatal(err)
	}
	st := storetest.Local(t)
	return st, *takeSnapshots(t, "src", raftSource(t, leader.HTTPAddr), st, 1).Status().LastRun
}

func takeSnapshots(t *testing.T, name string, src source.Source, st store.Store, n int) *SnapshotJob {
	t.Helper()
	j, err := NewSnapshotJob(SnapshotOptions{Name: name, Source: src, Store: st, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	stop := startJob(t, j)
	awaitFirstRun(t, j)
	for range n - 1 {
		wakeAndWait(t, j)
	}
	stop()
	return j
}

func awaitReport(t *testing.T, ch <-chan controlapi.RunReport) controlapi.RunReport {
	t.Helper()
	select {
	case rep, ok := <-ch:
		if !ok {
			t.Fatal("report channel closed without a report")
		}
		return rep
	case <-time.After(60 * time.Second):
		t.Fatal("timed out waiting for a run report")
	}
	return controlapi.RunReport{}
}

func wakeAndWait(t *testing.T, j Job) controlapi.RunReport {
	t.Helper()
	ch, _, err := j.Wakeup()
	if err != nil {
		t.Fatal(err)
	}
	return awaitReport(t, ch)
}

func partFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.part"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// holdAfterFirstBytes makes the kit's proxy forward the first bytes of a
// snapshot, signal Held, and hold the connection until the client leaves:
// a run stays in its download phase for as long as the test needs.
var holdAfterFirstBytes = testkit.Fault{HoldAfter: 64}

// recorder is a Metrics that remembers what it was told.
type recorder struct {
	mu       sync.Mutex
	finished []string // "result/reason"
	restores []controlapi.Result
	pruned   int
	foreign  int // the last pass's foreign files
	stores   int
	ready    []bool
	// scrubbed counts what scrub runs read: ok and rotted.
	scrubbed [2]int
	// storeSums is the last summary of each store (by Location).
	storeSums map[string]controlapi.StoreSummary
}

func (m *recorder) Scrubbed(_ string, ok, rotted int) {
	m.mu.Lock()
	m.scrubbed[0] += ok
	m.scrubbed[1] += rotted
	m.mu.Unlock()
}

func (m *recorder) StoreListed(string, []store.Entry, error) {}

func (m *recorder) JobStores(_ string, sums []controlapi.StoreSummary) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.storeSums == nil {
		m.storeSums = map[string]controlapi.StoreSummary{}
	}
	for _, s := range sums {
		m.storeSums[s.Path] = s
	}
}

func (m *recorder) RunFinished(job, typ string, result controlapi.Result, reason string, d time.Duration, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.finished = append(m.finished, string(result)+"/"+reason)
}
func (m *recorder) LastAttempt(string, time.Time) {}
func (m *recorder) LastSuccess(string, time.Time) {}
func (m *recorder) StoreStats(string, int, int64) {
	m.mu.Lock()
	m.stores++
	m.mu.Unlock()
}
func (m *recorder) Pruned(_ string, n, foreign int) {
	m.mu.Lock()
	m.pruned += n
	m.foreign = foreign
	m.mu.Unlock()
}
func (m *recorder) RestoreFinished(_ string, r controlapi.Result) {
	m.mu.Lock()
	m.restores = append(m.restores, r)
	m.mu.Unlock()
}

func (m *recorder) NextRun(string, *time.Time)                    {}
func (m *recorder) Reported(string, string, controlapi.RunReport) {}

func (m *recorder) SourceReady(_ string, ready bool) {
	m.mu.Lock()
	m.ready = append(m.ready, ready)
	m.mu.Unlock()
}

func (m *recorder) results() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.finished, ",")
}

// lastN is the real retention engine with a single last_n rule.
func lastN(t *testing.T, n int) *retention.Policy {
	t.Helper()
	rule, err := retention.NewLastN(n)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := retention.NewPolicy(rule)
	if err != nil {
		t.Fatal(err)
	}
	return policy
}
