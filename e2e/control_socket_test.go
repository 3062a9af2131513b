package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/nethelpers"
)

// TestControlSocketHostileRequests sends oversized, malformed, slow and
// misdirected requests to a real daemon over its real socket. Afterwards
// the daemon must still answer, each refusal must be JSON that says what was
// wrong, and the CLI must turn the daemon's answer into a clear message.
func TestControlSocketHostileRequests(t *testing.T) {
	dir := shortTempDir(t)
	d := startDaemon(t, pruneOnlyConfig(t, dir, filepath.Join(dir, "ctl", "sock")))
	client := nethelpers.DialHTTPClient(d.Sock)
	client.Timeout = 10 * time.Second

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
		r := rs(t, "signal", "wakeup", "nope", "--socket", d.Sock)
		// docs/cli.md: exit 2 for an unknown job or signal.
		if r.Code != 2 || !strings.Contains(r.Stderr, `unknown job "nope"`) || !strings.Contains(r.Stderr, "prune") {
			t.Fatalf("want exit 2 naming the job and the known ones: %s", r)
		}
		r = rs(t, "signal", "destroy", "prune", "--socket", d.Sock)
		if r.Code != 2 || !strings.Contains(r.Stderr, "destroy") {
			t.Fatalf("want exit 2 naming the unknown signal: %s", r)
		}
	})

	t.Run("slow headers are cut off while others are served", func(t *testing.T) {
		conn, err := net.Dial("unix", d.Sock)
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
			if st := fetchStatus(t, d.Sock); st.PID == 0 {
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
			c, err := net.Dial("unix", d.Sock)
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
						return dialer.DialContext(ctx, "unix", d.Sock)
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
	if r := mustRS(t, "status", "--socket", d.Sock, "--mode", "dump"); !strings.Contains(r.Stdout, "prune") {
		t.Fatalf("status after the hostile requests does not show the job:\n%s", r)
	}
	select {
	case <-d.Exited():
		t.Fatalf("the daemon exited: %v\n%s", d.WaitErr(), d.Output())
	default:
	}
}
