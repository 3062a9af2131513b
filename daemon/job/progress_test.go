package job

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/retention"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// TestProgressBeforeAndDuringTheDownload (issue 13): while the server
// prepares the snapshot the phase says the run waits for it, not that it is
// connecting; a Content-Length gives the bytes expected (percent and ETA).
func TestProgressBeforeAndDuringTheDownload(t *testing.T) {
	state := bytes.Repeat([]byte("state "), 10000)
	var archive bytes.Buffer
	if _, err := snapshot.Write(&archive, &raft.SnapshotMeta{Version: 1, ID: "1-5-1", Index: 5, Term: 1, Size: int64(len(state))}, bytes.NewReader(state)); err != nil {
		t.Fatal(err)
	}
	asked, answer, half := make(chan struct{}), make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(asked)
		<-answer // preparing the snapshot
		w.Header().Set("Content-Length", strconv.Itoa(archive.Len()))
		w.Header().Set("Content-Type", "application/x-gzip")
		data := archive.Bytes()
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		<-half
		w.Write(data[len(data)/2:])
	}))
	defer srv.Close()
	src, err := source.New(source.Config{Kind: source.Raft, Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	policy, _ := retention.NewPolicy(mustRule(retention.NewLastN(3)))
	j, err := NewSnapshotJob(SnapshotOptions{Name: "snap", Source: src, Store: storetest.Local(t), Interval: time.Hour, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	stop := startJob(t, j)
	defer stop()
	<-asked
	waitFor(t, "the waiting phase", func() bool {
		c := j.Status().Current
		return c != nil && c.Phase == controlapi.PhaseWaiting
	})
	close(answer)
	waitFor(t, "half the bytes", func() bool {
		c := j.Status().Current
		return c != nil && c.BytesDone > 0
	})
	if c := j.Status().Current; c.BytesExpected != int64(archive.Len()) || c.Phase != controlapi.PhaseDownloading {
		t.Fatalf("during the download: %+v, want %d bytes expected", c, archive.Len())
	}
	close(half)
	waitFor(t, "the run's end", func() bool { return j.Status().LastRun != nil })
	if r := j.Status().LastRun; r.Result != controlapi.ResultSuccess {
		t.Fatalf("run: %+v", r)
	}
}
