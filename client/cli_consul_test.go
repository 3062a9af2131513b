package client

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit"
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
	if err := json.Unmarshal([]byte(save.Stdout), &saved); err != nil {
		t.Fatalf("save --format json: %v\n%s", err, save.Stdout)
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
	if !strings.HasPrefix(verify.Stdout, "OK    "+theirs) {
		t.Fatalf("verify output: %s", verify.Stdout)
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
	if err := json.Unmarshal([]byte(inspect.Stdout), &ins); err != nil {
		t.Fatalf("inspect --format json: %v\n%s", err, inspect.Stdout)
	}
	if ins.Index == 0 || ins.State == nil || ins.State.Flavor != "consul" {
		t.Fatalf("inspect did not decode a consul state: %s", inspect.Stdout)
	}
	kv := int64(-1)
	for _, typ := range ins.State.Types {
		if typ.Name == "KVS" {
			kv = typ.Count
		}
	}
	if kv != 2 {
		t.Fatalf("inspect counts %d KV records, want the 2 keys written: %s", kv, inspect.Stdout)
	}
	text := mustRaftsnap(t, "snapshot", "inspect", theirs)
	t.Logf("raftsnap inspect of consul's snapshot:\n%s", text.Stdout)
	for _, want := range []string{"Index", "Configuration", "KVS", "voter"} {
		if !strings.Contains(text.Stdout, want) {
			t.Fatalf("inspect text lacks %q:\n%s", want, text.Stdout)
		}
	}

	// Change the data, then restore raftsnap's snapshot: the old data is back.
	consul.PutKV(t, "app/config", "v2")
	consul.PutKV(t, "app/extra", "x")
	restore := mustRaftsnap(t, "snapshot", "restore", "--source", "consul", "--address", consul.Addr, "--yes", ours)
	if !strings.Contains(restore.Stdout, "Restored "+ours) {
		t.Fatalf("restore output: %s", restore.Stdout)
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
	data := mustSave(t, "consul", consul.Addr, good)
	bad := filepath.Join(dir, "bad.snap")
	if err := os.WriteFile(bad, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	consul.PutKV(t, "k", "after")
	r := raftsnap(t, "snapshot", "restore", "--source", "consul", "--address", consul.Addr, "--yes", bad)
	if r.Code != ExitInvalid || !strings.Contains(r.Stderr, "failed verification, nothing was sent") || !strings.Contains(r.Stderr, "truncated") {
		t.Fatalf("restore of a truncated file: %s", r)
	}
	if v, _ := consul.GetKV(t, "k"); v != "after" {
		t.Fatalf("cluster changed by a refused restore: k = %q", v)
	}

	// Without --yes and without a terminal, nothing happens either.
	r = raftsnap(t, "snapshot", "restore", "--source", "consul", "--address", consul.Addr, good)
	if r.Code != ExitUsage || !strings.Contains(r.Stderr, "--yes") {
		t.Fatalf("restore without --yes off a terminal: %s", r)
	}
	if v, _ := consul.GetKV(t, "k"); v != "after" {
		t.Fatalf("cluster changed by an unconfirmed restore: k = %q", v)
	}
}

// fillConsul writes mib MiB of random KV values (512 KiB each, Consul's
// default limit) so that its snapshots are bigger than a restore holds back.
func fillConsul(t *testing.T, consul *servers.Server, mib int) {
	t.Helper()
	value := make([]byte, 512<<10)
	for i := range mib * 2 {
		rand.Read(value)
		consul.PutKV(t, fmt.Sprintf("fill/%04d", i), string(value))
	}
}

// TestCLIRestoreOnePassLeavesConsulUntouched proves against a real Consul
// what the one-pass restore promises (issues 12 and 19): an archive that
// fails verification at its end is sent as it verifies but never whole, and
// Consul's state stays as it was; so does a file changed during the upload.
// That the first archive, delivered whole, would have been restored is
// shown with consul's own CLI, which accepts it.
func TestCLIRestoreOnePassLeavesConsulUntouched(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	consulBin := servers.Binary(t, "consul")
	env := []string{"CONSUL_HTTP_ADDR=" + consul.Addr}
	dir := t.TempDir()
	fillConsul(t, consul, 16)
	consul.PutKV(t, "k", "before")
	good := filepath.Join(dir, "good.snap")
	data := mustSave(t, "consul", consul.Addr, good)
	if len(data) < 12<<20 {
		t.Fatalf("archive of %d bytes, want at least 12 MiB", len(data))
	}
	consul.PutKV(t, "k", "after")

	// 1. Valid archive plus an empty gzip member: Consul's reader accepts
	// it, raftsnap's verifier finds it only at the end.
	bad := filepath.Join(dir, "bad.snap")
	if err := os.WriteFile(bad, testkit.WithEmptyGzipMember(data), 0o600); err != nil {
		t.Fatal(err)
	}
	r := raftsnap(t, "snapshot", "restore", "--source", "consul", "--address", consul.Addr, "--yes", bad)
	if r.Code != ExitInvalid || !strings.Contains(r.Stderr, "second gzip member") || !strings.Contains(r.Stderr, "the upload was cut after") {
		t.Fatalf("restore of a valid archive plus a gzip member: %s", r)
	}
	if v, _ := consul.GetKV(t, "k"); v != "after" {
		t.Fatalf("Consul's state changed although the archive never arrived whole: k = %q", v)
	}
	consul.PutKV(t, "alive", "yes") // the leader did not crash
	vendor(t, consulBin, env, "snapshot", "restore", bad)
	if v, _ := consul.GetKV(t, "k"); v != "before" {
		t.Fatalf("consul snapshot restore of the whole file: k = %q, want before (the test's premise)", v)
	}
	consul.PutKV(t, "k", "after")

	// 2. The file changes in place while the upload is held mid-way.
	changing := filepath.Join(dir, "changing.snap")
	if err := os.WriteFile(changing, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := restoreChangedMidUpload(t, "consul", consul.Addr, changing); r.Code != ExitInvalid || !strings.Contains(r.Stderr, "failed verification while it was sent") {
		t.Fatalf("restore of a file changed during the upload: %s", r)
	}
	if v, _ := consul.GetKV(t, "k"); v != "after" {
		t.Fatalf("Consul took a file that changed during the upload: k = %q", v)
	}

	// 3. The good file, through a faithful proxy, restores.
	proxy := testkit.NewProxy(t, consul.Addr)
	mustRaftsnap(t, "snapshot", "restore", "--source", "consul", "--address", proxy.URL, "--yes", good)
	if v, _ := consul.GetKV(t, "k"); v != "before" {
		t.Fatalf("after restoring the good file k = %q", v)
	}
}

// TestCLIRestoreRefusesNomadSnapshotIntoConsul: issue 12's crash (a Nomad
// snapshot restored into Consul panics its leader) is refused before a
// request reaches Consul; its state is untouched and it keeps serving.
func TestCLIRestoreRefusesNomadSnapshotIntoConsul(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	consul.PutKV(t, "k", "v")
	nomadFile := filepath.Join(t.TempDir(), "nomad.snap")
	data, err := os.ReadFile(filepath.Join("..", "snapshot", "testdata", "inspect", "nomad.snap"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nomadFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	proxy := testkit.NewProxy(t, consul.Addr)
	r := raftsnap(t, "snapshot", "restore", "--source", "consul", "--address", proxy.URL, "--yes", nomadFile)
	if r.Code != ExitWrongFlavor || !strings.Contains(r.Stderr, "it is a Nomad snapshot, not a Consul snapshot") || proxy.Requests() != 0 {
		t.Fatalf("restore of a Nomad snapshot into Consul: %d requests; %s", proxy.Requests(), r)
	}
	if v, _ := consul.GetKV(t, "k"); v != "v" {
		t.Fatalf("k = %q", v)
	}
}
