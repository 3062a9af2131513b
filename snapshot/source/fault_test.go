package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
)

// sourceFaults are the ways the kit's proxy breaks a real server's answer
// for these tests, by name.
var sourceFaults = map[string]testkit.Fault{
	"500": {Status: http.StatusInternalServerError, Body: "rpc error making call: leadership lost while committing log\n"},
	"429": {Status: http.StatusTooManyRequests, Body: "rate limit exceeded\n", Header: map[string]string{"Retry-After": "17"}},
	"403": {Status: http.StatusForbidden, Body: "ACL token lacks acl:write\n"},
	"html": {Status: http.StatusBadGateway, Header: map[string]string{"Content-Type": "text/html; charset=utf-8"},
		Body: "<html>\n<body>" + strings.Repeat("bad gateway ", 400) + "</body></html>"},
	"stall":                 {Stall: true},
	"reset-before-response": {Reset: true},
	"cut-length":            {Cut: testkit.CutClose},
	"cut-chunked":           {Cut: testkit.CutChunked},
	"reset-mid-body":        {Cut: testkit.CutReset},
	"no-digest":             {DropHeaders: []string{"Digest"}},
	"bad-digest":            {SetHeaders: map[string]string{"Digest": "sha-256=not-base64!"}},
	"corrupt":               {Corrupt: true},
}

// startFaultProxy puts the kit's fault proxy, set to the named fault, in
// front of a real server and returns its URL.
func startFaultProxy(t *testing.T, upstream, fault string) string {
	t.Helper()
	f, ok := sourceFaults[fault]
	if !ok {
		t.Fatalf("unknown fault %q", fault)
	}
	p := testkit.NewProxy(t, upstream)
	p.Set(f)
	return p.URL
}

func TestSaveFaultsInFrontOfRealConsul(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	consul.PutKV(t, "fault/key", strings.Repeat("x", 64<<10)) // a body worth cutting
	token := Secret(testToken)

	cases := []struct {
		fault     string
		status    int
		permanent bool
		message   string // the text after "<kind> at <url>: "
	}{
		{"500", 500, false, "rpc error making call: leadership lost while committing log"},
		{"429", 429, false, "rate limit exceeded"},
		{"403", 403, true, "ACL token lacks acl:write"},
		{"html", 502, false, "<html> <body>bad gateway bad gateway"},
		{"cut-length", 0, false, "response body cut short after %d of %d bytes"},
		{"cut-chunked", 0, false, "response body cut short after %d bytes"},
		{"reset-mid-body", 0, false, "response body cut short after %d of %d bytes"},
		{"reset-before-response", 0, false, "connection reset by peer"},
	}
	for _, tc := range cases {
		t.Run(tc.fault, func(t *testing.T) {
			addr := startFaultProxy(t, consul.Addr, tc.fault)
			src := mustNew(t, Config{Kind: Consul, Address: addr, Token: token})
			var got bytes.Buffer
			_, err := src.Save(testContext(t), &got)
			var srcErr *Error
			if !errors.As(err, &srcErr) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			t.Logf("%s: %v", tc.fault, err)
			want := tc.message
			if strings.Contains(want, "%d of %d") {
				// The proxy sends half of the real body; the total it
				// announced is checked by the Content-Length case below.
				want = fmt.Sprintf("response body cut short after %d of ", got.Len())
			} else if strings.Contains(want, "%d") {
				want = fmt.Sprintf(want, got.Len())
			}
			prefix := addr + "/v1/snapshot: "
			if tc.status != 0 {
				prefix = fmt.Sprintf("%d from consul at %s", tc.status, prefix)
			} else {
				prefix = "consul at " + prefix
			}
			if !strings.HasPrefix(err.Error(), prefix+want) {
				t.Fatalf("error %q\nwant prefix %q", err, prefix+want)
			}
			if srcErr.StatusCode != tc.status || srcErr.Permanent() != tc.permanent || srcErr.Op != OpSave {
				t.Fatalf("status %d permanent %v op %s; want %d %v", srcErr.StatusCode, srcErr.Permanent(), srcErr.Op, tc.status, tc.permanent)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Fatalf("error leaks the token: %v", err)
			}
			switch tc.fault {
			case "429":
				if srcErr.RetryAfter != 17*time.Second {
					t.Fatalf("RetryAfter = %v, want 17s", srcErr.RetryAfter)
				}
			case "html":
				if len(srcErr.Message) > maxServerMessage+len("…") {
					t.Fatalf("server message not capped: %d bytes", len(srcErr.Message))
				}
			case "cut-length", "reset-mid-body":
				if got.Len() == 0 || !strings.Contains(err.Error(), fmt.Sprintf("after %d of %d bytes", got.Len(), 2*got.Len()+1)) &&
					!strings.Contains(err.Error(), fmt.Sprintf("after %d of %d bytes", got.Len(), 2*got.Len())) {
					t.Fatalf("received %d bytes but the error says %q", got.Len(), err)
				}
				if tc.fault == "reset-mid-body" && !strings.HasSuffix(err.Error(), ": connection reset by peer") {
					t.Fatalf("error does not name the reset: %q", err)
				}
			}
		})
	}
}

func TestConnectionRefusedAndTimeout(t *testing.T) {
	port := testkit.FreePort(t) // nothing listens there any more
	addr := fmt.Sprintf("http://127.0.0.1:%d", port)
	src := mustNew(t, Config{Kind: Consul, Address: addr})
	_, err := src.Save(testContext(t), &bytes.Buffer{})
	if err == nil || err.Error() != "consul at "+addr+"/v1/snapshot: connection refused" {
		t.Fatalf("err = %v", err)
	}
	var srcErr *Error
	if !errors.As(err, &srcErr) || srcErr.Permanent() {
		t.Fatalf("connection refused must be a transient *Error: %#v", err)
	}

	consul := servers.StartConsul(t, servers.ConsulOptions{})
	stalled := startFaultProxy(t, consul.Addr, "stall")
	src = mustNew(t, Config{Kind: Consul, Address: stalled, Timeout: 300 * time.Millisecond})
	_, err = src.Save(testContext(t), &bytes.Buffer{})
	if !errors.As(err, &srcErr) || srcErr.Permanent() || !strings.Contains(err.Error(), ": timed out") {
		t.Fatalf("err = %v; want a transient timeout", err)
	}

	ctx, cancel := context.WithCancel(testContext(t))
	src = mustNew(t, Config{Kind: Consul, Address: stalled})
	done := make(chan error, 1)
	go func() {
		_, err := src.Save(ctx, &bytes.Buffer{})
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || !strings.HasSuffix(err.Error(), ": canceled") {
		t.Fatalf("err = %v; want context.Canceled", err)
	}
}

func TestDigestMismatchFromRealNomad(t *testing.T) {
	nomad := servers.StartNomad(t)
	addr := startFaultProxy(t, nomad.Addr, "corrupt")
	src := mustNew(t, Config{Kind: Nomad, Address: addr})
	var got bytes.Buffer
	_, err := src.Save(testContext(t), &got)
	var srcErr *Error
	if !errors.As(err, &srcErr) || srcErr.Permanent() || !strings.Contains(err.Error(), "Digest header mismatch") {
		t.Fatalf("err = %v; want a transient digest mismatch", err)
	}
	t.Logf("%v", err)
}

func TestRestoreFaults(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	ctx := testContext(t)

	addr := startFaultProxy(t, consul.Addr, "500")
	src := mustNew(t, Config{Kind: Consul, Address: addr})
	err := src.Restore(ctx, strings.NewReader("whatever"), 8)
	srcErr := assertStatusError(t, err, 500, false, "leadership lost")
	if srcErr.Op != OpRestore {
		t.Fatalf("Op = %q", srcErr.Op)
	}

	real := mustNew(t, Config{Kind: Consul, Address: consul.Addr})
	err = real.Restore(ctx, strings.NewReader("short"), 100)
	if !errors.As(err, &srcErr) || !srcErr.Permanent() || !strings.Contains(err.Error(), "archive ended after 5 of 100 bytes") {
		t.Fatalf("short archive: %v", err)
	}
	// A real Consul rejects garbage with its own message.
	err = real.Restore(ctx, strings.NewReader("not a snapshot"), 14)
	if !errors.As(err, &srcErr) || srcErr.StatusCode == 0 {
		t.Fatalf("garbage archive: %v", err)
	}
	t.Logf("garbage restore: %v", err)
	for _, size := range []int64{0, -1} {
		if err := real.Restore(ctx, strings.NewReader("x"), size); err == nil || !strings.Contains(err.Error(), "not positive") {
			t.Fatalf("size %d: %v", size, err)
		}
	}
}

func TestDigestAbsentOrMalformed(t *testing.T) {
	nomad := servers.StartNomad(t)
	ctx := testContext(t)

	src := mustNew(t, Config{Kind: Nomad, Address: startFaultProxy(t, nomad.Addr, "no-digest")})
	var archive bytes.Buffer
	res, err := src.Save(ctx, &archive)
	if err != nil || res.Digest != DigestAbsent || res.Headers["Digest"] != "" {
		t.Fatalf("without Digest: %v, %+v; want success recorded as absent", err, res)
	}
	verifyArchive(t, archive.Bytes(), src.VerifyOptions())

	src = mustNew(t, Config{Kind: Nomad, Address: startFaultProxy(t, nomad.Addr, "bad-digest")})
	_, err = src.Save(ctx, &bytes.Buffer{})
	var srcErr *Error
	if !errors.As(err, &srcErr) || !srcErr.Permanent() || !strings.Contains(err.Error(), `malformed Digest header "sha-256=not-base64!"`) {
		t.Fatalf("err = %v; want a permanent malformed-Digest error", err)
	}
}
