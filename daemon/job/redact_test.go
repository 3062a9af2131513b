package job

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// TestSnapshotJobNeverReportsTheToken: a server answering 200 with a body
// that begins with the request's token makes verification quote the body's
// first bytes; neither the run report nor the status may carry any piece
// of the token, whether the verifier stopped the download (a long body) or
// refused the archive at its end (a short one).
//
// The daemon's jobs hold a source.Deferred (the token read at each run),
// which must scrub as a source built by New does.
func TestSnapshotJobNeverReportsTheToken(t *testing.T) {
	const token = "9d8c7b6a-5f4e-4d3c-8b2a-190fedcba987"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		size     int
		deferred bool
	}{{0, false}, {8 << 20, false}, {0, true}, {8 << 20, true}} {
		size := tc.size
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			fmt.Fprintf(w, "%s is not an archive%s", r.Header.Get("X-Raft-Token"), strings.Repeat(".", size))
		}))
		var (
			src source.Source
			err error
		)
		if tc.deferred {
			src, err = source.NewDeferred(source.Config{Kind: source.Raft, Address: srv.URL, TokenFile: tokenFile}, nil)
		} else {
			src, err = source.New(source.Config{Kind: source.Raft, Address: srv.URL, Token: token})
		}
		if err != nil {
			t.Fatal(err)
		}
		j, err := NewSnapshotJob(SnapshotOptions{Name: "echo", Source: src, Store: storetest.Local(t), Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		stop := startJob(t, j)
		rep := wakeAndWait(t, j)
		status, err := json.Marshal(j.Status())
		stop()
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if rep.Result != controlapi.ResultFailure || !strings.Contains(rep.Error, "not gzip") || !strings.Contains(rep.Error, "[redacted]") {
			t.Fatalf("%d bytes more (deferred %v): want a failed run quoting a redacted body, got %+v", size, tc.deferred, rep)
		}
		for _, text := range []string{rep.Error, string(status)} {
			for i := 0; i+source.MinTokenFragment <= len(token); i++ {
				if frag := token[i : i+source.MinTokenFragment]; strings.Contains(text, frag) {
					t.Fatalf("%d bytes more (deferred %v): a piece of the token (%q) was reported:\n%s", size, tc.deferred, frag, text)
				}
			}
		}
	}
}
