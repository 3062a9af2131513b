package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit"
)

// receiver is a loopback HTTP receiver that answers with the codes given,
// then 200, and keeps what it got.
type receiver struct {
	mu      sync.Mutex
	codes   []int
	bodies  [][]byte
	headers []http.Header
	got     chan struct{}
}

func newReceiver(t *testing.T, codes ...int) (*receiver, string) {
	r := &receiver{codes: codes, got: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, body)
		r.headers = append(r.headers, req.Header.Clone())
		code := 200
		if len(r.codes) > 0 {
			code, r.codes = r.codes[0], r.codes[1:]
		}
		r.mu.Unlock()
		if code == 429 {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(code)
		r.got <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func (r *receiver) await(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-r.got:
		case <-time.After(30 * time.Second):
			t.Fatalf("the receiver got %d requests, want %d", i, n)
		}
	}
}

type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) Delivered(webhook, result string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[webhook+"/"+result]++
}

func (c *counts) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

func start(t *testing.T, logs io.Writer, m Metrics, hooks ...Config) *Notifier {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for i := range hooks {
		if hooks[i].Timeout == 0 {
			hooks[i].Timeout = 5 * time.Second
		}
		if hooks[i].Initial == 0 {
			hooks[i].Initial, hooks[i].MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
		}
		if hooks[i].MinSeverity == "" {
			hooks[i].MinSeverity = "info"
		}
	}
	return New(ctx, hooks, "v1.2.3", slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), m)
}

// TestPayloadRetriesAndSecrets: the JSON payload has its documented
// fields; a 5xx is retried and a 429's Retry-After honoured; the headers
// file is sent; neither the URL's secret path nor a header value reaches a
// log line.
func TestPayloadRetriesAndSecrets(t *testing.T) {
	r, url := newReceiver(t, 503, 429)
	headers := filepath.Join(t.TempDir(), "headers")
	os.WriteFile(headers, []byte("# auth\nAuthorization: Bearer hdr-secret-5678\n"), 0o600)
	var logs bytes.Buffer
	m := &counts{}
	n := start(t, &logs, m, Config{Name: "ops", URL: url + "/hooks/T000/B000/url-secret-1234", HeadersFile: headers, MaxRetries: 3})
	n.Notify(Event{Event: "run_failed", Severity: "error", Job: "consul-main", JobType: "snapshot", Message: "snapshot job consul-main failed: 403",
		Run: &controlapi.RunReport{ID: "ab12", Result: controlapi.ResultFailure, Error: "403"}})
	r.await(t, 3)
	testkit.Eventually(t, "the sent count", func() bool { return m.get("ops/sent") == 1 })
	var got map[string]any
	if err := json.Unmarshal(r.bodies[2], &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema", "event", "severity", "time", "host", "daemon_version", "job", "job_type", "message", "run"} {
		if _, ok := got[k]; !ok {
			t.Errorf("payload lacks %q: %s", k, r.bodies[2])
		}
	}
	if got["schema"] != float64(1) || got["event"] != "run_failed" || got["daemon_version"] != "v1.2.3" {
		t.Errorf("payload: %s", r.bodies[2])
	}
	if r.headers[2].Get("Authorization") != "Bearer hdr-secret-5678" {
		t.Errorf("headers file not sent: %v", r.headers[2])
	}
	for _, secret := range []string{"url-secret-1234", "hdr-secret-5678", "/hooks/"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs hold %q:\n%s", secret, logs.String())
		}
	}
}

func TestNotRetriedOn4xxAndFiltered(t *testing.T) {
	r, url := newReceiver(t, 400)
	m := &counts{}
	n := start(t, io.Discard, m,
		Config{Name: "strict", URL: url, MaxRetries: 5, MinSeverity: "error"},
		Config{Name: "only-recovered", URL: url, Events: []string{"job_recovered"}})
	n.Notify(Event{Event: "reload_refused", Severity: "warning", Message: "below error"})
	n.Notify(Event{Event: "run_failed", Severity: "error", Message: "refused once"})
	r.await(t, 1)
	testkit.Eventually(t, "the failed count", func() bool { return m.get("strict/failed") == 1 })
	if m.get("strict/sent") != 0 || m.get("only-recovered/sent") != 0 || len(r.bodies) != 1 {
		t.Fatalf("deliveries: %v, bodies %d", m.m, len(r.bodies))
	}
}

func TestSlackFormat(t *testing.T) {
	r, url := newReceiver(t)
	n := start(t, io.Discard, nil, Config{Name: "chat", URL: url, Format: "slack"})
	n.Notify(Event{Event: "snapshot_stale", Severity: "error", Message: "snapshot job consul-main last succeeded 3h ago"})
	r.await(t, 1)
	var got map[string]string
	if err := json.Unmarshal(r.bodies[0], &got); err != nil || len(got) != 1 ||
		!strings.HasSuffix(got["text"], ": snapshot job consul-main last succeeded 3h ago") {
		t.Fatalf("slack payload %s (%v)", r.bodies[0], err)
	}
}

// TestNeverBlocks: a receiver that hangs fills the queue; Notify still
// returns at once, and the oldest events are dropped and counted.
func TestNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	m := &counts{}
	n := start(t, io.Discard, m, Config{Name: "slow", URL: srv.URL, Timeout: time.Minute})
	for i := 0; i < queueSize+50; i++ {
		n.Notify(Event{Event: "run_failed", Severity: "error", Message: "x"})
	}
	if m.get("slow/dropped") < 49 {
		t.Fatalf("dropped %d, want at least 49", m.get("slow/dropped"))
	}
}
