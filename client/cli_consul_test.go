package client

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit/servers"
)

// TestCLIConsul is the "done when" path against a real Consul:
// save, verify and inspect with raftsnap and with the consul CLI in both
// directions, then restore with raftsnap and find the data back.
func TestCLIConsul(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	consulBin := servers.Binary(t, "consul")
	env := []string{"CONSUL_HTTP_ADDR=" + consul.Addr}
	dir := t.TempDir()

	consul.PutKV(t, "app/config", "v1")
	consul.PutKV(t, "app/replicas", "3")

	ours := filepath.Join(dir, "raftsnap.snap")
	save := mustRaftsnap(t, "snapshot", "save", "--source", "consul", "--address", consul.Addr, "--format", "json", ours)
	var saved saveOutcome
	if err := json.Unmarshal([]byte(save.stdout), &saved); err != nil {
		t.Fatalf("save --format json: %v\n%s", err, save.stdout)
	}
	if saved.Index == 0 || saved.Bytes == 0 || len(saved.SHA256) != 64 {
		t.Fatalf("implausible save outcome: %+v", saved)
	}
	if saved.Headers["X-Consul-Index"] == "" || saved.Headers["X-Consul-Knownleader"] == "" && saved.Headers["X-Consul-KnownLeader"] == "" {
		t.Fatalf("consul's index and leader headers were not recorded: %v", saved.Headers)
	}
	st, err := os.Stat(ours)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Size() != saved.Bytes {
		t.Fatalf("saved file mode %v size %d, want 0600 and %d bytes", st.Mode().Perm(), st.Size(), saved.Bytes)
	}
	assertOnlyFiles(t, dir, "raftsnap.snap")

	// consul's own reader accepts what raftsnap saved.
	out := vendor(t, consulBin, env, "snapshot", "inspect", ours)
	if !strings.Contains(out, strconv.FormatUint(saved.Index, 10)) {
		t.Fatalf("consul snapshot inspect does not show index %d:\n%s", saved.Index, out)
	}

	// raftsnap accepts what consul saved, and decodes its records.
	theirs := filepath.Join(dir, "consul.snap")
	vendor(t, consulBin, env, "snapshot", "save", theirs)
	verify := mustRaftsnap(t, "snapshot", "verify", theirs)
	if !strings.HasPrefix(verify.stdout, "OK    "+theirs) {
		t.Fatalf("verify output: %s", verify.stdout)
	}
	inspect := mustRaftsnap(t, "snapshot", "inspect", "--format", "json", theirs)
	var ins struct {
		Index uint64 `json:"index"`
		State *struct {
			Flavor string `json:"flavor"`
			Types  []struct {
				Name  string `json:"name"`
				Count int64  `json:"count"`
			} `json:"types"`
		} `json:"state"`
	}
	if err := json.Unmarshal([]byte(inspect.stdout), &ins); err != nil {
		t.Fatalf("inspect --format json: %v\n%s", err, inspect.stdout)
	}
	if ins.Index == 0 || ins.State == nil || ins.State.Flavor != "consul" {
		t.Fatalf("inspect did not decode a consul state: %s", inspect.stdout)
	}
	kv := int64(-1)
	for _, typ := range ins.State.Types {
		if typ.Name == "KVS" {
			kv = typ.Count
		}
	}
	if kv != 2 {
		t.Fatalf("inspect counts %d KV records, want the 2 keys written: %s", kv, inspect.stdout)
	}
	text := mustRaftsnap(t, "snapshot", "inspect", theirs)
	t.Logf("raftsnap inspect of consul's snapshot:\n%s", text.stdout)
	for _, want := range []string{"Index", "Configuration", "KVS", "voter"} {
		if !strings.Contains(text.stdout, want) {
			t.Fatalf("inspect text lacks %q:\n%s", want, text.stdout)
		}
	}

	// Change the data, then restore raftsnap's snapshot: the old data is back.
	consul.PutKV(t, "app/config", "v2")
	consul.PutKV(t, "app/extra", "x")
	restore := mustRaftsnap(t, "snapshot", "restore", "--source", "consul", "--address", consul.Addr, "--yes", ours)
	if !strings.Contains(restore.stdout, "Restored "+ours) {
		t.Fatalf("restore output: %s", restore.stdout)
	}
	if v, _ := consul.GetKV(t, "app/config"); v != "v1" {
		t.Fatalf("after restore app/config = %q, want v1", v)
	}
	if _, ok := consul.GetKV(t, "app/extra"); ok {
		t.Fatal("after restore app/extra still exists")
	}

	// And consul's own restore accepts raftsnap's file too.
	consul.PutKV(t, "app/config", "v3")
	vendor(t, consulBin, env, "snapshot", "restore", ours)
	if v, _ := consul.GetKV(t, "app/config"); v != "v1" {
		t.Fatalf("after consul snapshot restore app/config = %q, want v1", v)
	}
}

// TestCLIRestoreRefusesCorruptFile checks that a damaged archive is refused
// before anything reaches the server.
func TestCLIRestoreRefusesCorruptFile(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	dir := t.TempDir()
	consul.PutKV(t, "k", "before")
	good := filepath.Join(dir, "good.snap")
	mustRaftsnap(t, "snapshot", "save", "--source", "consul", "--address", consul.Addr, good)

	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.snap")
	if err := os.WriteFile(bad, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	consul.PutKV(t, "k", "after")
	r := raftsnap(t, "snapshot", "restore", "--source", "consul", "--address", consul.Addr, "--yes", bad)
	if r.code != ExitInvalid || !strings.Contains(r.stderr, "failed verification, nothing was sent") || !strings.Contains(r.stderr, "truncated") {
		t.Fatalf("restore of a truncated file: %s", r)
	}
	if v, _ := consul.GetKV(t, "k"); v != "after" {
		t.Fatalf("cluster changed by a refused restore: k = %q", v)
	}

	// Without --yes and without a terminal, nothing happens either.
	r = raftsnap(t, "snapshot", "restore", "--source", "consul", "--address", consul.Addr, good)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("restore without --yes off a terminal: %s", r)
	}
	if v, _ := consul.GetKV(t, "k"); v != "after" {
		t.Fatalf("cluster changed by an unconfirmed restore: k = %q", v)
	}
}
