package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestTokenEchoedByServerIsRedacted: a proxy or server that quotes the
// request headers in its error page must not carry the token into the
// error (and so into logs, status and metrics). The stand-in server answers
// as such a misconfigured proxy does.
func TestTokenEchoedByServerIsRedacted(t *testing.T) {
	const token = "echo-me-3b9f6c1e-secret"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var headers strings.Builder
		r.Header.Write(&headers)
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "forbidden; your request was:\n%s %s\n%s", r.Method, r.URL, headers.String())
	}))
	defer srv.Close()

	for _, kind := range []Kind{Consul, Nomad, Vault, Raft} {
		src, err := New(Config{Kind: kind, Address: srv.URL, Token: Secret(token)})
		if err != nil {
			t.Fatal(err)
		}
		_, saveErr := src.Save(context.Background(), &bytes.Buffer{})
		restoreErr := src.Restore(context.Background(), strings.NewReader("x"), 1)
		for op, err := range map[string]error{"save": saveErr, "restore": restoreErr} {
			var e *Error
			if !errors.As(err, &e) || e.StatusCode != http.StatusForbidden {
				t.Fatalf("%s %s: want a 403 *Error, got %v", kind, op, err)
			}
			for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", e), e.Message} {
				if strings.Contains(text, token) {
					t.Fatalf("%s %s: token in error text: %s", kind, op, text)
				}
			}
			if !strings.Contains(e.Message, "[redacted]") {
				t.Fatalf("%s %s: the echoed header should read [redacted]: %s", kind, op, e.Message)
			}
		}
	}
}

// TestTokenEchoedAtTheCapIsRedacted: the echoed token sits where the
// message is capped, so a redaction after capping would miss the part left.
func TestTokenEchoedAtTheCapIsRedacted(t *testing.T) {
	const token = "0123456789abcdef-cap-secret-token"
	for _, pad := range []int{490, 500, 505, 2030, 2040} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "%s token=%s", strings.Repeat("x", pad), r.Header.Get("X-Consul-Token"))
		}))
		src, err := New(Config{Kind: Consul, Address: srv.URL, Token: Secret(token)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Save(context.Background(), &bytes.Buffer{})
		srv.Close()
		if err == nil {
			t.Fatalf("pad %d: want a 403 error", pad)
		}
		for n := 4; n <= len(token); n++ {
			if strings.Contains(err.Error(), token[:n]) {
				t.Fatalf("pad %d: %d leading bytes of the token in the error: %v", pad, n, err)
			}
		}
	}
}
