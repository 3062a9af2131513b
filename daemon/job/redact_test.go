package job

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot/source"
)

// TestSnapshotJobNeverReportsTheToken: a server answering 200 with a body
// that begins with the request's token makes verification quote the body's
// first bytes; neither the run report nor the status may carry any piece
// of the token, whether the verifier stopped the download (a long body) or
// refused the archive at its end (a short one).
func TestSnapshotJobNeverReportsTheToken(t *testing.T) {
	const token = "9d8c7b6a-5f4e-4d3c-8b2a-190fedcba987"
	for _, size := range []int{0, 8 << 20} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			fmt.Fprintf(w, "%s is not an archive%s", r.Header.Get("X-Raft-Token"), strings.Repeat(".", size))
		}))
		src, err := source.New(source.Config{Kind: source.Raft, Address: srv.URL, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		j, err := NewSnapshotJob(SnapshotOptions{Name: "echo", Source: src, Store: openStore(t), Interval: time.Hour})
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
			t.Fatalf("%d bytes more: want a failed run quoting a redacted body, got %+v", size, rep)
		}
		for _, text := range []string{rep.Error, string(status)} {
			for i := 0; i+source.MinTokenFragment <= len(token); i++ {
				if frag := token[i : i+source.MinTokenFragment]; strings.Contains(text, frag) {
					t.Fatalf("%d bytes more: a piece of the token (%q) was reported:\n%s", size, frag, text)
				}
			}
		}
	}
}
