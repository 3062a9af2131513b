package snapshot_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/source"
)

type response struct {
	status int
	header http.Header
	body   []byte
}

func doRequest(t *testing.T, method, url string, header http.Header, body []byte) response {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(testContext(t), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(req.Header, header)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func snapshotURL(n *devcluster.Node) string { return n.HTTPAddr + devcluster.SnapshotPath }

// checkArchiveResponse asserts a 200 carrying a valid archive whose headers
// describe it.
func checkArchiveResponse(t *testing.T, r response, knownLeader bool) *snapshot.Report {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("GET: status %d: %s", r.status, r.body)
	}
	report, err := snapshot.Verify(t.Context(), bytes.NewReader(r.body), snapshot.VerifyOptions{})
	if err != nil {
		t.Fatalf("served archive does not verify: %v", err)
	}
	sum := sha256.Sum256(r.body)
	if got, want := r.header.Get("Digest"), "sha-256="+base64.StdEncoding.EncodeToString(sum[:]); got != want {
		t.Errorf("Digest = %q, want %q", got, want)
	}
	if got := r.header.Get("Content-Length"); got != strconv.Itoa(len(r.body)) {
		t.Errorf("Content-Length = %q, body has %d bytes", got, len(r.body))
	}
	if got := r.header.Get("X-Raft-Index"); got != strconv.FormatUint(report.Meta.Index, 10) {
		t.Errorf("X-Raft-Index = %q, archive index %d", got, report.Meta.Index)
	}
	if got := r.header.Get("X-Raft-Term"); got != strconv.FormatUint(report.Meta.Term, 10) {
		t.Errorf("X-Raft-Term = %q, archive term %d", got, report.Meta.Term)
	}
	if got := r.header.Get("X-Raft-Known-Leader"); got != strconv.FormatBool(knownLeader) {
		t.Errorf("X-Raft-Known-Leader = %q, want %v", got, knownLeader)
	}
	return report
}

func TestHandlerSaveAndRestoreRoundTrip(t *testing.T) {
	c := startCluster(t, devcluster.Options{Nodes: 3})
	want := putKeys(t, c, 100, "saved")
	leader := leaderOf(t, c)

	// A handler of our own, to watch its temporary directory.
	tempDir := t.TempDir()
	server := httptest.NewServer(snapshot.NewHandler(leader.Raft, snapshot.HandlerOptions{TempDir: tempDir}))
	t.Cleanup(server.Close)

	got := doRequest(t, http.MethodGet, server.URL, nil, nil)
	checkArchiveResponse(t, got, true)
	awaitEmptyDir(t, tempDir)

	mutate(t, c)
	put := doRequest(t, http.MethodPut, server.URL, nil, got.body)
	if put.status != http.StatusNoContent {
		t.Fatalf("PUT: status %d: %s", put.status, put.body)
	}
	if put.header.Get("X-Raft-Index") == "" {
		t.Error("PUT response has no X-Raft-Index")
	}
	awaitData(t, c, want)
	awaitEmptyDir(t, tempDir)

	// The same round trip through a devcluster node's own endpoint.
	again := doRequest(t, http.MethodGet, snapshotURL(leader), nil, nil)
	checkArchiveResponse(t, again, true)
}

func TestHandlerFollowerNeedsStaleAndNamesLeader(t *testing.T) {
	c := startCluster(t, devcluster.Options{Nodes: 3})
	putKeys(t, c, 10, "saved")
	leader, follower := leaderOf(t, c), followerOf(t, c)
	eventually(t, "the follower to learn the leader", func() bool {
		_, id := follower.Raft.LeaderWithID()
		return id == leader.ID && follower.FSM.Len() == 10
	})

	consistent := doRequest(t, http.MethodGet, snapshotURL(follower), nil, nil)
	if consistent.status != http.StatusServiceUnavailable {
		t.Fatalf("consistent GET on follower: status %d, want 503", consistent.status)
	}
	for _, part := range []string{"not the leader", string(leader.ID), leader.HTTPAddr, string(leader.RaftAddr)} {
		if !strings.Contains(string(consistent.body), part) {
			t.Errorf("error %q does not mention %q", consistent.body, part)
		}
	}
	// The client names its own way to ask for a stale snapshot (raftsnap:
	// --stale, stale: true); the answer names none.
	if strings.Contains(string(consistent.body), "stale") {
		t.Errorf("error %q suggests a way to go stale", consistent.body)
	}
	if ct := consistent.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("error Content-Type %q, want text/plain", ct)
	}
	stale := doRequest(t, http.MethodGet, snapshotURL(follower)+"?stale=true", nil, nil)
	checkArchiveResponse(t, stale, true)

	put := doRequest(t, http.MethodPut, snapshotURL(follower), nil, stale.body)
	if put.status != http.StatusServiceUnavailable || !strings.Contains(string(put.body), leader.HTTPAddr) {
		t.Fatalf("PUT on follower: status %d: %s", put.status, put.body)
	}
	if bad := doRequest(t, http.MethodGet, snapshotURL(leader)+"?stale=maybe", nil, nil); bad.status != http.StatusBadRequest {
		t.Fatalf("stale=maybe: status %d, want 400", bad.status)
	}
	if post := doRequest(t, http.MethodPost, snapshotURL(leader), nil, nil); post.status != http.StatusMethodNotAllowed || post.header.Get("Allow") != "GET, PUT, HEAD" {
		t.Fatalf("POST: status %d, Allow %q", post.status, post.header.Get("Allow"))
	}
	// HEAD says whether the node leads (leader_local HA asks it).
	for node, want := range map[string]string{snapshotURL(leader): "true", snapshotURL(follower): "false"} {
		head := doRequest(t, http.MethodHead, node, nil, nil)
		if head.status != http.StatusNoContent || head.header.Get(snapshot.HeaderLeader) != want || head.header.Get(snapshot.HeaderLeaderAddress) != string(leader.RaftAddr) {
			t.Errorf("HEAD %s: status %d, %s %q, %s %q; want %s and %s", node, head.status, snapshot.HeaderLeader, head.header.Get(snapshot.HeaderLeader),
				snapshot.HeaderLeaderAddress, head.header.Get(snapshot.HeaderLeaderAddress), want, leader.RaftAddr)
		}
	}
}

func TestHandlerStaleWhenLeaderStops(t *testing.T) {
	c := startCluster(t, devcluster.Options{Nodes: 3})
	want := putKeys(t, c, 20, "saved")
	awaitData(t, c, want)

	// Stop the leader: a follower still answers stale reads, and a
	// consistent read on a follower names the new leader.
	if err := leaderOf(t, c).Stop(); err != nil {
		t.Fatal(err)
	}
	newLeader := leaderOf(t, c)
	follower := followerOf(t, c)
	checkArchiveResponse(t, doRequest(t, http.MethodGet, snapshotURL(follower)+"?stale=true", nil, nil), true)
	eventually(t, "a consistent GET on the follower to name the new leader", func() bool {
		r := doRequest(t, http.MethodGet, snapshotURL(follower), nil, nil)
		return r.status == http.StatusServiceUnavailable && strings.Contains(string(r.body), newLeader.HTTPAddr)
	})

	// Stop the new leader too: the last node has no quorum and no leader.
	if err := newLeader.Stop(); err != nil {
		t.Fatal(err)
	}
	var consistent response
	eventually(t, "the last node to know there is no leader", func() bool {
		consistent = doRequest(t, http.MethodGet, snapshotURL(follower), nil, nil)
		return consistent.status == http.StatusServiceUnavailable && strings.Contains(string(consistent.body), "no leader is known")
	})
	if strings.Contains(string(consistent.body), "stale") {
		t.Errorf("error %q suggests a way to go stale", consistent.body)
	}
	report := checkArchiveResponse(t, doRequest(t, http.MethodGet, snapshotURL(follower)+"?stale=true", nil, nil), false)
	if report.Meta.Size == 0 {
		t.Fatal("stale snapshot has an empty state")
	}
}

func TestHandlerRefusesCorruptArchive(t *testing.T) {
	c := startCluster(t, devcluster.Options{Nodes: 3})
	putKeys(t, c, 200, "saved")
	leader := leaderOf(t, c)
	saved := doRequest(t, http.MethodGet, snapshotURL(leader), nil, nil)
	checkArchiveResponse(t, saved, true)
	mutate(t, c)
	want := leader.FSM.Data()
	awaitData(t, c, want)
	lastIndex := leader.Raft.LastIndex()

	for name, bad := range corruptions(t, saved.body) {
		r := doRequest(t, http.MethodPut, snapshotURL(leader), nil, bad)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "archive rejected: snapshot archive") {
			t.Errorf("PUT %s archive: status %d: %s", name, r.status, r.body)
		}
	}
	if got := leader.Raft.LastIndex(); got != lastIndex {
		t.Fatalf("raft last index moved from %d to %d", lastIndex, got)
	}
	awaitData(t, c, want)
}

func TestHandlerRestoreSizeCap(t *testing.T) {
	c := startCluster(t, devcluster.Options{Nodes: 1, MaxRestoreBytes: 512})
	putKeys(t, c, 200, "saved")
	leader := leaderOf(t, c)
	saved := doRequest(t, http.MethodGet, snapshotURL(leader), nil, nil)
	checkArchiveResponse(t, saved, true)
	if len(saved.body) <= 512 {
		t.Fatalf("archive of %d bytes does not exceed the 512-byte cap", len(saved.body))
	}
	r := doRequest(t, http.MethodPut, snapshotURL(leader), nil, saved.body)
	if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(string(r.body), "512") {
		t.Fatalf("oversized PUT: status %d: %s", r.status, r.body)
	}
}

// TestHandlerRefusesSparseArchive: a few hundred bytes whose state.bin is
// 64 MiB of holes, every checksum right. The handler used to spool the
// zeros archive/tar made up into its temporary directory (an exabyte of
// them filled it) and hand them to raft.
func TestHandlerRefusesSparseArchive(t *testing.T) {
	c := startCluster(t, devcluster.Options{Nodes: 1})
	putKeys(t, c, 20, "kept")
	leader := leaderOf(t, c)
	want := leader.FSM.Data()
	lastIndex := leader.Raft.LastIndex()
	tempDir := t.TempDir()
	server := httptest.NewServer(snapshot.NewHandler(leader.Raft, snapshot.HandlerOptions{TempDir: tempDir}))
	t.Cleanup(server.Close)

	body, err := os.ReadFile(filepath.Join("testdata", "corpus", "state-sparse-pax-1.0-verifies-as-zeros.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	r := doRequest(t, http.MethodPut, server.URL, nil, body)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "archive rejected: snapshot archive member state.bin is a GNU sparse file") {
		t.Fatalf("PUT of a sparse archive: status %d: %s", r.status, r.body)
	}
	if entries, err := os.ReadDir(tempDir); err != nil || len(entries) != 0 {
		t.Fatalf("temporary directory after the PUT: %v %v", entries, err)
	}
	if got := leader.Raft.LastIndex(); got != lastIndex {
		t.Fatalf("raft last index moved from %d to %d", lastIndex, got)
	}
	awaitData(t, c, want)
}

// TestHandlerRestoreEndsWithItsRequest: a client that goes away while its
// state.bin is being spooled ends the restore, and the spool file with it.
func TestHandlerRestoreEndsWithItsRequest(t *testing.T) {
	c := startCluster(t, devcluster.Options{Nodes: 1})
	leader := leaderOf(t, c)
	tempDir := t.TempDir()
	handler := snapshot.NewHandler(leader.Raft, snapshot.HandlerOptions{TempDir: tempDir})
	handlerDone := make(chan struct{})
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(server.Close)

	body := snapshot.DeclaredStateStream(1<<62, -1) // never ends
	defer body.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, server.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	clientErr := make(chan error, 1)
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		clientErr <- err
	}()
	eventually(t, "the handler to spool state.bin", func() bool {
		entries, _ := os.ReadDir(tempDir)
		for _, e := range entries {
			if info, err := e.Info(); err == nil && info.Size() > 0 {
				return true
			}
		}
		return false
	})
	cancel()
	select {
	case <-handlerDone:
	case <-time.After(2 * time.Minute):
		t.Fatal("the handler goes on restoring after its client went away")
	}
	if err := <-clientErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v, want its own cancellation", err)
	}
	if entries, err := os.ReadDir(tempDir); err != nil || len(entries) != 0 {
		t.Fatalf("temporary directory after the request ended: %v %v", entries, err)
	}
}

func TestHandlerToken(t *testing.T) {
	const token = "s3cret-token-value"
	c := startCluster(t, devcluster.Options{Nodes: 1, Token: token})
	putKeys(t, c, 3, "saved")
	url := snapshotURL(leaderOf(t, c))
	for name, header := range map[string]http.Header{
		"missing":      nil,
		"wrong":        {"X-Raft-Token": {"guess"}},
		"prefix":       {"X-Raft-Token": {token[:5]}},
		"wrong header": {"X-Consul-Token": {token}},
	} {
		for _, method := range []string{http.MethodGet, http.MethodPut} {
			r := doRequest(t, method, url, header, []byte("not an archive"))
			if r.status != http.StatusUnauthorized {
				t.Errorf("%s token, %s: status %d, want 401", name, method, r.status)
			}
			if strings.Contains(string(r.body), token) {
				t.Errorf("401 body leaks the token: %q", r.body)
			}
		}
	}
	ok := doRequest(t, http.MethodGet, url, http.Header{"X-Raft-Token": {token}}, nil)
	checkArchiveResponse(t, ok, true)
}

// TestRaftSourceSpeaksHandlerProtocol checks the contract between the
// handler and the raft source kind of package source.
func TestRaftSourceSpeaksHandlerProtocol(t *testing.T) {
	const token = "source-token"
	c := startCluster(t, devcluster.Options{Nodes: 3, Token: token})
	want := putKeys(t, c, 30, "saved")
	leader, follower := leaderOf(t, c), followerOf(t, c)
	ctx := testContext(t)

	src, err := source.New(source.Config{Kind: source.Raft, Address: leader.HTTPAddr, Token: source.Secret(token)})
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	res, err := src.Save(ctx, &archive)
	if err != nil {
		t.Fatalf("source Save: %v", err)
	}
	if res.Bytes != int64(archive.Len()) || res.Headers["X-Raft-Index"] == "" || res.Headers["Digest"] == "" {
		t.Fatalf("source Save result %+v for %d bytes", res, archive.Len())
	}
	if _, err := snapshot.Verify(t.Context(), bytes.NewReader(archive.Bytes()), src.VerifyOptions()); err != nil {
		t.Fatal(err)
	}

	staleSrc, err := source.New(source.Config{Kind: source.Raft, Address: follower.HTTPAddr, Token: source.Secret(token), Stale: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := staleSrc.Save(ctx, io.Discard); err != nil {
		t.Fatalf("stale source Save from follower: %v", err)
	}

	mutate(t, c)
	if err := src.Restore(ctx, bytes.NewReader(archive.Bytes()), int64(archive.Len())); err != nil {
		t.Fatalf("source Restore: %v", err)
	}
	awaitData(t, c, want)
}
