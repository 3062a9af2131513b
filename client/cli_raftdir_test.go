package client

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"
	"github.com/raftsnap/raftsnap/snapshot/raftdir"
)

// raftDirInspection is what `raft-dir inspect --format json` prints.
type raftDirInspection struct {
	Dir struct {
		RaftDir string `json:"raft_dir"`
	} `json:"dir"`
	Log struct {
		Store      string `json:"store"`
		FirstIndex uint64 `json:"first_index"`
		LastIndex  uint64 `json:"last_index"`
	} `json:"log"`
	Snapshots []struct {
		Name   string `json:"name"`
		Index  uint64 `json:"index"`
		Status string `json:"status"`
	} `json:"snapshots"`
	Selected string `json:"selected"`
	LogLag   *struct {
		Missing uint64 `json:"missing"`
	} `json:"log_lag"`
}

func inspectRaftDir(t *testing.T, dir string) raftDirInspection {
	t.Helper()
	r := mustRaftsnap(t, "raft-dir", "inspect", "--format", "json", dir)
	var ins raftDirInspection
	if err := json.Unmarshal([]byte(r.Stdout), &ins); err != nil {
		t.Fatalf("raft-dir inspect --format json: %v\n%s", err, r.Stdout)
	}
	return ins
}

func saveRaftDir(t *testing.T, dir, out string) saveOutcome {
	t.Helper()
	r := mustRaftsnap(t, "snapshot", "save", "--source", "raft-dir", "--path", dir, "--format", "json", out)
	var saved saveOutcome
	if err := json.Unmarshal([]byte(r.Stdout), &saved); err != nil {
		t.Fatalf("save --format json: %v\n%s", err, r.Stdout)
	}
	if saved.LogLag == nil || saved.LogLag.SnapshotIndex != saved.Index || saved.LogLag.Missing != saved.LogLag.LastIndex-min(saved.LogLag.LastIndex, saved.Index) {
		t.Fatalf("implausible log lag in %s", r.Stdout)
	}
	return saved
}

// TestCLIRaftDir runs the raft-dir commands on a real hashicorp/raft
// server's directory (the in-process dev cluster: raft-boltdb, file
// snapshots): refused while it runs, then inspect, save (text and JSON),
// a damaged newest snapshot, restore refused, exit codes.
func TestCLIRaftDir(t *testing.T) {
	cluster, raftDir := raftcluster.Snapshotted(t, 2, devcluster.Options{})
	out := filepath.Join(t.TempDir(), "disk.snap")

	r := raftsnap(t, "snapshot", "save", "--source", "raft-dir", "--path", raftDir, out)
	if r.Code != ExitError || !strings.Contains(r.Stderr, "is locked by a running server") || !strings.Contains(r.Stderr, "HTTP API") {
		t.Fatalf("save while the server runs: %s", r)
	}
	r = raftsnap(t, "raft-dir", "inspect", raftDir)
	if r.Code != ExitError || !strings.Contains(r.Stderr, "is locked by a running server") {
		t.Fatalf("inspect while the server runs: %s", r)
	}
	if err := cluster.Close(); err != nil {
		t.Fatal(err)
	}
	digest := testkit.TreeDigest(t, raftDir)

	ins := inspectRaftDir(t, raftDir)
	if len(ins.Snapshots) != 2 || ins.Selected != ins.Snapshots[0].Name || ins.Log.Store != raftdir.LogStoreBolt ||
		ins.LogLag == nil || ins.LogLag.Missing != ins.Log.LastIndex-ins.Snapshots[0].Index || ins.LogLag.Missing == 0 {
		t.Fatalf("inspection: %+v", ins)
	}
	text := mustRaftsnap(t, "raft-dir", "inspect", raftDir)
	for _, want := range []string{"Log store:       raft-boltdb", ins.Snapshots[1].Name, "Save would archive " + ins.Selected + ": snapshot at index " + strconv.FormatUint(ins.Snapshots[0].Index, 10)} {
		if !strings.Contains(text.Stdout, want) {
			t.Errorf("inspect text lacks %q:\n%s", want, text.Stdout)
		}
	}

	saved := saveRaftDir(t, raftDir, out)
	if saved.ID != ins.Selected || saved.Source != "raft-dir at "+raftDir || saved.LogLag.LogStore != raftdir.LogStoreBolt || len(saved.Warnings) != 0 {
		t.Fatalf("saved %+v", saved)
	}
	mustRaftsnap(t, "snapshot", "verify", out)
	assertOnlyFiles(t, filepath.Dir(out), "disk.snap")

	// A relative --path, and the text output.
	t.Chdir(filepath.Dir(raftDir))
	textSave := mustRaftsnap(t, "snapshot", "save", "--source", "raft-dir", "--path", filepath.Base(raftDir), out)
	if !strings.Contains(textSave.Stdout, "from raft-dir at "+raftDir+": index ") ||
		!strings.Contains(textSave.Stdout, "\nLog: snapshot at index "+strconv.FormatUint(saved.Index, 10)+"; the raft-boltdb log holds ") {
		t.Fatalf("text output: %s", textSave)
	}

	if testkit.TreeDigest(t, raftDir) != digest {
		t.Fatal("inspect or save changed the raft directory")
	}

	// The newest snapshot damaged: the older one, with a warning.
	testkit.FlipByte(t, filepath.Join(raftDir, raftdir.SnapshotsDir, ins.Selected, "state.bin"), 0)
	fallback := raftsnap(t, "snapshot", "save", "--source", "raft-dir", "--path", raftDir, "--format", "json", out)
	var older saveOutcome
	if fallback.Code != ExitOK || json.Unmarshal([]byte(fallback.Stdout), &older) != nil || older.ID != ins.Snapshots[1].Name ||
		len(older.Warnings) != 1 || !strings.Contains(fallback.Stderr, "raftsnap: warning: skipped 1 newer damaged snapshot(s): "+ins.Selected) {
		t.Fatalf("save with a damaged newest snapshot: %s", fallback)
	}
	// Both damaged: nothing saved, exit 3.
	testkit.FlipByte(t, filepath.Join(raftDir, raftdir.SnapshotsDir, ins.Snapshots[1].Name, "state.bin"), 0)
	before, _ := os.ReadFile(out)
	r = raftsnap(t, "snapshot", "save", "--source", "raft-dir", "--path", raftDir, out)
	if r.Code != ExitInvalid || !strings.Contains(r.Stderr, "holds no intact snapshot, nothing was archived") {
		t.Fatalf("save with every snapshot damaged: %s", r)
	}
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Fatal("a failed save changed the file")
	}
	r = raftsnap(t, "raft-dir", "inspect", raftDir)
	if r.Code != ExitInvalid || !strings.Contains(r.Stdout, "Save would fail: no intact snapshot") || strings.Count(r.Stdout, "crc_mismatch") != 2 {
		t.Fatalf("inspect with every snapshot damaged: %s", r)
	}
}

func TestCLIRaftDirUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"snapshot", "save", "--source", "raft-dir", filepath.Join(dir, "x.snap")}, ExitUsage, "--path is required for --source raft-dir"},
		{[]string{"snapshot", "save", "--source", "raft-dir", "--path", dir, "--address", "http://127.0.0.1:8500", filepath.Join(dir, "x.snap")}, ExitUsage,
			"address: applies to consul, nomad, vault and raft sources only"},
		{[]string{"snapshot", "save", "--source", "raft-dir", "--path", dir, filepath.Join(dir, "x.snap")}, ExitUsage,
			filepath.Join(dir, "x.snap") + " is inside " + dir + ", the server's directory, which raft-dir never writes into"},
		{[]string{"snapshot", "save", "--source", "raft-dir", "--path", dir, filepath.Join(t.TempDir(), "x.snap")}, ExitError, "is not a raft directory"},
		{[]string{"snapshot", "restore", "--source", "raft-dir", "--yes", filepath.Join(dir, "x.snap")}, ExitUsage,
			"--source raft-dir cannot be a restore target: it reads a stopped server's files and never writes them"},
		{[]string{"raft-dir", "inspect"}, ExitUsage, "expects DIR"},
		{[]string{"raft-dir", "inspect", "--format", "yaml", dir}, ExitUsage, "invalid --format"},
	} {
		r := raftsnap(t, tc.args...)
		if r.Code != tc.code || !strings.Contains(r.Stderr, tc.msg) {
			t.Errorf("raftsnap %s: %s\nwant exit %d saying %q", strings.Join(tc.args, " "), r, tc.code, tc.msg)
		}
	}
	// restore takes no --path (TestSourceFlagsDeriveFromRegistry checks
	// the kinds it offers).
	if r := mustRaftsnap(t, "snapshot", "restore", "--help"); strings.Contains(r.Stdout, "--path") {
		t.Errorf("restore help offers --path:\n%s", r.Stdout)
	}
}
