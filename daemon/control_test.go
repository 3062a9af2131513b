package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/fakejobs"

	"github.com/raftsnap/raftsnap/daemon/job"
	"github.com/raftsnap/raftsnap/nethelpers"
)

// fakeJob stands in for the real jobs (written in parallel; the end-to-end
// tests cover those). A run starts on Wakeup and ends when the test calls
// finish, so every step is driven by events, not timing.
type fakeJob struct {
	fakejobs.Base
	wakeupErr error
	woken     chan struct{} // receives one value per Wakeup call
	mu        sync.Mutex
	running   bool
	current   []chan controlapi.RunReport // callers waiting on the current run
	queued    []chan controlapi.RunReport // callers waiting on the queued run
	hasQueued bool
}

func newFakeJob(name, typ string) *fakeJob {
	return &fakeJob{Base: fakejobs.Base{JobName: name, JobType: typ}, woken: make(chan struct{}, 16)}
}

func (j *fakeJob) Status() controlapi.JobStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := controlapi.JobStatus{Name: j.JobName, Type: j.JobType, State: controlapi.StateWaiting,
		History: []controlapi.RunReport{{ID: "1", Result: controlapi.ResultSuccess}},
		Pruning: &controlapi.PruneSummary{Kept: 1, Decisions: []controlapi.PruneDecision{{Snapshot: "a.snap", Keep: true, Reasons: []string{"newest"}}}}}
	if j.running {
		st.State = controlapi.StateRunning
	}
	if j.hasQueued {
		st.PendingSignal = "wakeup"
	}
	return st
}

func (j *fakeJob) Wakeup() (<-chan controlapi.RunReport, bool, error) {
	if j.wakeupErr != nil {
		return nil, false, j.wakeupErr
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	done := make(chan controlapi.RunReport, 1)
	queued := j.running
	if queued {
		j.hasQueued = true
		j.queued = append(j.queued, done)
	} else {
		j.running = true
		j.current = append(j.current, done)
	}
	j.woken <- struct{}{}
	return done, queued, nil
}

// finish ends the current run with report and starts the queued one, if any.
func (j *fakeJob) finish(report controlapi.RunReport) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range j.current {
		c <- report
	}
	j.current, j.running = nil, false
	if j.hasQueued {
		j.current, j.queued, j.hasQueued, j.running = j.queued, nil, false, true
	}
}

type fakeJobs = fakejobs.Set[*fakeJob]

// requestCounter is a ControlMetrics that tells the test about each request.
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]int
	seen   chan string
}

func (m *requestCounter) ObserveRequest(endpoint string, code int) {
	key := fmt.Sprintf("%s %d", endpoint, code)
	m.mu.Lock()
	m.counts[key]++
	m.mu.Unlock()
	m.seen <- key
}

type controlFixture struct {
	sock    string
	server  *ControlServer
	client  *http.Client
	metrics *requestCounter
	served  chan error
}

var testVersion = controlapi.VersionInfo{Version: "v9.9.9", Commit: "abc123", GoVersion: "go1.26", OS: "linux", Arch: "amd64"}

func startControl(t *testing.T, jobs JobSource) *controlFixture {
	t.Helper()
	sock := filepath.Join(testkit.ShortTempDir(t), "control")
	l, err := nethelpers.ListenPrivate(sock)
	if err != nil {
		t.Fatal(err)
	}
	f := &controlFixture{
		sock:    sock,
		client:  nethelpers.DialHTTPClient(sock),
		metrics: &requestCounter{counts: map[string]int{}, seen: make(chan string, 100)},
		served:  make(chan error, 1),
	}
	f.server = NewControlServer(jobs, testVersion, nil, f.metrics)
	go func() { f.served <- f.server.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := f.server.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-f.served; err != nil {
			t.Errorf("Serve after Shutdown: %v", err)
		}
		l.Close()
	})
	return f
}

func (f *controlFixture) do(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	return f.doCtx(t, context.Background(), method, path, body)
}

// answer is one request's outcome, from doAsync.
type answer struct {
	code int
	body []byte
}

// doAsync sends the request from a goroutine, for a signal that waits;
// the answer arrives on the channel.
func (f *controlFixture) doAsync(t *testing.T, method, path, body string) <-chan answer {
	answers := make(chan answer, 1)
	go func() {
		code, b := f.do(t, method, path, body)
		answers <- answer{code, b}
	}()
	return answers
}

func (f *controlFixture) doCtx(t *testing.T, ctx context.Context, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, nethelpers.BaseURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

func twoJobs() (*fakeJobs, *fakeJob, *fakeJob) {
	snap := newFakeJob("consul-snap", "snapshot")
	restore := newFakeJob("consul-restore", "restore")
	restore.NoReset = true
	header := controlapi.DaemonStatus{Schema: controlapi.SchemaVersion, Version: "v9.9.9", PID: 4242,
		StartedAt: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), Now: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)}
	return &fakeJobs{Header: header, Jobs: []*fakeJob{snap, restore}}, snap, restore
}

func TestControlStatusAndVersion(t *testing.T) {
	jobs, _, _ := twoJobs()
	f := startControl(t, jobs)

	code, body := f.do(t, "GET", "/status", "")
	if code != 200 {
		t.Fatalf("status: %d %s", code, body)
	}
	st := decode[controlapi.DaemonStatus](t, body)
	if st.Schema != controlapi.SchemaVersion || st.PID != 4242 || len(st.Jobs) != 2 || st.Jobs[0].Name != "consul-snap" || st.Jobs[0].State != controlapi.StateWaiting {
		t.Fatalf("status: %+v", st)
	}
	// snake_case keys and string enums on the wire.
	for _, want := range []string{`"schema":2`, `"started_at":"2026-03-01T10:00:00Z"`, `"state":"waiting"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("status JSON lacks %s:\n%s", want, body)
		}
	}

	code, body = f.do(t, "GET", "/version", "")
	if code != 200 || decode[controlapi.VersionInfo](t, body) != testVersion {
		t.Fatalf("version: %d %s", code, body)
	}
}

func TestControlSignalWakeupQueuesWhenBusy(t *testing.T) {
	jobs, snap, _ := twoJobs()
	f := startControl(t, jobs)

	code, body := f.do(t, "POST", "/signal", `{"job": "consul-snap", "op": "wakeup"}`)
	if code != 200 {
		t.Fatalf("wakeup: %d %s", code, body)
	}
	if r := decode[controlapi.SignalResponse](t, body); r.Queued || r.Job != "consul-snap" || r.Op != "wakeup" {
		t.Fatalf("first wakeup: %+v", r)
	}
	code, body = f.do(t, "POST", "/signal", `{"job": "consul-snap", "op": "wakeup"}`)
	if r := decode[controlapi.SignalResponse](t, body); code != 200 || !r.Queued {
		t.Fatalf("wakeup on a busy job must be queued: %d %s", code, body)
	}
	if st := jobs.Status(true); st.Jobs[0].State != controlapi.StateRunning || st.Jobs[0].PendingSignal != "wakeup" {
		t.Fatalf("job state after two wakeups: %+v", st.Jobs[0])
	}

	code, body = f.do(t, "POST", "/signal", `{"job": "consul-snap", "op": "reset"}`)
	if r := decode[controlapi.SignalResponse](t, body); code != 200 || r.Op != "reset" {
		t.Fatalf("reset: %d %s", code, body)
	}
	if n := snap.Resets(); n != 1 {
		t.Fatalf("Reset called %d times", n)
	}
}

func TestControlSignalWaitReturnsTheRunsReport(t *testing.T) {
	jobs, snap, _ := twoJobs()
	f := startControl(t, jobs)

	answers := f.doAsync(t, "POST", "/signal", `{"job": "consul-snap", "op": "wakeup", "wait": true}`)
	<-snap.woken
	select {
	case a := <-answers:
		t.Fatalf("answered before the run ended: %d %s", a.code, a.body)
	default:
	}
	want := controlapi.RunReport{ID: "7", Trigger: "wakeup", Result: controlapi.ResultSuccess, Snapshot: "consul-20260301T110000Z-42.snap",
		Bytes: 1234, Index: 42, Term: 2,
		StartedAt: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), FinishedAt: time.Date(2026, 3, 1, 11, 0, 3, 0, time.UTC)}
	snap.finish(want)
	a := <-answers
	r := decode[controlapi.SignalResponse](t, a.body)
	if a.code != 200 || r.Run == nil || r.Run.ID != "7" || r.Run.Index != 42 || r.Run.Result != controlapi.ResultSuccess ||
		!r.Run.FinishedAt.Equal(want.FinishedAt) {
		t.Fatalf("wait answer: %d %s", a.code, a.body)
	}
}

func TestControlSignalWaitOnQueuedRunGetsTheQueuedRunsReport(t *testing.T) {
	jobs, snap, _ := twoJobs()
	f := startControl(t, jobs)
	if code, body := f.do(t, "POST", "/signal", `{"job": "consul-snap", "op": "wakeup"}`); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	<-snap.woken
	answers := f.doAsync(t, "POST", "/signal", `{"job": "consul-snap", "op": "wakeup", "wait": true}`)
	<-snap.woken
	snap.finish(controlapi.RunReport{ID: "1", Result: controlapi.ResultSuccess}) // the run already going
	snap.finish(controlapi.RunReport{ID: "2", Result: controlapi.ResultFailure, Error: "source: 403"})
	r := decode[controlapi.SignalResponse](t, (<-answers).body)
	if !r.Queued || r.Run == nil || r.Run.ID != "2" || r.Run.Error != "source: 403" {
		t.Fatalf("waited for the wrong run: %+v %+v", r, r.Run)
	}
}

func TestControlSignalWaitEndsOnShutdown(t *testing.T) {
	jobs, snap, _ := twoJobs()
	f := startControl(t, jobs)
	answers := f.doAsync(t, "POST", "/signal", `{"job": "consul-snap", "op": "wakeup", "wait": true}`)
	<-snap.woken
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.server.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a waiting signal: %v", err)
	}
	a := <-answers
	if a.code != http.StatusServiceUnavailable || !strings.Contains(string(a.body), "the daemon is shutting down") {
		t.Fatalf("want 503 shutting down, got %d %s", a.code, a.body)
	}
	if err := <-f.served; err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	f.served <- nil // for the cleanup
}

func TestControlSignalWaitClientGoesAway(t *testing.T) {
	jobs, snap, _ := twoJobs()
	f := startControl(t, jobs)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", nethelpers.BaseURL+"/signal",
			strings.NewReader(`{"job": "consul-snap", "op": "wakeup", "wait": true}`))
		_, err := f.client.Do(req)
		errs <- err
	}()
	<-snap.woken
	cancel()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	// The handler notices and returns: the request is counted.
	if got := <-f.metrics.seen; got != "/signal 200" {
		t.Fatalf("after the client left: %q", got)
	}
}

func TestControlErrors(t *testing.T) {
	jobs, _, _ := twoJobs()
	f := startControl(t, jobs)
	big := `{"job": "` + strings.Repeat("x", 70<<10) + `", "op": "wakeup"}`
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"unknown job", "POST", "/signal", `{"job": "nope", "op": "wakeup"}`, 404, `unknown job "nope"; jobs: consul-snap, consul-restore`},
		{"unknown op", "POST", "/signal", `{"job": "consul-snap", "op": "snapshot"}`, 400, `unknown op "snapshot": use wakeup or reset`},
		{"missing job", "POST", "/signal", `{"op": "wakeup"}`, 400, `"job" is required`},
		{"unsupported", "POST", "/signal", `{"job": "consul-restore", "op": "reset"}`, 400, `job "consul-restore" (restore) does not support reset`},
		{"wait on reset", "POST", "/signal", `{"job": "consul-snap", "op": "reset", "wait": true}`, 400, "wait applies only to wakeup"},
		{"malformed", "POST", "/signal", `{"job": "consul-snap", "op": }`, 400, "malformed request: invalid character '}'"},
		{"unknown field", "POST", "/signal", `{"job": "consul-snap", "op": "wakeup", "force": true}`, 400, `malformed request: unknown field "force"`},
		{"wrong type", "POST", "/signal", `{"job": "consul-snap", "op": "wakeup", "wait": "yes"}`, 400, `"wait" must be a JSON boolean (true or false), not string`},
		{"trailing data", "POST", "/signal", `{"job": "consul-snap", "op": "wakeup"} {}`, 400, "unexpected data after the JSON object"},
		{"empty body", "POST", "/signal", ``, 400, `empty request body: send JSON like {"job": "NAME", "op": "wakeup"}`},
		{"too large", "POST", "/signal", big, 413, "request body larger than 65536 bytes"},
		{"wrong method", "GET", "/signal", ``, 405, "GET /signal is not allowed: use POST"},
		{"unknown path", "GET", "/jobs", ``, 404, "no such endpoint /jobs"},
		{"pprof bad address", "POST", "/debug/pprof", `{"listen": "6060"}`, 400, `invalid pprof listen address "6060"`},
		{"pprof both", "POST", "/debug/pprof", `{"listen": "127.0.0.1:0", "off": true}`, 400, `give either "listen" or "off"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.do(t, tc.method, tc.path, tc.body)
			e := decode[controlapi.ErrorResponse](t, body)
			if code != tc.code || !strings.Contains(e.Error, tc.msg) {
				t.Fatalf("want %d with %q, got %d %s", tc.code, tc.msg, code, body)
			}
			if tc.name == "unknown job" && strings.Join(e.Jobs, ",") != "consul-snap,consul-restore" {
				t.Fatalf("jobs listed: %v", e.Jobs)
			}
		})
	}
}

func TestControlWakeupRefusedByJob(t *testing.T) {
	jobs, snap, restore := twoJobs()
	restore.wakeupErr = job.ErrUnsupported
	snap.wakeupErr = errors.New("job is stopping")
	f := startControl(t, jobs)
	code, body := f.do(t, "POST", "/signal", `{"job": "consul-restore", "op": "wakeup"}`)
	if e := decode[controlapi.ErrorResponse](t, body); code != 400 || e.Error != `job "consul-restore" (restore) does not support wakeup` {
		t.Fatalf("%d %s", code, body)
	}
	code, body = f.do(t, "POST", "/signal", `{"job": "consul-snap", "op": "wakeup"}`)
	if e := decode[controlapi.ErrorResponse](t, body); code != 409 || e.Error != `job "consul-snap" refused wakeup: job is stopping` {
		t.Fatalf("%d %s", code, body)
	}
}

func TestControlMetricsCountByEndpointAndCode(t *testing.T) {
	jobs, _, _ := twoJobs()
	f := startControl(t, jobs)
	f.do(t, "GET", "/status", "")
	f.do(t, "GET", "/status", "")
	f.do(t, "POST", "/signal", `{"job": "x", "op": "wakeup"}`)
	f.do(t, "GET", "/no/such/path/"+strings.Repeat("y", 10), "")
	for range 4 {
		<-f.metrics.seen
	}
	f.metrics.mu.Lock()
	defer f.metrics.mu.Unlock()
	want := map[string]int{"/status 200": 2, "/signal 404": 1, "other 404": 1}
	if fmt.Sprint(f.metrics.counts) != fmt.Sprint(want) {
		t.Fatalf("counts %v, want %v", f.metrics.counts, want)
	}
}

var registerLeakCheck sync.Once

func TestControlPprof(t *testing.T) {
	jobs, _, _ := twoJobs()
	f := startControl(t, jobs)

	code, body := f.do(t, "GET", "/debug/pprof", "")
	if st := decode[controlapi.PprofStatus](t, body); code != 200 || st.Running {
		t.Fatalf("initial pprof status: %d %s", code, body)
	}

	code, body = f.do(t, "POST", "/debug/pprof", `{"listen": "127.0.0.1:0"}`)
	st := decode[controlapi.PprofStatus](t, body)
	if code != 200 || !st.Running || strings.HasSuffix(st.Listen, ":0") {
		t.Fatalf("pprof on: %d %s", code, body)
	}
	resp, err := http.Get("http://" + st.Listen + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), filepath.Base(os.Args[0])) {
		t.Fatalf("pprof cmdline: %d %q", resp.StatusCode, b)
	}
	// Its own mux: nothing from http.DefaultServeMux is exposed.
	registerLeakCheck.Do(func() { http.HandleFunc("/leak-check", func(w http.ResponseWriter, r *http.Request) {}) })
	resp, err = http.Get("http://" + st.Listen + "/leak-check")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("DefaultServeMux handler reachable on the pprof server: %d", resp.StatusCode)
	}

	code, body = f.do(t, "GET", "/debug/pprof", "")
	if got := decode[controlapi.PprofStatus](t, body); code != 200 || got != st {
		t.Fatalf("pprof status while running: %d %s", code, body)
	}

	// A bind failure is reported, and the running server is kept.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	code, body = f.do(t, "POST", "/debug/pprof", fmt.Sprintf(`{"listen": %q}`, busy.Addr().String()))
	if e := decode[controlapi.ErrorResponse](t, body); code != 500 ||
		!strings.Contains(e.Error, "cannot start the pprof server on "+busy.Addr().String()) ||
		!strings.Contains(e.Error, "address already in use") {
		t.Fatalf("bind failure: %d %s", code, body)
	}
	if _, body = f.do(t, "GET", "/debug/pprof", ""); decode[controlapi.PprofStatus](t, body) != st {
		t.Fatalf("running server lost after a failed move: %s", body)
	}

	code, body = f.do(t, "POST", "/debug/pprof", `{"off": true}`)
	if got := decode[controlapi.PprofStatus](t, body); code != 200 || got.Running {
		t.Fatalf("pprof off: %d %s", code, body)
	}
	if conn, err := net.Dial("tcp", st.Listen); err == nil {
		conn.Close()
		t.Fatalf("pprof still listening on %s after off", st.Listen)
	}
	// Off when already off is fine; so is {"listen": ""}.
	if code, body = f.do(t, "POST", "/debug/pprof", `{"listen": ""}`); code != 200 {
		t.Fatalf("pprof off again: %d %s", code, body)
	}
}

func TestControlShutdownStopsPprof(t *testing.T) {
	jobs, _, _ := twoJobs()
	f := startControl(t, jobs)
	_, body := f.do(t, "POST", "/debug/pprof", `{"listen": "127.0.0.1:0"}`)
	st := decode[controlapi.PprofStatus](t, body)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.server.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-f.served; err != nil {
		t.Fatal(err)
	}
	f.served <- nil
	if conn, err := net.Dial("tcp", st.Listen); err == nil {
		conn.Close()
		t.Fatalf("pprof still listening on %s after Shutdown", st.Listen)
	}
}

func TestControlServeFailureIsReturned(t *testing.T) {
	jobs, _, _ := twoJobs()
	s := NewControlServer(jobs, testVersion, nil, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close() // Serve on a dead listener fails at once
	if err := s.Serve(l); err == nil || !strings.HasPrefix(err.Error(), "control socket: ") {
		t.Fatalf("Serve on a closed listener: %v", err)
	}
}

// TestControlStatusDetail (issue 19): the default /status is a summary,
// the same size per job whatever its history; ?job=NAME gives that job in
// full, ?detail=full every job.
func TestControlStatusDetail(t *testing.T) {
	jobs, _, _ := twoJobs()
	f := startControl(t, jobs)
	get := func(path string) controlapi.DaemonStatus {
		t.Helper()
		code, body := f.do(t, "GET", path, "")
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		return decode[controlapi.DaemonStatus](t, body)
	}
	sum := get("/status")
	if len(sum.Jobs) != 2 || sum.Jobs[0].History != nil || sum.Jobs[0].Pruning.Decisions != nil || sum.Jobs[0].Pruning.Kept != 1 {
		t.Fatalf("summary: %+v", sum.Jobs[0])
	}
	one := get("/status?job=consul-restore")
	if one.Detail != "full" || len(one.Jobs) != 1 || one.Jobs[0].Name != "consul-restore" || len(one.Jobs[0].History) != 1 || len(one.Jobs[0].Pruning.Decisions) != 1 {
		t.Fatalf("?job=: %+v", one)
	}
	all := get("/status?detail=full")
	if len(all.Jobs) != 2 || len(all.Jobs[1].History) != 1 {
		t.Fatalf("?detail=full: %+v", all)
	}
	for path, want := range map[string]string{
		"/status?job=nope":    `unknown job "nope"; jobs: consul-snap, consul-restore`,
		"/status?detail=most": `unknown detail "most": use full or summary`,
		"/status?jobs=x":      `unknown parameter "jobs": use job=NAME or detail=full`,
	} {
		code, body := f.do(t, "GET", path, "")
		if e := decode[controlapi.ErrorResponse](t, body); code/100 != 4 || !strings.Contains(e.Error, want) {
			t.Errorf("GET %s: %d %s, want %q", path, code, body, want)
		}
	}
}
