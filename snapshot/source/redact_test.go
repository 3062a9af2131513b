package source

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/snapshot"
)

// echoedToken is sent by the client and echoed back by the servers below.
const echoedToken = "3c9f0e2a-7b41-4d8e-9a6f-1e2d3c4b5a69"

// assertNoTokenFragment fails when any MinTokenFragment-byte run of the
// token (so any longer one too) is in text.
func assertNoTokenFragment(t *testing.T, where, text string) {
	t.Helper()
	for i := 0; i+MinTokenFragment <= len(echoedToken); i++ {
		if frag := echoedToken[i : i+MinTokenFragment]; strings.Contains(text, frag) {
			t.Errorf("%s holds %q, a piece of the token:\n%s", where, frag, text)
			return
		}
	}
}

// TestNoTokenInAnyResponseShape: a server (or a proxy in front of it) that
// sends the request's token back, whole or in pieces, in any part of its
// answer must not get it into an error, a recorded header or the status.
// Each case also checks that its shape of answer did happen, so that the
// test cannot pass by missing the path it means.
func TestNoTokenInAnyResponseShape(t *testing.T) {
	pieces := func(tok string) string { return "first " + tok[:15] + " then " + tok[15:] }
	archive := func(t *testing.T) []byte {
		var b bytes.Buffer
		if _, err := snapshot.Write(&b, &raft.SnapshotMeta{ID: "1-10-1", Index: 10, Term: 1, Size: int64(len("state"))}, strings.NewReader("state")); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for _, tc := range []struct {
		name    string
		kind    Kind
		restore bool // the shape is the answer to a restore
		handler func(t *testing.T, tok string, w http.ResponseWriter)
		// check says the shape happened; got is nil on success.
		check func(t *testing.T, res *SaveResult, err error)
	}{
		{"error page with the token", Consul, false, func(t *testing.T, tok string, w http.ResponseWriter) {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "ACL not found for token %s", tok)
		}, wantStatus(http.StatusForbidden)},
		{"error page with the token in pieces", Nomad, false, func(t *testing.T, tok string, w http.ResponseWriter) {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, pieces(tok))
		}, wantStatus(http.StatusInternalServerError)},
		{"vault JSON error with the token", Vault, false, func(t *testing.T, tok string, w http.ResponseWriter) {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `{"errors":["permission denied for %s"]}`, tok)
		}, wantStatus(http.StatusForbidden)},
		{"restore error page with the token", Consul, true, func(t *testing.T, tok string, w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "bad snapshot from %s", tok)
		}, wantStatus(http.StatusBadRequest)},
		{"200 page with the token", Consul, false, func(t *testing.T, tok string, w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, "<html>welcome %s</html>", tok)
		}, wantIs(ErrNotArchive)},
		{"200 page type naming the token", Consul, false, func(t *testing.T, tok string, w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html; charset="+tok)
			fmt.Fprint(w, "<html>login</html>")
		}, wantIs(ErrNotArchive)},
		{"200 body beginning with the token", Raft, false, func(t *testing.T, tok string, w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/octet-stream")
			fmt.Fprintf(w, "%s and then some bytes that are not gzip", tok)
		}, wantVerificationError},
		{"200 body beginning with a piece of the token", Consul, false, func(t *testing.T, tok string, w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/x-gzip")
			fmt.Fprint(w, tok[7:])
		}, wantVerificationError},
		{"malformed Digest header with the token", Nomad, false, func(t *testing.T, tok string, w http.ResponseWriter) {
			w.Header().Set("Digest", "sha-256="+tok)
			_, _ = w.Write(archive(t))
		}, wantMessage("malformed Digest header")},
		{"recorded headers with the token", Consul, false, func(t *testing.T, tok string, w http.ResponseWriter) {
			w.Header().Set("X-Consul-Index", tok)
			w.Header().Set("X-Consul-KnownLeader", pieces(tok))
			_, _ = w.Write(archive(t))
		}, func(t *testing.T, res *SaveResult, err error) {
			if err != nil || !strings.Contains(res.Headers["X-Consul-Index"], "[redacted]") {
				t.Fatalf("want a save recording a redacted X-Consul-Index, got %v, %v", res, err)
			}
		}},
		{"redirect to a URL with the token", Vault, false, func(t *testing.T, tok string, w http.ResponseWriter) {
			w.Header().Set("Location", "https://active.vault:8200/v1/sys/storage/raft/snapshot?token="+tok)
			w.WriteHeader(http.StatusTemporaryRedirect)
			fmt.Fprintf(w, "see %s", tok)
		}, wantStatus(http.StatusTemporaryRedirect)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				spec, _ := Lookup(tc.kind)
				tok := r.Header.Get(spec.TokenHeader)
				if tok != echoedToken {
					t.Errorf("the request carried %q in %s", tok, spec.TokenHeader)
				}
				tc.handler(t, tok, w)
			}))
			defer srv.Close()
			src := mustNew(t, Config{Kind: tc.kind, Address: srv.URL, Token: echoedToken})

			var res *SaveResult
			var err error
			if tc.restore {
				err = src.Restore(context.Background(), strings.NewReader("x"), 1)
			} else {
				res, err = saveVerified(src)
			}
			tc.check(t, res, err)
			if err != nil {
				var e *Error
				if errors.As(err, &e) {
					assertNoTokenFragment(t, "Error.Message", e.Message)
				}
				for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", e)} {
					assertNoTokenFragment(t, "the error", text)
				}
				if !strings.Contains(err.Error(), "[redacted]") {
					t.Errorf("the echoed token should read [redacted]: %v", err)
				}
			}
			if res != nil {
				assertNoTokenFragment(t, "the recorded headers", fmt.Sprint(res.Headers))
			}
		})
	}
}

// saveVerified saves as the daemon and the CLI do: into a verifier, whose
// error comes back through Save or from Close, then through Redact.
func saveVerified(src Source) (*SaveResult, error) {
	verifier := snapshot.NewVerifier(context.Background(), src.VerifyOptions())
	res, err := src.Save(context.Background(), io.MultiWriter(io.Discard, verifier))
	if err != nil {
		verifier.Abort()
		_, _ = verifier.Close()
		return res, err
	}
	if _, err := verifier.Close(); err != nil {
		return res, Redact(src, err)
	}
	return res, nil
}

func wantStatus(code int) func(*testing.T, *SaveResult, error) {
	return func(t *testing.T, _ *SaveResult, err error) {
		t.Helper()
		var e *Error
		if !errors.As(err, &e) || e.StatusCode != code {
			t.Fatalf("want a %d *Error, got %v", code, err)
		}
	}
}

func wantIs(target error) func(*testing.T, *SaveResult, error) {
	return func(t *testing.T, _ *SaveResult, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Fatalf("want an error wrapping %v, got %v", target, err)
		}
	}
}

func wantMessage(part string) func(*testing.T, *SaveResult, error) {
	return func(t *testing.T, _ *SaveResult, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), part) {
			t.Fatalf("want an error saying %q, got %v", part, err)
		}
	}
}

// wantVerificationError: the verifier refused the body and its error, which
// quotes the body's first bytes, still classifies as *snapshot.Error.
func wantVerificationError(t *testing.T, _ *SaveResult, err error) {
	t.Helper()
	var archiveErr *snapshot.Error
	if !errors.As(err, &archiveErr) || !strings.Contains(err.Error(), "not gzip") {
		t.Fatalf("want a not-gzip *snapshot.Error, got %T %v", err, err)
	}
}

// TestNoTokenInTransportErrors: a server answering with a malformed status
// line that holds the token makes net/http quote it in its error.
func TestNoTokenInTransportErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				fmt.Fprintf(conn, "HTTP/1.1 2%s OK\r\n\r\n", req.Header.Get("X-Consul-Token"))
			}()
		}
	}()
	src := mustNew(t, Config{Kind: Consul, Address: "http://" + l.Addr().String(), Token: echoedToken})
	_, err = src.Save(context.Background(), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "malformed HTTP status code") {
		t.Fatalf("want net/http's malformed status error, got %v", err)
	}
	assertNoTokenFragment(t, "the error", err.Error())
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("the echoed token should read [redacted]: %v", err)
	}
}

func TestScrubToken(t *testing.T) {
	token := Secret(echoedToken)
	for _, tc := range []struct{ in, want string }{
		{"nothing here", "nothing here"},
		{"x " + echoedToken + " y", "x [redacted] y"},
		{echoedToken + echoedToken, "[redacted]"},
		{"a " + echoedToken[:20] + " b " + echoedToken[20:], "a [redacted] b [redacted]"},
		{"cut at the end " + echoedToken[:5], "cut at the end [redacted]"},
		{"too short to tell " + echoedToken[:3] + " apart", "too short to tell " + echoedToken[:3] + " apart"},
		{"tail " + echoedToken[30:], "tail [redacted]"},
	} {
		if got := string(scrubToken([]byte(tc.in), token)); got != tc.want {
			t.Errorf("scrubToken(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Tokens shorter than a fragment go whole, and only whole.
	if got := string(scrubToken([]byte("root token: root, not roo"), "root")); got != "[redacted] token: [redacted], not roo" {
		t.Errorf("short token: %q", got)
	}
	if got := string(scrubToken([]byte("anything"), "")); got != "anything" {
		t.Errorf("no token: %q", got)
	}
}
