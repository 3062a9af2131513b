package e2e

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit/servers"
)

// consulJobs snapshot the Consul at %[2]s and restore into it.
var consulJobs = []string{
	`{name: consul-main, type: snapshot, source: {type: consul, address: %[2]s, token_file: %[1]s/consul.token}, interval: 1h, store: {path: %[1]s/store}, pruning: {keep: [{last_n: {count: 10}}]}}`,
	`{name: consul-rollback, type: restore, from_job: consul-main, snapshot: latest, allow_overwrite: true, target: {type: consul, address: %[2]s, token_file: %[1]s/consul.token}}`,
}

// TestDaemonAgainstConsul: the daemon snapshots a real Consul server (with
// ACLs, so the token file is used), records Consul's headers, and its
// restore job rolls the KV store back to the snapshot.
func TestDaemonAgainstConsul(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{ACL: true})
	consul.PutKV(t, "app/config", "v1")

	dir := shortTempDir(t)
	writeFile(t, filepath.Join(dir, "consul.token"), consul.ManagementToken+"\n", 0o600)
	d := startDaemon(t, writeConfig(t, dir, controlIn, consulJobs, consul.Addr))
	var outputs []string

	r, archive, _, sc := wakeupStored(t, d.Sock, "consul-main", filepath.Join(dir, "store"))
	outputs = append(outputs, r.Stdout, r.Stderr)
	name := filepath.Base(archive)
	consulIndex, err := strconv.ParseUint(sc.Headers["X-Consul-Index"], 10, 64)
	if err != nil || consulIndex == 0 {
		t.Errorf("sidecar X-Consul-Index = %q, want Consul's raft index (headers %v)", sc.Headers["X-Consul-Index"], sc.Headers)
	}
	if sc.Headers["X-Consul-KnownLeader"] != "true" {
		t.Errorf("sidecar X-Consul-KnownLeader = %q, want true", sc.Headers["X-Consul-KnownLeader"])
	}

	// Change the data after the snapshot; the restore job brings it back.
	consul.PutKV(t, "app/config", "v2")
	consul.PutKV(t, "app/extra", "added later")
	r = rs(t, "signal", "wakeup", "consul-rollback", "--wait", "--socket", d.Sock)
	outputs = append(outputs, r.Stdout, r.Stderr)
	if r.Code != 0 {
		t.Fatalf("signal wakeup consul-rollback --wait: %s", r)
	}
	if got := snapName.FindString(r.Stdout); got != name {
		t.Errorf("the restore job restored %q, want the newest snapshot %s", got, name)
	}
	if v, ok := consul.GetKV(t, "app/config"); !ok || v != "v1" {
		t.Errorf("after the restore app/config = %q (present %v), want v1", v, ok)
	}
	if _, ok := consul.GetKV(t, "app/extra"); ok {
		t.Error("after the restore app/extra, written after the snapshot, still exists")
	}

	st := mustRS(t, "status", "--mode", "raw", "--socket", d.Sock)
	outputs = append(outputs, st.Stdout, d.Output())
	for _, text := range outputs {
		if strings.Contains(text, consul.ManagementToken) {
			t.Fatalf("the Consul token leaked into:\n%s", text)
		}
	}
}
