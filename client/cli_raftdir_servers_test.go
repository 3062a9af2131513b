package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot/raftdir"
)

// Real servers write raft snapshots to disk soon with these settings.
var soonSnapshots = servers.RaftOptions{Threshold: 16, Interval: time.Second}

// stopGrace bounds a server's orderly shutdown before it is killed.
const stopGrace = 30 * time.Second

// awaitRaftSnapshot waits until the server has written a snapshot covering
// index into raftDir/snapshots (the servers announce it only in their log).
// It first writes more than soonSnapshots.Threshold entries past index with
// pad(i): a server that took its snapshot half-way through the caller's
// writes would otherwise never take the next one, the rest being under the
// threshold.
func awaitRaftSnapshot(t *testing.T, s *servers.Server, raftDir string, index uint64, pad func(i int)) {
	t.Helper()
	for i := range soonSnapshots.Threshold + 1 {
		pad(i)
	}
	err := s.WaitUntil(fmt.Sprintf("a raft snapshot at index %d or later in %s", index, raftDir), servers.StartTimeout, func() bool {
		dirs, _ := filepath.Glob(filepath.Join(raftDir, raftdir.SnapshotsDir, "*"))
		for _, d := range dirs {
			parts := strings.Split(filepath.Base(d), "-")
			if len(parts) != 3 || strings.HasSuffix(d, ".tmp") {
				continue
			}
			if n, err := strconv.ParseUint(parts[1], 10, 64); err == nil && n >= index {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
}

// consulKVIndex is the raft index that last wrote key.
func consulKVIndex(t *testing.T, consul *servers.Server, key string) uint64 {
	t.Helper()
	var entries []struct{ ModifyIndex uint64 }
	if err := json.Unmarshal(consul.MustDo(t, http.MethodGet, "/v1/kv/"+key, "", nil), &entries); err != nil || len(entries) != 1 {
		t.Fatalf("kv %s: %v %+v", key, err, entries)
	}
	return entries[0].ModifyIndex
}

// TestCLIRaftDirConsul is the quorum-lost runbook of docs/operations.md on
// a real Consul, with each log store it can use (raft-wal is its default
// for a new data dir since 1.15; raft.db for older ones): KV data, a raft
// snapshot on disk, a refusal while the server runs, then the stopped
// server's data dir saved, accepted by consul snapshot inspect, and
// restored into a fresh Consul that has the data.
func TestCLIRaftDirConsul(t *testing.T) {
	for _, tc := range []struct{ name, backend, store string }{
		{"wal_default", "", raftdir.LogStoreWAL},
		{"boltdb", "boltdb", raftdir.LogStoreBolt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			consul := servers.StartConsul(t, servers.ConsulOptions{Persistent: true, Raft: soonSnapshots, LogStore: tc.backend})
			consulBin := servers.Binary(t, "consul")
			for i := range 40 {
				consul.PutKV(t, fmt.Sprintf("app/k%02d", i), fmt.Sprintf("v%d", i))
			}
			written := consulKVIndex(t, consul, "app/k39")
			raftDir := filepath.Join(consul.DataDir, "raft")
			awaitRaftSnapshot(t, consul, raftDir, written, func(i int) { consul.PutKV(t, fmt.Sprintf("pad/k%02d", i), "pad") })
			out := filepath.Join(t.TempDir(), "consul-from-disk.snap")

			// While the server runs: refused at once, nothing written.
			r := raftsnap(t, "snapshot", "save", "--source", "raft-dir", "--path", consul.DataDir, out)
			if r.Code != ExitError || !strings.Contains(r.Stderr, "is locked by a running server") {
				t.Fatalf("save while consul runs: %s", r)
			}
			assertOnlyFiles(t, filepath.Dir(out))

			consul.PutKV(t, "late/key", "after the snapshot")
			late := consulKVIndex(t, consul, "late/key")
			if err := consul.Stop(stopGrace); err != nil {
				t.Fatal(err)
			}
			digest := testkit.TreeDigest(t, consul.DataDir)

			ins := inspectRaftDir(t, consul.DataDir)
			if ins.Dir.RaftDir != raftDir || ins.Log.Store != tc.store || ins.Log.LastIndex < late || ins.Selected == "" {
				t.Fatalf("inspection of consul's data dir: %+v", ins)
			}
			saved := saveRaftDir(t, consul.DataDir, out)
			if saved.ID != ins.Selected || saved.Index < written || saved.LogLag.LogStore != tc.store || saved.LogLag.LastIndex < late ||
				saved.LogLag.Missing != saved.LogLag.LastIndex-saved.Index {
				t.Fatalf("saved %+v, lag %+v; data written up to %d, the late key at %d", saved, saved.LogLag, written, late)
			}
			if testkit.TreeDigest(t, consul.DataDir) != digest {
				t.Fatal("inspect or save changed consul's data dir")
			}

			inspect := vendor(t, consulBin, nil, "snapshot", "inspect", out)
			if !strings.Contains(inspect, strconv.FormatUint(saved.Index, 10)) {
				t.Fatalf("consul snapshot inspect does not show index %d:\n%s", saved.Index, inspect)
			}
			mustRaftsnap(t, "snapshot", "verify", out)

			fresh := servers.StartConsul(t, servers.ConsulOptions{NodeName: "fresh"})
			// A write through raft proves the new leader has finished taking
			// office: Consul 1.22 -dev, given a restore in the same
			// millisecond as its election, was seen to hang in the restore.
			fresh.PutKV(t, "fresh/ready", "1")
			mustRaftsnap(t, "snapshot", "restore", "--source", "consul", "--address", fresh.Addr, "--yes", out)
			if _, ok := fresh.GetKV(t, "fresh/ready"); ok {
				t.Fatal("the restore did not replace the fresh server's state")
			}
			for _, i := range []int{0, 17, 39} {
				if v, ok := fresh.GetKV(t, fmt.Sprintf("app/k%02d", i)); !ok || v != fmt.Sprintf("v%d", i) {
					t.Fatalf("after restore app/k%02d = %q (exists %v)", i, v, ok)
				}
			}
			if saved.Index < late {
				// Written after the snapshot: only in the log, not restored.
				if _, ok := fresh.GetKV(t, "late/key"); ok {
					t.Fatal("late/key came back, though the snapshot predates it")
				}
			}
		})
	}
}

// TestCLIRaftDirNomad does the same with a real Nomad server, whose raft
// directory is DATA/server/raft (raft-boltdb only: Nomad 1.11 has no
// raft-wal).
func TestCLIRaftDirNomad(t *testing.T) {
	nomad := servers.StartNomadWith(t, servers.NomadOptions{Raft: soonSnapshots})
	nomadBin := servers.Binary(t, "nomad")
	for i := range 30 {
		testkit.PutNomadVariable(t, nomad, fmt.Sprintf("raftsnap/v%02d", i), fmt.Sprintf("value %d", i))
	}
	var last struct{ ModifyIndex uint64 }
	if err := json.Unmarshal(nomad.MustDo(t, http.MethodGet, "/v1/var/raftsnap/v29", "", nil), &last); err != nil || last.ModifyIndex == 0 {
		t.Fatalf("variable index: %v %+v", err, last)
	}
	raftDir := filepath.Join(nomad.DataDir, "server", "raft")
	awaitRaftSnapshot(t, nomad, raftDir, last.ModifyIndex, func(i int) {
		testkit.PutNomadVariable(t, nomad, fmt.Sprintf("pad/v%02d", i), "pad")
	})
	out := filepath.Join(t.TempDir(), "nomad-from-disk.snap")

	r := raftsnap(t, "snapshot", "save", "--source", "raft-dir", "--path", nomad.DataDir, out)
	if r.Code != ExitError || !strings.Contains(r.Stderr, "is locked by a running server") {
		t.Fatalf("save while nomad runs: %s", r)
	}
	if err := nomad.Stop(stopGrace); err != nil {
		t.Fatal(err)
	}
	digest := testkit.TreeDigest(t, nomad.DataDir)

	ins := inspectRaftDir(t, nomad.DataDir)
	if ins.Dir.RaftDir != raftDir || ins.Log.Store != raftdir.LogStoreBolt || ins.Selected == "" {
		t.Fatalf("inspection of nomad's data dir: %+v", ins)
	}
	saved := saveRaftDir(t, nomad.DataDir, out)
	if saved.Index < last.ModifyIndex || saved.LogLag.LogStore != raftdir.LogStoreBolt || saved.LogLag.LastIndex < saved.Index {
		t.Fatalf("saved %+v, lag %+v; variables written up to %d", saved, saved.LogLag, last.ModifyIndex)
	}
	if testkit.TreeDigest(t, nomad.DataDir) != digest {
		t.Fatal("inspect or save changed nomad's data dir")
	}

	inspect := vendor(t, nomadBin, nil, "operator", "snapshot", "inspect", out)
	if !strings.Contains(inspect, strconv.FormatUint(saved.Index, 10)) {
		t.Fatalf("nomad operator snapshot inspect does not show index %d:\n%s", saved.Index, inspect)
	}

	fresh := servers.StartNomad(t)
	testkit.PutNomadVariable(t, fresh, "fresh/ready", "1") // the new leader applies writes (see TestCLIRaftDirConsul)
	mustRaftsnap(t, "snapshot", "restore", "--source", "nomad", "--address", fresh.Addr, "--yes", out)
	if code, _, err := fresh.Do(http.MethodGet, "/v1/var/fresh/ready", "", nil); err != nil || code != http.StatusNotFound {
		t.Fatalf("after the restore fresh/ready answers %d, %v: the restore did not replace the fresh server's state", code, err)
	}
	for _, i := range []int{0, 29} {
		if got := testkit.NomadVariable(t, fresh, fmt.Sprintf("raftsnap/v%02d", i)); got != fmt.Sprintf("value %d", i) {
			t.Fatalf("after restore raftsnap/v%02d = %q", i, got)
		}
	}
}

// TestCLIRaftDirReadOnlyMount saves from a copy of a stopped Consul's data
// dir on a file system mounted read-only, where any attempt to write (a
// lock file, bolt's initialisation, a WAL recovery) would fail.
func TestCLIRaftDirReadOnlyMount(t *testing.T) {
	mount := filepath.Join(t.TempDir(), "ro")
	testkit.MountTmpfs(t, mount, "256m")
	consul := servers.StartConsul(t, servers.ConsulOptions{Persistent: true, Raft: soonSnapshots})
	for i := range 20 {
		consul.PutKV(t, fmt.Sprintf("k%02d", i), "v")
	}
	awaitRaftSnapshot(t, consul, filepath.Join(consul.DataDir, "raft"), consulKVIndex(t, consul, "k19"), func(i int) {
		consul.PutKV(t, fmt.Sprintf("pad/k%02d", i), "pad")
	})
	if err := consul.Stop(stopGrace); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", consul.DataDir, mount).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	testkit.Remount(t, mount, "ro")
	data := filepath.Join(mount, filepath.Base(consul.DataDir))
	saved := saveRaftDir(t, data, filepath.Join(t.TempDir(), "ro.snap"))
	if saved.LogLag.LogStore != raftdir.LogStoreWAL || saved.Index == 0 {
		t.Fatalf("saved %+v", saved)
	}
}
