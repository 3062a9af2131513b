package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit/servers"
)

// TestHooksAndNotificationsWithConsul (issue 17): a pre-snapshot hook that
// was allowed the token writes a marker with the real consul CLI into the
// real Consul being backed up, and the snapshot holds it; a webhook on
// loopback hears a failed run and the recovery, with no byte of the token
// in anything sent.
func TestHooksAndNotificationsWithConsul(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{ACL: true})
	dir := shortTempDir(t)
	tokenFile := filepath.Join(dir, "consul.token")
	writeFile(t, tokenFile, "00000000-0000-4000-8000-000000000000\n", 0o600) // wrong at first

	var mu sync.Mutex
	var bodies []string
	got := make(chan struct{}, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		got <- struct{}{}
	}))
	defer receiver.Close()
	awaitEvent := func(event string) map[string]any {
		t.Helper()
		for deadline := time.After(60 * time.Second); ; {
			select {
			case <-got:
			case <-deadline:
				t.Fatalf("no %s event; got %q", event, bodies)
			}
			mu.Lock()
			last := bodies[len(bodies)-1]
			mu.Unlock()
			var m map[string]any
			if err := json.Unmarshal([]byte(last), &m); err == nil && m["event"] == event {
				return m
			}
		}
	}

	consulBin := servers.Binary(t, "consul")
	marker := filepath.Join(dir, "marker.sh")
	writeFile(t, marker, "#!/bin/sh\nexec "+consulBin+" kv put raftsnap/marker \"$RAFTSNAP_RUN_ID\"\n", 0o755)
	config := writeConfig(t, dir, `{control: {sockpath: %[1]s/control/sock}, notifications: [{url: "%[4]s/hook/secret-path", min_severity: info, retries: {max: 1, initial_backoff: 100ms}}]}`, []string{
		`{name: consul-main, type: snapshot, source: {type: consul, address: %[2]s, token_file: %[1]s/consul.token}, interval: 1h, retries: {max: 0}, store: {path: %[1]s/store}, pruning: {keep: [{last_n: {count: 5}}]}, hooks: [{path: %[3]s, pass_token: true, err_is_fatal: false, timeout: 30s}]}`,
	}, consul.Addr, marker, receiver.URL)
	d := startDaemon(t, config)

	failed := awaitEvent("run_failed")
	if failed["job"] != "consul-main" || failed["severity"] != "error" || !strings.Contains(failed["message"].(string), "403") {
		t.Fatalf("run_failed event: %v", failed)
	}

	writeFile(t, tokenFile, consul.ManagementToken+"\n", 0o600)
	r := mustRS(t, "signal", "wakeup", "consul-main", "--wait", "--socket", d.Sock)
	recovered := awaitEvent("job_recovered")
	run := recovered["run"].(map[string]any)
	if v, ok := consul.GetKV(t, "raftsnap/marker"); !ok || v != run["id"] {
		t.Fatalf("the hook's marker = %q (%v), want the run id %v; signal output %s", v, ok, run["id"], r)
	}
	snap := filepath.Join(dir, "store", run["snapshot"].(string))
	if inspect := mustRS(t, "snapshot", "inspect", snap).Stdout; !strings.Contains(inspect, "KVS") {
		t.Fatalf("inspect of the snapshot taken after the hook:\n%s", inspect)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, b := range append(bodies, d.Output()) {
		if strings.Contains(b, consul.ManagementToken) || strings.Contains(b, consul.ManagementToken[:8]) {
			t.Fatalf("a token reached a webhook payload or the log: %s", b)
		}
	}
	if strings.Contains(d.Output(), "secret-path") {
		t.Fatal("the webhook's URL path reached the log")
	}
}
