package testkit

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLogWriterIsSafeAfterTheTest: a write after the test that owned the
// writer completed is dropped; a plain t.Log there panics the binary.
func TestLogWriterIsSafeAfterTheTest(t *testing.T) {
	var w io.Writer
	t.Run("owner", func(t *testing.T) {
		w = LogWriter(t)
		if _, err := w.Write([]byte("during the test\n")); err != nil {
			t.Fatal(err)
		}
	})
	if n, err := w.Write([]byte("after the test\n")); err != nil || n != len("after the test\n") {
		t.Fatalf("late write: %d, %v", n, err)
	}
}

// upstream serves body with its Content-Length.
func upstream(t *testing.T, body []byte) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Digest", "sha-256=x")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, url string) (*http.Response, []byte, error) {
	t.Helper()
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp, data, err
}

func TestProxyFaults(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 1000)
	p := NewProxy(t, upstream(t, body))

	if resp, got, err := get(t, p.URL); err != nil || !bytes.Equal(got, body) || resp.Header.Get("Digest") == "" {
		t.Fatalf("pass: %d bytes, %v", len(got), err)
	}
	for _, c := range []struct {
		name  string
		fault Fault
		check func(resp *http.Response, got []byte, err error) bool
	}{
		{"cut close", Fault{Cut: CutClose}, func(_ *http.Response, got []byte, err error) bool {
			return errors.Is(err, io.ErrUnexpectedEOF) && len(got) == len(body)/2
		}},
		{"cut reset", Fault{Cut: CutReset}, func(_ *http.Response, got []byte, err error) bool {
			return err != nil && len(got) <= len(body)/2
		}},
		{"cut chunked at 100", Fault{Cut: CutChunked, CutAt: 100}, func(_ *http.Response, got []byte, err error) bool {
			return errors.Is(err, io.ErrUnexpectedEOF) && len(got) == 100
		}},
		{"corrupt", Fault{Corrupt: true}, func(_ *http.Response, got []byte, err error) bool {
			return err == nil && len(got) == len(body) && !bytes.Equal(got, body)
		}},
		{"headers", Fault{DropHeaders: []string{"Digest"}, SetHeaders: map[string]string{"X-Test": "1"}}, func(resp *http.Response, got []byte, err error) bool {
			return err == nil && resp.Header.Get("Digest") == "" && resp.Header.Get("X-Test") == "1" && bytes.Equal(got, body)
		}},
		{"status", Fault{Status: 429, Body: "slow down", Header: map[string]string{"Retry-After": "3"}}, func(resp *http.Response, got []byte, err error) bool {
			return err == nil && resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "3" && string(got) == "slow down"
		}},
		{"reset before the response", Fault{Reset: true}, func(_ *http.Response, _ []byte, err error) bool {
			return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
		}},
		{"trickle", Fault{Trickle: Trickle{First: 5000, Chunk: 2500, Every: time.Millisecond}}, func(_ *http.Response, got []byte, err error) bool {
			return err == nil && bytes.Equal(got, body)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p.Set(c.fault)
			resp, got, err := get(t, p.URL)
			if !c.check(resp, got, err) {
				t.Fatalf("got %d bytes, err %v", len(got), err)
			}
		})
	}
}

func TestProxyQueueHoldAndCount(t *testing.T) {
	p := NewProxy(t, upstream(t, []byte("ok")))
	p.Queue(Fault{Status: 500, Body: "first"}, Fault{Status: 503, Body: "second"})
	for _, want := range []int{500, 503, 200} {
		if resp, _, err := get(t, p.URL); err != nil || resp.StatusCode != want {
			t.Fatalf("queued answers: got %v (%v), want %d", resp, err, want)
		}
	}
	hold := make(chan struct{})
	p.Set(Fault{Hold: hold})
	answered := make(chan int, 1)
	go func() {
		resp, _, err := get(t, p.URL)
		if err != nil {
			answered <- 0
			return
		}
		answered <- resp.StatusCode
	}()
	for range 4 {
		<-p.Received() // three earlier requests, then the held one
	}
	select {
	case code := <-answered:
		t.Fatalf("answered %d while held", code)
	default:
	}
	close(hold)
	if code := <-answered; code != 200 {
		t.Fatalf("after the hold: %d", code)
	}
	if n, times := p.Requests(), p.RequestTimes(); n != 4 || len(times) != 4 {
		t.Fatalf("%d requests, %d times", n, len(times))
	}
}

func TestProxyHoldAfter(t *testing.T) {
	p := NewProxy(t, upstream(t, bytes.Repeat([]byte("x"), 1000)))
	p.Set(Fault{HoldAfter: 64})
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Get(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	<-p.Held()
}

func TestFakeClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewFakeClock(start)
	due, _ := c.NewTimer(time.Minute)
	stopped, stop := c.NewTimer(time.Second)
	now, _ := c.NewTimer(0)
	for _, want := range []time.Duration{time.Minute, time.Second, 0} {
		if d := c.NextTimer(t); d != want {
			t.Fatalf("NextTimer %s, want %s", d, want)
		}
	}
	c.NoTimer(t)
	select {
	case <-now:
	default:
		t.Fatal("a zero timer did not fire at once")
	}
	if !stop() || stop() {
		t.Fatal("stop: want true once, then false")
	}
	c.Advance(59 * time.Second)
	if n := c.Pending(); n != 1 {
		t.Fatalf("%d timers pending, want the minute's", n)
	}
	select {
	case <-due:
		t.Fatal("fired early")
	case <-stopped:
		t.Fatal("a stopped timer fired")
	default:
	}
	c.Advance(time.Second)
	if at := <-due; !at.Equal(start.Add(time.Minute)) || !c.Now().Equal(at) {
		t.Fatalf("fired at %s, clock %s", at, c.Now())
	}
}

func TestPollAndProcess(t *testing.T) {
	n := 0
	if err := Poll(time.Second, func() bool { n++; return n == 3 }); err != nil || n != 3 {
		t.Fatalf("Poll: %v after %d calls", err, n)
	}
	if err := Poll(30*time.Millisecond, func() bool { return false }); err == nil {
		t.Fatal("Poll of a condition that never holds returned nil")
	}
	if s := ChildProcesses(); strings.TrimSpace(s) != "" {
		t.Fatalf("children before any was started: %q", s)
	}
}

// TestReleaseTagsMatchMakefile: the tests' binary is built with the tags
// of the release binaries, the Makefile's TAGS; and GOFLAGS' own tags join
// them rather than being replaced.
func TestReleaseTagsMatchMakefile(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var tags string
	for _, line := range strings.Split(string(mk), "\n") {
		if v, ok := strings.CutPrefix(line, "TAGS "); ok {
			tags = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":="))
		}
	}
	if tags != ReleaseTags {
		t.Fatalf("Makefile TAGS = %q, testkit.ReleaseTags = %q", tags, ReleaseTags)
	}
	t.Setenv("GOFLAGS", "-buildvcs=false -tags=isal")
	if got, want := buildTags(), ReleaseTags+",isal"; got != want {
		t.Fatalf("buildTags with GOFLAGS %q = %q, want %q", os.Getenv("GOFLAGS"), got, want)
	}
}

// TestRunCLI: a command's exit code and both outputs come back apart; a
// non-zero exit is a result, not a failure.
func TestRunCLI(t *testing.T) {
	r := RunCLI(t, exec.Command("sh", "-c", "echo out; echo err >&2; exit 3"))
	if r.Code != 3 || r.Stdout != "out\n" || r.Stderr != "err\n" {
		t.Fatalf("got %s", r)
	}
	if want := "exit 3\nstdout:\nout\n\nstderr:\nerr\n"; r.String() != want {
		t.Errorf("String() = %q, want %q", r.String(), want)
	}
}
