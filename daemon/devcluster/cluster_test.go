package devcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"go.uber.org/goleak"
)

// testLogger sends raft's WARN+ output to the test log, so a failing test
// shows what raft complained about; it stays safe when a transport
// goroutine logs after the test ended. (This package's own tests cannot
// use testkit/raftcluster, which imports it.)
func testLogger(t *testing.T) *slog.Logger { return testkit.Logger(t, slog.LevelWarn) }

func startCluster(t *testing.T, opts Options) *Cluster {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

var testContext = testkit.Context

var eventually = testkit.Eventually

func TestThreeNodesReplicateAndSurviveLeaderStop(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	ctx := testContext(t)
	if got := len(c.Nodes()); got != 3 {
		t.Fatalf("Nodes() = %d nodes, want 3", got)
	}
	for i := range 10 {
		if err := c.Put(ctx, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Delete(ctx, "k0"); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes() {
		eventually(t, string(n.ID)+" to hold 9 keys", func() bool {
			v, ok := n.FSM.Get("k9")
			_, deleted := n.FSM.Get("k0")
			return n.FSM.Len() == 9 && ok && v == "v9" && !deleted
		})
	}

	old, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Stop(); err != nil {
		t.Fatalf("stop leader: %v", err)
	}
	next, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if next == old {
		t.Fatalf("stopped node %s is still reported as leader", old.ID)
	}
	if err := c.Put(ctx, "after", "election"); err != nil {
		t.Fatal(err)
	}
	v, ok, err := c.Get(ctx, "after")
	if err != nil || !ok || v != "election" {
		t.Fatalf("Get(after) = %q, %v, %v; want election", v, ok, err)
	}
	if v, ok, _ := c.Get(ctx, "k0"); ok {
		t.Fatalf("deleted key k0 still has value %q", v)
	}
}

func TestKVAPIOverHTTP(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	ctx := testContext(t)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var follower *Node
	for _, n := range c.Nodes() {
		if n != leader {
			follower = n
			break
		}
	}
	do := func(method, url, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// A write sent to a follower is forwarded to the leader.
	if code, body := do(http.MethodPut, follower.HTTPAddr+"/v1/kv/colour", "blue"); code != http.StatusNoContent {
		t.Fatalf("PUT via follower: %d %s", code, body)
	}
	for _, n := range c.Nodes() {
		eventually(t, string(n.ID)+" to serve colour", func() bool {
			code, body := do(http.MethodGet, n.HTTPAddr+"/v1/kv/colour", "")
			return code == http.StatusOK && body == "blue"
		})
	}
	if code, body := do(http.MethodGet, leader.HTTPAddr+"/v1/kv?keys", ""); code != http.StatusOK || strings.TrimSpace(body) != `["colour"]` {
		t.Fatalf("list keys: %d %s", code, body)
	}
	code, body := do(http.MethodGet, leader.HTTPAddr+"/v1/kv", "")
	var all map[string]string
	if code != http.StatusOK || json.Unmarshal([]byte(body), &all) != nil || all["colour"] != "blue" || len(all) != 1 {
		t.Fatalf("dump: %d %s", code, body)
	}
	if code, body := do(http.MethodDelete, leader.HTTPAddr+"/v1/kv/colour", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if code, _ := do(http.MethodGet, leader.HTTPAddr+"/v1/kv/colour", ""); code != http.StatusNotFound {
		t.Fatalf("GET deleted key: %d, want 404", code)
	}
	if code, body := do(http.MethodGet, leader.HTTPAddr+"/v1/kv/", ""); code != http.StatusBadRequest || !strings.Contains(body, "missing key") {
		t.Fatalf("GET empty key: %d %s", code, body)
	}
	if code, _ := do(http.MethodPost, leader.HTTPAddr+"/v1/kv/x", "y"); code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d, want 405", code)
	}
}

func TestBackgroundWriterChangesStateAndStops(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1, WriteInterval: 5 * time.Millisecond})
	eventually(t, "10 background writes", func() bool { return c.Writes() >= 10 })
	leader := c.Nodes()[0]
	if keys := leader.FSM.Keys(); len(keys) == 0 || !strings.HasPrefix(keys[0], "writer/") {
		t.Fatalf("keys after background writes: %v", keys)
	}
	c.StopWriter()
	stoppedAt, index := c.Writes(), leader.FSM.LastIndex()
	// The writer's goroutine has returned, so nothing can apply any more;
	// a barrier makes sure raft has drained what was already committed.
	if err := leader.Raft.Barrier(5 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	if c.Writes() != stoppedAt || leader.FSM.LastIndex() != index {
		t.Fatalf("writer kept writing after StopWriter: writes %d→%d, index %d→%d",
			stoppedAt, c.Writes(), index, leader.FSM.LastIndex())
	}
	c.StopWriter() // idempotent
}

func TestRestartReusesDir(t *testing.T) {
	dir := t.TempDir()
	ctx := testContext(t)
	first, err := Start(ctx, Options{Nodes: 3, Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Put(ctx, "survives", "restart"); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := startCluster(t, Options{Nodes: 3, Dir: dir})
	v, ok, err := second.Get(ctx, "survives")
	if err != nil || !ok || v != "restart" {
		t.Fatalf("after restart Get = %q, %v, %v", v, ok, err)
	}
	if err := second.Put(ctx, "new", "write"); err != nil {
		t.Fatalf("cluster not writable after restart: %v", err)
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	for _, opts := range []Options{{Nodes: 2}, {Nodes: -1}, {WriteInterval: -time.Second}} {
		_, err := Start(context.Background(), opts)
		if err == nil {
			t.Errorf("Start(%+v) succeeded, want an error", opts)
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	data := map[string]string{"a": "1", "b": "", "ünï": strings.Repeat("x", 70000)}
	var buf bytes.Buffer
	if err := encodeState(&buf, data, 42); err != nil {
		t.Fatal(err)
	}
	got, index, err := decodeState(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if index != 42 || len(got) != 3 || got["ünï"] != data["ünï"] || got["b"] != "" {
		t.Fatalf("decoded index %d, %d keys", index, len(got))
	}
	if _, _, err := decodeState(bytes.NewReader(buf.Bytes()[:buf.Len()-3])); err == nil {
		t.Fatal("truncated state decoded without error")
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	// Whatever is running now (go-metrics' collector, other tests' idle
	// leftovers) is not ours to judge.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := testContext(t)
	c, err := Start(ctx, Options{Nodes: 3, Dir: t.TempDir(), Logger: testLogger(t), WriteInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close() // on early failure; runs before the leak check
	eventually(t, "a background write", func() bool { return c.Writes() > 0 })
	// Exercise the HTTP and snapshot paths too, so their goroutines count.
	client := &http.Client{Transport: &http.Transport{}}
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(leader.HTTPAddr + SnapshotPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	n := len(body)
	resp.Body.Close()
	client.CloseIdleConnections()
	if resp.StatusCode != http.StatusOK || n == 0 {
		t.Fatalf("snapshot GET: status %d, %d bytes: %s", resp.StatusCode, n, body)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
