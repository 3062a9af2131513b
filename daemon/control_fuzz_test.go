package daemon_test

// Fuzz targets for the control API's request handling: whatever method,
// path and body a local client sends, the server answers with a status in
// the documented set and a JSON body, and never panics. The seed corpus is
// checked in under testdata/fuzz/<target>/ and repeated below with f.Add.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/raftsnap/raftsnap/daemon/controlapi"

	"github.com/raftsnap/raftsnap/daemon"
	"github.com/raftsnap/raftsnap/daemon/job"
)

// documentedControlCodes are the statuses docs/cli.md and control.go promise.
var documentedControlCodes = map[int]bool{
	http.StatusOK:                    true,
	http.StatusBadRequest:            true,
	http.StatusNotFound:              true,
	http.StatusMethodNotAllowed:      true,
	http.StatusConflict:              true,
	http.StatusRequestEntityTooLarge: true,
	http.StatusInternalServerError:   true,
	http.StatusServiceUnavailable:    true,
}

// instantJob finishes every run the moment it is woken, so that a fuzzed
// `"wait": true` gets its report at once instead of blocking the fuzzer.
type instantJob struct{ name, typ string }

func (j instantJob) Name() string            { return j.name }
func (j instantJob) Type() string            { return j.typ }
func (j instantJob) Run(ctx context.Context) { <-ctx.Done() }
func (j instantJob) Status() controlapi.JobStatus {
	return controlapi.JobStatus{Name: j.name, Type: j.typ, State: controlapi.StateWaiting}
}

func (j instantJob) Wakeup() (<-chan controlapi.RunReport, bool, error) {
	if j.typ == "restore-refusing" {
		return nil, false, job.ErrUnsupported
	}
	done := make(chan controlapi.RunReport, 1)
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	done <- controlapi.RunReport{ID: "1", Trigger: "wakeup", StartedAt: now, FinishedAt: now, Result: controlapi.ResultSuccess}
	return done, false, nil
}

func (j instantJob) Abort() {}

func (j instantJob) Reset() error {
	if j.typ == "restore" {
		return job.ErrUnsupported
	}
	return nil
}

type instantJobs []instantJob

func (js instantJobs) Status() controlapi.DaemonStatus {
	st := controlapi.DaemonStatus{Schema: controlapi.SchemaVersion, Version: "v9.9.9"}
	for _, j := range js {
		st.Jobs = append(st.Jobs, j.Status())
	}
	return st
}

func (js instantJobs) Job(name string) (job.Job, bool) {
	for _, j := range js {
		if j.name == name {
			return j, true
		}
	}
	return nil, false
}

func (js instantJobs) JobNames() []string {
	var names []string
	for _, j := range js {
		names = append(names, j.name)
	}
	return names
}

var fuzzJobs = instantJobs{{"snap", "snapshot"}, {"restore", "restore"}, {"prune", "restore-refusing"}}

// controlSeeds are requests worth starting from: every endpoint, every
// error branch, and bodies that stress the decoder.
var controlSeeds = []struct{ method, path, body string }{
	{"GET", "/status", ""},
	{"GET", "/version", ""},
	{"GET", "/debug/pprof", ""},
	{"POST", "/debug/pprof", `{"off": true}`},
	{"POST", "/debug/pprof", `{"listen": "6060"}`},
	{"POST", "/debug/pprof", `{"listen": "127.0.0.1:0", "off": true}`},
	{"POST", "/signal", `{"job": "snap", "op": "wakeup"}`},
	{"POST", "/signal", `{"job": "snap", "op": "wakeup", "wait": true}`},
	{"POST", "/signal", `{"job": "snap", "op": "reset"}`},
	{"POST", "/signal", `{"job": "restore", "op": "reset"}`},
	{"POST", "/signal", `{"job": "prune", "op": "wakeup"}`},
	{"POST", "/signal", `{"job": "nope", "op": "wakeup"}`},
	{"POST", "/signal", `{"job": "snap", "op": "snapshot"}`},
	{"POST", "/signal", `{"op": "wakeup"}`},
	{"POST", "/signal", `{"job": "snap", "op": "reset", "wait": true}`},
	{"POST", "/signal", `{"job": "snap", "op": }`},
	{"POST", "/signal", `{"job": "snap", "op": "wakeup", "force": true}`},
	{"POST", "/signal", `{"job": "snap", "op": "wakeup", "wait": "yes"}`},
	{"POST", "/signal", `{"job": 1, "op": ["wakeup"]}`},
	{"POST", "/signal", `{"job": "snap", "op": "wakeup"} {}`},
	{"POST", "/signal", `[]`},
	{"POST", "/signal", `null`},
	{"POST", "/signal", "\x00\xff\xfe"},
	{"POST", "/signal", `{"job": "\ud800", "op": "wakeup"}`},
	{"POST", "/signal", `{"job": "snap", "job": "restore", "op": "wakeup"}`},
	{"POST", "/signal", strings.Repeat("[", 10000)},
	{"POST", "/signal", ""},
	{"GET", "/signal", ""},
	{"DELETE", "/status", ""},
	{"PROPFIND", "/", ""},
	{"GET", "/jobs", ""},
	{"GET", "/status/../signal", ""},
	{"GET", "//status", ""},
	{"", "", ""},
}

func FuzzControlRequest(f *testing.F) {
	for _, s := range controlSeeds {
		f.Add(s.method, s.path, []byte(s.body))
	}
	server := daemon.NewControlServer(fuzzJobs, controlapi.VersionInfo{Version: "v9.9.9"}, nil, nil)
	f.Cleanup(func() { shutdownControl(server) })
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		if method == http.MethodPost && path == "/debug/pprof" && pprofListenRequested(body) {
			// A decodable listen address would make the handler bind a TCP
			// port, possibly off loopback; the decoder already ran on it.
			return
		}
		checkControlAnswer(t, server, method, path, body)
	})
}

func FuzzSignalRequest(f *testing.F) {
	for _, s := range controlSeeds {
		if s.path == "/signal" {
			f.Add([]byte(s.body))
		}
	}
	server := daemon.NewControlServer(fuzzJobs, controlapi.VersionInfo{Version: "v9.9.9"}, nil, nil)
	f.Cleanup(func() { shutdownControl(server) })
	f.Fuzz(func(t *testing.T, body []byte) {
		code, e := checkControlAnswer(t, server, http.MethodPost, "/signal", body)
		if code == http.StatusOK {
			// Only a well-formed request naming a known job and op succeeds.
			var req controlapi.SignalRequest
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				t.Fatalf("200 for a body the strict decoder rejects (%v): %q", err, body)
			}
			if _, ok := fuzzJobs.Job(req.Job); !ok || (req.Op != "wakeup" && req.Op != "reset") {
				t.Fatalf("200 for job %q op %q: %q", req.Job, req.Op, body)
			}
			return
		}
		if e.Error == "" {
			t.Fatalf("status %d with an empty error for %q", code, body)
		}
	})
}

// shutdownControl ends the server's base context; it never listened.
func shutdownControl(server *daemon.ControlServer) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	server.Shutdown(ctx)
}

// pprofListenRequested reports whether body would decode into a pprof
// request that starts a server.
func pprofListenRequested(body []byte) bool {
	var req controlapi.PprofRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	return dec.Decode(&req) == nil && req.Listen != ""
}

// checkControlAnswer sends one request straight to ServeHTTP and checks
// the answer's shape: a documented status, JSON content, and for errors an
// ErrorResponse that is valid UTF-8 JSON with a message.
func checkControlAnswer(t *testing.T, server *daemon.ControlServer, method, path string, body []byte) (int, controlapi.ErrorResponse) {
	t.Helper()
	// Built by hand: http.NewRequest refuses odd methods and paths, while
	// the handler must cope with whatever reaches it.
	req := (&http.Request{
		Method:        method,
		URL:           &url.URL{Path: path},
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Host:          "raftsnap",
		RemoteAddr:    "@",
	}).WithContext(context.Background())
	rec := httptest.NewRecorder()
	server.ServeHTTP(rec, req)

	if !documentedControlCodes[rec.Code] {
		t.Fatalf("%s %q: status %d is not documented; body %q", method, path, rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %q: Content-Type %q, want application/json", method, path, ct)
	}
	if !utf8.Valid(rec.Body.Bytes()) || !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("%s %q: the answer is not valid JSON: %q", method, path, rec.Body)
	}
	var e controlapi.ErrorResponse
	if rec.Code >= 400 {
		dec := json.NewDecoder(rec.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil || e.Error == "" {
			t.Fatalf("%s %q: status %d without an error message (%v): %q", method, path, rec.Code, err, rec.Body)
		}
	}
	return rec.Code, e
}

// TestControlSocketHostileRequests sends oversized, malformed, slow and
// misdirected requests to a real daemon over its real socket. Afterwards
// the daemon must still answer, each refusal must be JSON that says what was
// wrong, and the CLI must turn the daemon's answer into a clear message.
func TestControlSocketHostileRequests(t *testing.T) {
	dir := shortTempDir(t)
	configPath := filepath.Join(dir, "raftsnap.yml")
	writeFile(t, configPath, fmt.Sprintf(`global:
  control: {sockpath: %[1]s/ctl/sock}
jobs:
  - name: prune
    type: prune
    store: {path: %[1]s/store}
    interval: 1h
    pruning: {keep: [{last_n: {count: 1}}]}
`, dir), 0o600)
	d := startDaemon(t, configPath)
	client := controlClient(d.sock)

	post := func(t *testing.T, path string, body io.Reader) (int, controlapi.ErrorResponse) {
		t.Helper()
		resp, err := client.Post("http://raftsnap"+path, "application/json", body)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		var e controlapi.ErrorResponse
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			t.Fatalf("POST %s: answer %d is not JSON: %v", path, resp.StatusCode, err)
		}
		return resp.StatusCode, e
	}

	t.Run("oversized", func(t *testing.T) {
		// 1 MiB of a syntactically fine string: the limit, not the parser, must stop it.
		body := io.MultiReader(strings.NewReader(`{"job": "`), strings.NewReader(strings.Repeat("a", 1<<20)), strings.NewReader(`", "op": "wakeup"}`))
		code, e := post(t, "/signal", body)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(e.Error, "request body larger than 65536 bytes") {
			t.Fatalf("got %d %q, want 413 naming the limit", code, e.Error)
		}
	})
	for _, tc := range []struct {
		name, body string
		code       int
		msg        string
	}{
		{"malformed", `{"job": "prune", "op": wakeup}`, 400, "malformed request: invalid character 'w'"},
		{"binary", "\x1f\x8b\x08\x00\xff\xfe", 400, "malformed request"},
		{"array", `["prune", "wakeup"]`, 400, "malformed request"},
		{"unknown job", `{"job": "nope", "op": "wakeup"}`, 404, `unknown job "nope"; jobs: prune`},
		{"unknown op", `{"job": "prune", "op": "destroy"}`, 400, `unknown op "destroy": use wakeup or reset`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, e := post(t, "/signal", strings.NewReader(tc.body))
			if code != tc.code || !strings.Contains(e.Error, tc.msg) {
				t.Fatalf("got %d %q, want %d with %q", code, e.Error, tc.code, tc.msg)
			}
		})
	}
	t.Run("unknown job and op through the CLI", func(t *testing.T) {
		r := rs(t, "signal", "wakeup", "nope", "--socket", d.sock)
		// docs/cli.md: exit 2 for an unknown job or signal.
		if r.code != 2 || !strings.Contains(r.stderr, `unknown job "nope"`) || !strings.Contains(r.stderr, "prune") {
			t.Fatalf("want exit 2 naming the job and the known ones: %s", r)
		}
		r = rs(t, "signal", "destroy", "prune", "--socket", d.sock)
		if r.code != 2 || !strings.Contains(r.stderr, "destroy") {
			t.Fatalf("want exit 2 naming the unknown signal: %s", r)
		}
	})

	t.Run("slow headers are cut off while others are served", func(t *testing.T) {
		conn, err := net.Dial("unix", d.sock)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		closed := make(chan time.Duration, 1)
		start := time.Now()
		go func() {
			// The server closes the connection when its read-header timeout
			// (5 s) passes; the read returns then.
			io.Copy(io.Discard, conn)
			closed <- time.Since(start)
		}()
		request := "GET /status HTTP/1.1\r\nHost: raftsnap\r\nX-Slow: " + strings.Repeat("s", 200) + "\r\n\r\n"
		trickle := time.NewTicker(200 * time.Millisecond) // the client's pace, not synchronisation
		defer trickle.Stop()
		served := 0
		var elapsed time.Duration
	sending:
		for i := 0; i < len(request); i++ {
			if _, err := conn.Write([]byte{request[i]}); err != nil {
				break // the server hung up mid-headers, as it should
			}
			// Meanwhile, a normal client is served at once.
			if st := fetchStatus(t, d.sock); st.PID == 0 {
				t.Fatalf("status without a pid while a slow client is connected: %+v", st)
			}
			served++
			select {
			case elapsed = <-closed:
				break sending
			case <-trickle.C:
			}
		}
		if elapsed == 0 {
			select {
			case elapsed = <-closed:
			case <-time.After(15 * time.Second):
				t.Fatal("the server kept a client that sends its headers byte by byte for more than 15 s")
			}
		}
		if elapsed < 4*time.Second || elapsed > 12*time.Second {
			t.Fatalf("the slow client was cut off after %s, want about the 5 s read-header timeout", elapsed)
		}
		if served < 10 {
			t.Fatalf("only %d status requests were served alongside the slow client", served)
		}
		t.Logf("slow client cut off after %s; %d other requests served meanwhile", elapsed.Round(time.Millisecond), served)
	})

	t.Run("many concurrent connections", func(t *testing.T) {
		const clients = 300
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		// Idle connections held open must not starve the ones that talk.
		var idle []net.Conn
		for i := 0; i < 100; i++ {
			c, err := net.Dial("unix", d.sock)
			if err != nil {
				t.Fatalf("idle connection %d: %v", i, err)
			}
			idle = append(idle, c)
		}
		defer func() {
			for _, c := range idle {
				c.Close()
			}
		}()
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				// One connection each: no keep-alive sharing.
				c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
					DisableKeepAlives: true,
					DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
						var dialer net.Dialer
						return dialer.DialContext(ctx, "unix", d.sock)
					}}}
				path, body := "/status", ""
				if i%3 == 1 {
					path, body = "/signal", `{"job": "nope", "op": "wakeup"}`
				}
				req, _ := http.NewRequest(map[bool]string{true: "POST", false: "GET"}[body != ""], "http://raftsnap"+path, strings.NewReader(body))
				resp, err := c.Do(req)
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				defer resp.Body.Close()
				want := map[string]int{"/status": 200, "/signal": 404}[path]
				if resp.StatusCode != want {
					errs <- fmt.Errorf("client %d: %s answered %d, want %d", i, path, resp.StatusCode, want)
					return
				}
				if err := json.NewDecoder(resp.Body).Decode(new(any)); err != nil {
					errs <- fmt.Errorf("client %d: %s answer is not JSON: %w", i, path, err)
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	// After all of it the daemon is alive and answers normally.
	if r := mustRS(t, "status", "--socket", d.sock, "--mode", "dump"); !strings.Contains(r.stdout, "prune") {
		t.Fatalf("status after the hostile requests does not show the job:\n%s", r)
	}
	select {
	case <-d.exited:
		t.Fatalf("the daemon exited: %v\n%s", d.waitErr, d.output())
	default:
	}
}
