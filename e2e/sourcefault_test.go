package e2e

// Faults at the source, through the daemon: a fault-injecting HTTP proxy
// sits between the raftsnap binary and a real source (a 3-node dev
// cluster, a real Consul). Each scenario turns one fault on, wakes the job
// with --wait over the control socket, and checks what must hold: the run
// report's error and attempt count, the failure metric by reason, nothing
// committed, every older snapshot byte-identical, and the next run
// succeeding once the fault is gone.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/daemon/job"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot"
)

// Proxy modes. Each is one fault a real server cannot be made to produce
// on demand; "pass" forwards faithfully.
const (
	modePass         = "pass"
	modeReset        = "reset-mid-body" // 200, half the body, TCP RST
	modeTruncated    = "truncated"      // 200 with the full Content-Length, half the body, FIN
	modeSlowloris    = "slowloris"      // 200, then a byte every 300ms forever
	modeBurst        = "burst"          // 500, 503, then pass
	mode503          = "503"            // 503 on every request
	mode429          = "429"            // 429 with Retry-After: 1 on every request
	modeHTML         = "html"           // 200 with an HTML error page
	modeGzipGarbage  = "gzip-garbage"   // 200, a valid gzip stream of random bytes
	modeHugeLength   = "huge-length"    // 200 announcing 64 MiB
	modeHugeStream   = "huge-stream"    // 200 chunked, a well-formed archive whose state.bin never ends
	modeOtherCluster = "other-cluster"  // forwards to another real cluster
	modeLeaderLoss   = "leader-loss"    // half the body, then the leader is stopped and the connection reset
	modeSurvivor     = "survivor"       // forwards to the first running node (no leader)
	faultTestTimeout = 3 * time.Second  // the jobs' attempt timeout
	faultMaxSize     = 1 << 20          // the jobs' max_size
	slowlorisGap     = 300 * time.Millisecond
)

// sourceFaultProxy is the kit's fault proxy, set by mode.
type sourceFaultProxy struct {
	*testkit.Proxy
	t *testing.T
	// other is the base URL of another cluster (modeOtherCluster).
	other func() string
	// onLeaderLoss stops the leader (modeLeaderLoss).
	onLeaderLoss func()
}

func newSourceFaultProxy(t *testing.T, upstream func() string) *sourceFaultProxy {
	return &sourceFaultProxy{Proxy: testkit.NewProxyTo(t, upstream), t: t}
}

// errorPage is an answer with status and a plain-text message, as a
// server or proxy in trouble sends it.
func errorPage(status int, msg string) testkit.Fault {
	return testkit.Fault{Status: status, Body: msg + "\n"}
}

// setMode makes the following requests meet mode's fault.
func (p *sourceFaultProxy) setMode(mode string) {
	var f testkit.Fault // modePass, modeSurvivor: forward faithfully
	switch mode {
	case modePass, modeSurvivor:
	case modeReset:
		f = testkit.Fault{Cut: testkit.CutReset}
	case modeTruncated:
		f = testkit.Fault{Cut: testkit.CutClose}
	case modeLeaderLoss:
		f = testkit.Fault{Cut: testkit.CutReset, OnCut: func() {
			p.Set(testkit.Fault{}) // the retry reaches whoever leads next
			p.onLeaderLoss()
		}}
	case modeSlowloris:
		f = testkit.Fault{Trickle: testkit.Trickle{First: 16, Chunk: 1, Every: slowlorisGap}}
	case modeBurst:
		p.Set(f)
		p.Queue(errorPage(http.StatusInternalServerError, "rpc error: EOF"), errorPage(http.StatusServiceUnavailable, "service unavailable"))
		return
	case mode503:
		f = errorPage(http.StatusServiceUnavailable, "upstream overloaded")
	case mode429:
		f = errorPage(http.StatusTooManyRequests, "rate limit exceeded")
		f.Header = map[string]string{"Retry-After": "1"}
	case modeHTML:
		f = testkit.Fault{Status: http.StatusOK, Header: map[string]string{"Content-Type": "text/html; charset=utf-8"},
			Body: "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><h1>Corporate proxy: please sign in</h1></body></html>"}
	case modeGzipGarbage:
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		junk := make([]byte, 64<<10)
		rand.Read(junk)
		zw.Write(junk)
		zw.Close()
		f = testkit.Fault{Status: http.StatusOK, Header: map[string]string{"Content-Type": "application/gzip"}, Body: buf.String()}
	case modeHugeLength:
		// 4 KiB of a promised 64 MiB: the client must not read on.
		f = testkit.Fault{Status: http.StatusOK, Body: string(make([]byte, 4096)),
			Header: map[string]string{"Content-Type": "application/gzip", "Content-Length": strconv.Itoa(64 << 20)}}
	case modeHugeStream:
		f = testkit.Fault{Respond: serveEndlessArchive}
	case modeOtherCluster:
		f = testkit.Fault{Upstream: p.other}
	default:
		p.t.Fatalf("proxy: unknown mode %q", mode)
	}
	p.Set(f)
}

// serveEndlessArchive streams a well-formed archive (a real meta.json,
// then a state.bin member announcing 1 TiB) until the client hangs up, so
// that only the size cap can stop it.
func serveEndlessArchive(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/gzip")
	w.WriteHeader(http.StatusOK)
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	meta := []byte(`{"Version":1,"ID":"2-100-1700000000000","Index":100,"Term":2,"Peers":null,"Configuration":{"Servers":[]},"ConfigurationIndex":1,"Size":1099511627776}`)
	tw.WriteHeader(&tar.Header{Name: "meta.json", Mode: 0o600, Size: int64(len(meta)), Typeflag: tar.TypeReg})
	tw.Write(meta)
	tw.WriteHeader(&tar.Header{Name: "state.bin", Mode: 0o600, Size: 1 << 40, Typeflag: tar.TypeReg})
	junk := make([]byte, 64<<10)
	for r.Context().Err() == nil {
		rand.Read(junk)
		if _, err := tw.Write(junk); err != nil {
			return
		}
		zw.Flush()
	}
}

// sourceFaultJobs are two jobs of a %[2]s source at %[3]s (the proxy),
// %[4]s adding to main's source: main with max_size 1MiB and two retries,
// lenient with one retry and on_cluster_change: warn.
var sourceFaultJobs = []string{
	`{name: main, type: snapshot, source: {type: %[2]s, address: %[3]s, max_size: 1MiB%[4]s}, interval: 1h, timeout: 3s, retries: {max: 2, initial_backoff: 50ms, max_backoff: 200ms}, store: {path: %[1]s/main}, pruning: {keep: [{last_n: {count: 100}}]}}`,
	`{name: lenient, type: snapshot, source: {type: %[2]s, address: %[3]s}, interval: 1h, timeout: 3s, retries: {max: 1, initial_backoff: 50ms, max_backoff: 200ms}, on_cluster_change: warn, store: {path: %[1]s/lenient}, pruning: {keep: [{last_n: {count: 100}}]}}`,
}

// faultScenario is one fault and what must follow from it.
type faultScenario struct {
	name, mode, job string
	success         bool
	reason          string // failure reason label (failures only)
	attempts        int    // exact attempts; 0: at least 2
	errContains     []string
	minDuration     time.Duration
	before          func(t *testing.T) // after the fault is set, before the wakeup
	check           func(t *testing.T, rep controlapi.RunReport)
}

// faultHarness is one daemon, its proxy and its stores.
type faultHarness struct {
	d     *daemonProc
	proxy *sourceFaultProxy
	dir   string
}

func startFaultHarness(t *testing.T, kind string, proxy *sourceFaultProxy, extra string) *faultHarness {
	dir := shortTempDir(t)
	configPath := writeConfig(t, dir, controlAndMetrics,
		sourceFaultJobs, kind, proxy.URL, extra)
	h := &faultHarness{d: startDaemon(t, configPath), proxy: proxy, dir: dir}
	// Both jobs catch up at start (their stores are empty): wait for those
	// first, good snapshots.
	for _, name := range []string{"main", "lenient"} {
		j := awaitStatus(t, h.d.Sock, name, "the start-up snapshot", func(j controlapi.JobStatus) bool { return j.LastRun != nil })
		if j.LastRun.Result != controlapi.ResultSuccess {
			t.Fatalf("job %s start-up run: %+v", name, j.LastRun)
		}
	}
	return h
}

// wakeupWait signals a wakeup and returns the report of the run it caused.
func (h *faultHarness) wakeupWait(t *testing.T, name string) controlapi.RunReport {
	t.Helper()
	return *h.d.Signal(t, name, controlapi.OpWakeup, true).Run
}

// failures reads raftsnap_job_failures_total for job and reason.
func (h *faultHarness) failures(t *testing.T, jobName, reason string) float64 {
	t.Helper()
	v, ok := metricValue(h.d.MetricFamilies(t)["raftsnap_job_failures_total"], map[string]string{"job_name": jobName, "reason": reason})
	if !ok {
		t.Fatalf("no raftsnap_job_failures_total{job_name=%q,reason=%q} series", jobName, reason)
	}
	return v
}

// storeFiles hashes every file of a store directory by name.
func storeFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		files[e.Name()] = hex.EncodeToString(sum[:])
	}
	return files
}

func (h *faultHarness) run(t *testing.T, sc faultScenario) {
	t.Helper()
	storeDir := filepath.Join(h.dir, sc.job)
	before := storeFiles(t, storeDir)
	var failuresBefore float64
	if !sc.success {
		failuresBefore = h.failures(t, sc.job, sc.reason)
	}
	h.proxy.setMode(sc.mode)
	if sc.before != nil {
		sc.before(t)
	}
	rep := h.wakeupWait(t, sc.job)
	h.proxy.setMode(modePass)
	t.Logf("%s: %s after %d attempt(s) in %s; error %q; warnings %q",
		sc.name, rep.Result, rep.Attempts, rep.FinishedAt.Sub(rep.StartedAt).Round(time.Millisecond), rep.Error, rep.Warnings)

	if sc.success != (rep.Result == controlapi.ResultSuccess) {
		t.Fatalf("%s: run result %s (error %q), want success=%v", sc.name, rep.Result, rep.Error, sc.success)
	}
	for _, want := range sc.errContains {
		if !strings.Contains(rep.Error, want) {
			t.Errorf("%s: run error %q does not say %q", sc.name, rep.Error, want)
		}
	}
	switch {
	case sc.attempts > 0 && rep.Attempts != sc.attempts:
		t.Errorf("%s: %d attempts, want %d (error %q)", sc.name, rep.Attempts, sc.attempts, rep.Error)
	case sc.attempts == 0 && rep.Attempts < 2:
		t.Errorf("%s: %d attempts, want a retry", sc.name, rep.Attempts)
	}
	if d := rep.FinishedAt.Sub(rep.StartedAt); d < sc.minDuration {
		t.Errorf("%s: the run took %s, want at least %s of backoff", sc.name, d, sc.minDuration)
	}

	after := storeFiles(t, storeDir)
	for name, sum := range before {
		if after[name] != sum {
			t.Errorf("%s: %s changed or vanished (sha256 %s, now %q)", sc.name, name, sum, after[name])
		}
	}
	var added []string
	for name := range after {
		if _, ok := before[name]; !ok {
			added = append(added, name)
		}
	}
	if parts := partFiles(t, storeDir); len(parts) > 0 {
		t.Errorf("%s: temp files left: %v", sc.name, parts)
	}
	if sc.success {
		if len(added) != 2 || rep.Snapshot == "" { // archive + sidecar
			t.Errorf("%s: new files %v, want one snapshot and its sidecar (report names %q)", sc.name, added, rep.Snapshot)
		}
	} else {
		if len(added) > 0 {
			t.Errorf("%s: a failed run left files in the store: %v", sc.name, added)
		}
		if got := h.failures(t, sc.job, sc.reason); got != failuresBefore+1 {
			t.Errorf("%s: failures{reason=%s} went from %v to %v, want +1", sc.name, sc.reason, failuresBefore, got)
		}
		if reason := rep.Error; reason == "" {
			t.Errorf("%s: failed run without an error", sc.name)
		}
	}
	// Every listed snapshot still verifies, and the sidecars match.
	for _, e := range storedSnapshots(t, storeDir) {
		report, err := snapshot.VerifyFile(t.Context(), e.Path, snapshot.VerifyOptions{})
		if err != nil {
			t.Errorf("%s: listed snapshot %s does not verify: %v", sc.name, e.Name, err)
		} else if report.ArchiveSHA256 != e.SHA256 {
			t.Errorf("%s: %s hashes to %s, sidecar says %s", sc.name, e.Name, report.ArchiveSHA256, e.SHA256)
		}
	}
	// The daemon keeps serving, and its status tells the same story.
	st := jobStatus(t, fetchStatus(t, h.d.Sock), sc.job)
	if st.LastRun == nil || st.LastRun.ID != rep.ID || st.LastRun.Error != rep.Error {
		t.Errorf("%s: status last_run %+v, want the run %s", sc.name, st.LastRun, rep.ID)
	}
	if sc.check != nil {
		sc.check(t, rep)
	}
}

// commonFaultScenarios apply to every source behind the proxy.
func commonFaultScenarios() []faultScenario {
	return []faultScenario{
		{name: "connection reset mid-body", mode: modeReset, job: "main", reason: job.ReasonConnection, attempts: 3,
			errContains: []string{"cut short after", "connection reset"}},
		{name: "200 then truncated body", mode: modeTruncated, job: "main", reason: job.ReasonConnection, attempts: 3,
			errContains: []string{"cut short after"}},
		{name: "slowloris beyond the timeout", mode: modeSlowloris, job: "main", reason: job.ReasonTimeout, attempts: 3,
			errContains: []string{"timed out after 3s"}, minDuration: 3 * faultTestTimeout},
		{name: "500/503 burst then recovery", mode: modeBurst, job: "main", success: true, attempts: 3},
		{name: "503 throughout", mode: mode503, job: "main", reason: job.ReasonHTTP5xx, attempts: 3,
			errContains: []string{"503 from", "upstream overloaded"}},
		{name: "429 with Retry-After", mode: mode429, job: "main", reason: job.ReasonHTTP4xx, attempts: 3,
			errContains: []string{"429 from", "rate limit exceeded"}, minDuration: 2 * time.Second},
		{name: "HTML page with 200", mode: modeHTML, job: "main", reason: job.ReasonVerification, attempts: 1,
			errContains: []string{"not a snapshot archive", "text/html", "please sign in"}},
		{name: "valid gzip of garbage", mode: modeGzipGarbage, job: "main", reason: job.ReasonVerification, attempts: 1},
		{name: "Content-Length beyond max_size", mode: modeHugeLength, job: "main", reason: job.ReasonTooLarge, attempts: 1,
			errContains: []string{"over max_size 1MiB", "nothing was downloaded"}},
		{name: "endless body beyond max_size", mode: modeHugeStream, job: "main", reason: job.ReasonTooLarge, attempts: 1,
			errContains: []string{"passed max_size 1MiB", "download aborted after 1048577 bytes"}},
		{name: "archive from a different cluster (fail)", mode: modeOtherCluster, job: "main", reason: job.ReasonClusterChanged, attempts: 1,
			errContains: []string{"different cluster", "not stored", "on_cluster_change: warn"}},
		{name: "archive from a different cluster (warn)", mode: modeOtherCluster, job: "lenient", success: true, attempts: 1,
			check: func(t *testing.T, rep controlapi.RunReport) {
				if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "different cluster") {
					t.Errorf("warnings %q, want one about a different cluster", rep.Warnings)
				}
			}},
		{name: "healthy again", mode: modePass, job: "main", success: true, attempts: 1,
			check: func(t *testing.T, rep controlapi.RunReport) {
				if len(rep.Warnings) != 0 || rep.Stale || len(rep.Servers) == 0 {
					t.Errorf("a healthy run reports warnings %q, stale %v, servers %q", rep.Warnings, rep.Stale, rep.Servers)
				}
			}},
	}
}

// TestSourceFaultsDevCluster runs every fault against the embedded 3-node
// raft cluster, then loses the leader mid-request and finally the quorum.
func TestSourceFaultsDevCluster(t *testing.T) {
	t.Parallel()
	cluster := raftcluster.Start(t, devcluster.Options{Nodes: 3})
	other := raftcluster.Start(t, devcluster.Options{Nodes: 1, NodeIDPrefix: "other"})
	raftcluster.Put(t, cluster, "app/config", "v1")
	raftcluster.Put(t, other, "other/config", "x")

	var survivorMode atomic.Bool
	// Like a load balancer: the leader when there is one, else (survivor
	// mode) the first running node.
	upstream := func() string {
		if !survivorMode.Load() {
			lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if n, err := cluster.Leader(lctx); err == nil {
				return n.HTTPAddr
			}
		}
		for _, n := range cluster.Nodes() {
			if !n.Stopped() {
				return n.HTTPAddr
			}
		}
		return ""
	}
	proxy := newSourceFaultProxy(t, upstream)
	proxy.other = func() string { return other.Nodes()[0].HTTPAddr }
	var stoppedLeader sync.Once
	proxy.onLeaderLoss = func() {
		stoppedLeader.Do(func() {
			lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			n, err := cluster.Leader(lctx)
			if err != nil {
				t.Errorf("no leader to stop: %v", err)
				return
			}
			t.Logf("stopping leader %s mid-request", n.ID)
			if err := n.Stop(); err != nil {
				t.Errorf("stopping the leader: %v", err)
			}
		})
	}
	h := startFaultHarness(t, "raft", proxy, ", stale_fallback: true")

	scenarios := append(commonFaultScenarios(),
		faultScenario{name: "leader lost mid-request", mode: modeLeaderLoss, job: "main", success: true,
			check: func(t *testing.T, rep controlapi.RunReport) {
				// Between the leader's death and the next election the
				// retry may find no leader and fall back to stale; either
				// way it says so.
				if rep.Stale != (len(rep.Warnings) > 0) {
					t.Errorf("stale %v but warnings %q", rep.Stale, rep.Warnings)
				}
			}},
		faultScenario{name: "no leader, stale fallback", mode: modeSurvivor, job: "main", success: true, attempts: 2,
			before: func(t *testing.T) { loseQuorum(t, cluster, &survivorMode) },
			check: func(t *testing.T, rep controlapi.RunReport) {
				if !rep.Stale || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "fell back to a stale snapshot") ||
					!strings.Contains(rep.Warnings[0], "no leader") {
					t.Errorf("stale %v, warnings %q: want the stale fallback reported", rep.Stale, rep.Warnings)
				}
				e := readSidecar(t, filepath.Join(h.dir, "main", rep.Snapshot))
				if !e.Stale || len(e.Servers) != 3 {
					t.Errorf("sidecar of the fallback snapshot: stale %v servers %q, want stale and 3 servers", e.Stale, e.Servers)
				}
			}},
		faultScenario{name: "no leader, no stale fallback", mode: modeSurvivor, job: "lenient", reason: job.ReasonNoLeader, attempts: 2,
			errContains: []string{"503 from", "no leader is known"}},
	)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { h.run(t, sc) })
	}
	scanForLeaks(t, h)
}

// loseQuorum stops every node but one and waits until the survivor knows
// it has no leader.
func loseQuorum(t *testing.T, cluster *devcluster.Cluster, survivorMode *atomic.Bool) {
	t.Helper()
	survivorMode.Store(true)
	var survivor *devcluster.Node
	for _, n := range cluster.Nodes() {
		if n.Stopped() {
			continue
		}
		if survivor == nil && n.Raft.State() != raft.Leader {
			survivor = n
			continue
		}
		if err := n.Stop(); err != nil {
			t.Fatalf("stopping %s: %v", n.ID, err)
		}
	}
	testkit.EventuallyWithin(t, 20*time.Second, fmt.Sprintf("survivor %s to know no leader", survivor.ID), func() bool {
		addr, _ := survivor.Raft.LeaderWithID()
		return addr == ""
	})
}

// TestSourceFaultsConsul runs every fault against a real Consul server.
func TestSourceFaultsConsul(t *testing.T) {
	t.Parallel()
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	other := servers.StartConsul(t, servers.ConsulOptions{})
	consul.PutKV(t, "app/config", "v1")
	other.PutKV(t, "other/config", "x")
	proxy := newSourceFaultProxy(t, func() string { return consul.Addr })
	proxy.other = func() string { return other.Addr }
	h := startFaultHarness(t, "consul", proxy, "")
	for _, sc := range commonFaultScenarios() {
		t.Run(sc.name, func(t *testing.T) { h.run(t, sc) })
	}
	scanForLeaks(t, h)
}

// scanForLeaks: the proxy's fault pages and junk must not have flooded the
// log (server text is capped), and no error crashed a job.
func scanForLeaks(t *testing.T, h *faultHarness) {
	t.Helper()
	for _, line := range strings.Split(h.d.Output(), "\n") {
		if len(line) > 8<<10 {
			t.Errorf("a log line of %d bytes: %.200s…", len(line), line)
		}
	}
	for _, j := range fetchStatus(t, h.d.Sock).Jobs {
		if j.Crashes != 0 {
			t.Errorf("job %s crashed %d times: %s", j.Name, j.Crashes, j.LastCrash)
		}
	}
}
