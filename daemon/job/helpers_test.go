package job

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"

	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/snapshot/retention"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func startCluster(t *testing.T, nodes int) (*devcluster.Cluster, *devcluster.Node) {
	t.Helper()
	ctx := testContext(t)
	c, err := devcluster.Start(ctx, devcluster.Options{Nodes: nodes, Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("starting dev cluster: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A node with nothing applied has nothing to snapshot.
	if err := c.Put(ctx, "seed", "1"); err != nil {
		t.Fatal(err)
	}
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

func openStore(t *testing.T) *store.Local {
	t.Helper()
	st, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
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
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
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

// proxy sits in front of a real dev-cluster node to inject faults the node
// cannot produce on demand. behave returns true when it answered the
// request itself; otherwise the request is forwarded.
type proxy struct {
	*httptest.Server
	upstream string
	requests atomic.Int64
	mu       sync.Mutex
	times    []time.Time
	behave   func(n int64, w http.ResponseWriter, r *http.Request) bool
	// trickle, when set, forwards only the first chunk of the body, then
	// signals firstChunk and holds the connection until the client leaves.
	trickle    bool
	firstChunk chan struct{}
	// hold, when set, delays forwarding until it is closed.
	hold     chan struct{}
	received chan struct{}
}

func newProxy(t *testing.T, upstream string) *proxy {
	p := &proxy{upstream: upstream, firstChunk: make(chan struct{}, 16), received: make(chan struct{}, 16)}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

func (p *proxy) serve(w http.ResponseWriter, r *http.Request) {
	n := p.requests.Add(1)
	p.mu.Lock()
	p.times = append(p.times, time.Now())
	p.mu.Unlock()
	p.received <- struct{}{}
	if p.behave != nil && p.behave(n, w, r) {
		return
	}
	if p.hold != nil {
		select {
		case <-p.hold:
		case <-r.Context().Done():
			return
		}
	}
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.RequestURI(), r.Body)
	req.ContentLength = r.ContentLength
	for k, v := range r.Header {
		req.Header[k] = v
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	if !p.trickle {
		io.Copy(w, resp.Body)
		return
	}
	buf := make([]byte, 64)
	k, _ := io.ReadFull(resp.Body, buf)
	w.Write(buf[:k])
	w.(http.Flusher).Flush()
	p.firstChunk <- struct{}{}
	<-r.Context().Done()
}

func (p *proxy) requestTimes() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.times...)
}

// recorder is a Metrics that remembers what it was told.
type recorder struct {
	mu       sync.Mutex
	finished []string // "result/reason"
	restores []controlapi.Result
	pruned   int
	stores   int
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
func (m *recorder) Pruned(_ string, n int) {
	m.mu.Lock()
	m.pruned += n
	m.mu.Unlock()
}
func (m *recorder) RestoreFinished(_ string, r controlapi.Result) {
	m.mu.Lock()
	m.restores = append(m.restores, r)
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
