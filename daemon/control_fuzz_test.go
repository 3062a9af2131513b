package daemon_test

// Fuzz targets for the control API's request handling: whatever method,
// path and body a local client sends, the server answers with a status in
// the documented set and a JSON body, and never panics. The seed corpus is
// checked in under testdata/fuzz/<target>/ and repeated below with f.Add.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit/fakejobs"

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

var fuzzJobs = &fakejobs.Set[instantJob]{
	Header: controlapi.DaemonStatus{Schema: controlapi.SchemaVersion, Version: "v9.9.9"},
	Jobs:   []instantJob{{"snap", "snapshot"}, {"restore", "restore"}, {"prune", "restore-refusing"}},
}

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
