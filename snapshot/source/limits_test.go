package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestIsNoLeaderMessages: the words each server uses when it has no
// leader, as their sources write them (Consul and Nomad's structs.ErrNoLeader,
// raftsnap's own handler). A real server cannot be made to lose its quorum
// on demand in a unit test, so these are the texts, served over HTTP.
func TestIsNoLeaderMessages(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   bool
	}{
		{500, "No cluster leader", true},
		{500, "rpc error making call: No cluster leader", true},
		{503, "this node is not the leader and no leader is known (no quorum or an election is in progress)", true},
		{503, "cannot confirm leadership: node is not the leader", true},
		{503, "this node is not the leader; the leader is node-1 at raft address 127.0.0.1:1", false},
		{500, "internal error", false},
		{403, "No cluster leader", false}, // not a server error: not this case
	}
	for _, tc := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, tc.body, tc.status)
		}))
		src, err := New(Config{Kind: Consul, Address: srv.URL, StaleFallback: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Save(context.Background(), io.Discard)
		srv.Close()
		if got := IsNoLeader(err); got != tc.want {
			t.Errorf("%d %q: IsNoLeader = %v, want %v (err %v)", tc.status, tc.body, got, tc.want, err)
		}
	}
}

// TestSaveStaleAsksForStale: SaveStale adds ?stale even when the source is
// consistent by default, and reports the result as stale.
func TestSaveStaleAsksForStale(t *testing.T) {
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		w.Write([]byte{0x1f, 0x8b})
	}))
	defer srv.Close()
	src, err := New(Config{Kind: Consul, Address: srv.URL, StaleFallback: true})
	if err != nil {
		t.Fatal(err)
	}
	fallback, ok := src.(StaleFallbackSource)
	if !ok || !fallback.StaleFallback() {
		t.Fatal("an http source with StaleFallback does not offer SaveStale")
	}
	res, err := fallback.SaveStale(context.Background(), io.Discard)
	if err != nil || !res.Stale {
		t.Fatalf("SaveStale: %+v, %v", res, err)
	}
	if res, err := src.Save(context.Background(), io.Discard); err != nil || res.Stale {
		t.Fatalf("Save: %+v, %v", res, err)
	}
	if len(queries) != 2 || queries[0] != "stale" || queries[1] != "" {
		t.Errorf("queries %q, want [stale, \"\"]", queries)
	}
}

// TestMaxSizeAndPages: the cap and the page check, on the wire.
func TestMaxSizeAndPages(t *testing.T) {
	gzipLike := append([]byte{0x1f, 0x8b}, make([]byte, 998)...)
	cases := []struct {
		name        string
		contentType string
		chunked     bool
		body        []byte
		max         int64
		wantErr     error
		wantText    string
	}{
		{name: "at the cap", body: gzipLike, max: 1000},
		{name: "length over the cap", body: gzipLike, max: 999, wantErr: ErrTooLarge, wantText: "1000 bytes (Content-Length), over max_size 999 bytes"},
		{name: "chunked over the cap", chunked: true, body: gzipLike, max: 512, wantErr: ErrTooLarge, wantText: "download aborted after 513 bytes"},
		{name: "html page", contentType: "text/html", body: []byte("<html>Login</html>"), wantErr: ErrNotArchive, wantText: "<html>Login</html>"},
		{name: "json error", contentType: "application/json", body: []byte(`{"error":"nope"}`), wantErr: ErrNotArchive},
		{name: "gzip labelled json", contentType: "application/json", body: gzipLike},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				if tc.chunked {
					w.WriteHeader(http.StatusOK)
					w.(http.Flusher).Flush()
				}
				w.Write(tc.body)
			}))
			defer srv.Close()
			src, err := New(Config{Kind: Consul, Address: srv.URL, MaxSize: tc.max})
			if err != nil {
				t.Fatal(err)
			}
			_, err = src.Save(context.Background(), io.Discard)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Save: %v", err)
				}
				return
			}
			var srcErr *Error
			if !errors.Is(err, tc.wantErr) || !errors.As(err, &srcErr) || !srcErr.Permanent() {
				t.Fatalf("Save error %v, want a permanent %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
		})
	}
}

// TestNotLeaderHintNamesTheCallersStaleSetting: an answer saying the
// server is not the leader, or that there is none, carries a hint naming
// the caller's own way to go stale (the CLI's --stale, the configuration's
// stale: true), never the query string; not when the save was already
// stale, not for other errors, and not for Vault, which has no stale mode.
func TestNotLeaderHintNamesTheCallersStaleSetting(t *testing.T) {
	for _, tc := range []struct {
		kind   Kind
		status int
		body   string
		stale  bool
		hint   string
		want   string
	}{
		{Raft, 503, "this node is not the leader; the leader is node-1 at raft address 127.0.0.1:1", false, "--stale", "ask the leader, or let any server answer with --stale"},
		{Consul, 500, "No cluster leader", false, "stale: true in the job's source", "let any server answer with stale: true in the job's source"},
		{Nomad, 500, "No cluster leader", false, "", "let any server answer with Stale"},
		{Raft, 503, "this node is not the leader; the leader is node-1", true, "--stale", ""},
		{Raft, 403, "permission denied: not the leader of anything", false, "--stale", ""},
		{Consul, 500, "internal error", false, "--stale", ""},
		{Vault, 503, "Vault is sealed; no leader is known", false, "--stale", ""},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, tc.body, tc.status)
		}))
		src, err := New(Config{Kind: tc.kind, Address: srv.URL, Stale: tc.stale, StaleHint: tc.hint})
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Save(context.Background(), io.Discard)
		srv.Close()
		msg := fmt.Sprint(err)
		var e *Error
		if !errors.As(err, &e) || tc.want == "" && e.Hint != "" || tc.want != "" && !strings.Contains(msg, tc.want) || strings.Contains(e.Hint, "?stale") {
			t.Errorf("%s %d %q (stale %v): %s; want hint %q", tc.kind, tc.status, tc.body, tc.stale, msg, tc.want)
		}
	}
}
