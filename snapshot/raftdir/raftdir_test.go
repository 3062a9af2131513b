package raftdir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/snapshot"
)

func TestSaveNewestWithBoltLog(t *testing.T) {
	raftDir := filepath.Join(t.TempDir(), "raft")
	older := addSnapshot(t, raftDir, 2, 10, stateBytes(1, 1000))
	want := stateBytes(2, 600<<10) // more than one read chunk
	newest := addSnapshot(t, raftDir, 2, 20, want)
	writeBoltLog(t, raftDir, 5, 35)
	unchanged(t, raftDir)

	res, rep, state := saveOK(t, raftDir)
	if res.Snapshot.Name != newest || rep.Meta.Index != 20 || rep.Meta.Term != 2 || rep.Meta.ID != newest {
		t.Fatalf("archived %s (index %d, term %d, ID %s), want the newest %s at index 20 (older: %s)",
			res.Snapshot.Name, rep.Meta.Index, rep.Meta.Term, rep.Meta.ID, newest, older)
	}
	if !bytes.Equal(state, want) {
		t.Fatal("the archive's state.bin differs from the snapshot's")
	}
	if len(rep.Meta.Configuration.Servers) != 1 || rep.Meta.Configuration.Servers[0].ID != "server-1" {
		t.Fatalf("the archive's configuration is %+v", rep.Meta.Configuration)
	}
	wantLag := snapshot.LogLag{LogStore: LogStoreBolt, SnapshotIndex: 20, FirstIndex: 5, LastIndex: 35, Missing: 15}
	if res.LogLag != wantLag {
		t.Fatalf("log lag %+v, want %+v", res.LogLag, wantLag)
	}
	if got, want := res.LogLag.String(), "snapshot at index 20; the raft-boltdb log holds 15 entries after it (log indexes 5 to 35) that this archive does not contain"; got != want {
		t.Fatalf("lag says %q, want %q", got, want)
	}
	if len(res.Warnings) != 0 || len(res.Skipped) != 0 {
		t.Fatalf("unexpected warnings %q, skipped %v", res.Warnings, res.Skipped)
	}
}

func TestSaveIsReproducible(t *testing.T) {
	raftDir := t.TempDir()
	addSnapshot(t, raftDir, 1, 7, stateBytes(3, 5000))
	writeBoltLog(t, raftDir, 1, 7)
	a, _, _ := saveOK(t, raftDir)
	b, _, _ := saveOK(t, raftDir)
	// The tar times are the snapshot's creation time, so one snapshot
	// always gives the same archive.
	if a.Archive.ArchiveSHA256 != b.Archive.ArchiveSHA256 {
		t.Fatalf("two saves of one snapshot differ: %s and %s", a.Archive.ArchiveSHA256, b.Archive.ArchiveSHA256)
	}
	if a.LogLag.Missing != 0 || !strings.Contains(a.LogLag.String(), "holds no entries after it") {
		t.Fatalf("lag %+v: %s", a.LogLag, a.LogLag)
	}
}

func TestSaveWithWALLog(t *testing.T) {
	raftDir := t.TempDir()
	addSnapshot(t, raftDir, 3, 40, stateBytes(4, 3000))
	// Small segments, so that the log spans sealed segments and a tail, and
	// a head truncation as raft makes after a snapshot.
	wal := openWALLog(t, raftDir, 4096)
	for i := uint64(1); i <= 60; i += 10 {
		logs := logEntries(i, i+9)
		for _, l := range logs {
			l.Data = bytes.Repeat([]byte{'x'}, 500)
		}
		if err := wal.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
	}
	if err := wal.DeleteRange(1, 12); err != nil {
		t.Fatal(err)
	}
	if err := wal.Close(); err != nil {
		t.Fatal(err)
	}
	segments, _ := filepath.Glob(filepath.Join(raftDir, WALDir, "*.wal"))
	if len(segments) < 2 {
		t.Fatalf("the WAL has %d segment files; the test needs sealed segments and a tail", len(segments))
	}
	unchanged(t, raftDir)

	res, rep, _ := saveOK(t, raftDir)
	want := snapshot.LogLag{LogStore: LogStoreWAL, SnapshotIndex: 40, FirstIndex: 13, LastIndex: 60, Missing: 20}
	if res.LogLag != want || rep.Meta.Index != 40 {
		t.Fatalf("log lag %+v (index %d), want %+v", res.LogLag, rep.Meta.Index, want)
	}
	if res.Log.Path != filepath.Join(raftDir, WALDir) {
		t.Fatalf("log path %s", res.Log.Path)
	}
}

func TestSaveWALEmptyTail(t *testing.T) {
	raftDir := t.TempDir()
	addSnapshot(t, raftDir, 1, 3, []byte("state"))
	wal := openWALLog(t, raftDir, 0)
	if err := wal.Close(); err != nil {
		t.Fatal(err)
	}
	res, _, _ := saveOK(t, raftDir)
	if want := (snapshot.LogLag{LogStore: LogStoreWAL, SnapshotIndex: 3}); res.LogLag != want {
		t.Fatalf("log lag %+v, want %+v", res.LogLag, want)
	}
	if !strings.Contains(res.LogLag.String(), "log empty") {
		t.Fatalf("lag says %q", res.LogLag)
	}
}

// TestSaveFallsBackFromDamagedNewest damages the newest snapshot in each
// way a disk or a crash can, and expects the older one, with a warning
// naming what was wrong.
func TestSaveFallsBackFromDamagedNewest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, raftDir, newest string)
		problem string
	}{
		{"crc", func(t *testing.T, raftDir, newest string) {
			flipByte(t, snapshotFile(raftDir, newest, snapshot.StateName), 1234)
		}, "CRC-64 is"},
		{"state_missing", func(t *testing.T, raftDir, newest string) {
			os.Remove(snapshotFile(raftDir, newest, snapshot.StateName))
		}, "has no state.bin"},
		{"state_truncated", func(t *testing.T, raftDir, newest string) {
			os.Truncate(snapshotFile(raftDir, newest, snapshot.StateName), 100)
		}, "state.bin is 100 bytes, but meta.json says Size 4000"},
		{"meta_garbage", func(t *testing.T, raftDir, newest string) {
			os.WriteFile(snapshotFile(raftDir, newest, snapshot.MetaName), []byte("{\"Version\":1,"), 0o644)
		}, "not valid JSON"},
		{"meta_missing", func(t *testing.T, raftDir, newest string) {
			os.Remove(snapshotFile(raftDir, newest, snapshot.MetaName))
		}, "has no meta.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raftDir := t.TempDir()
			older := addSnapshot(t, raftDir, 1, 10, stateBytes(5, 2000))
			newest := addSnapshot(t, raftDir, 1, 20, stateBytes(6, 4000))
			writeBoltLog(t, raftDir, 1, 25)
			tc.damage(t, raftDir, newest)
			unchanged(t, raftDir)

			res, rep, _ := saveOK(t, raftDir)
			if res.Snapshot.Name != older || rep.Meta.Index != 10 {
				t.Fatalf("archived %s (index %d), want the older %s", res.Snapshot.Name, rep.Meta.Index, older)
			}
			if len(res.Skipped) != 1 || res.Skipped[0].Name != newest {
				t.Fatalf("skipped %+v, want %s", res.Skipped, newest)
			}
			if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], newest) || !strings.Contains(res.Warnings[0], tc.problem) ||
				!strings.Contains(res.Warnings[0], "archived the older snapshot "+older+" (index 10) instead") {
				t.Fatalf("warnings %q do not say that %s was skipped (%q) for %s", res.Warnings, newest, tc.problem, older)
			}
			if res.LogLag.Missing != 15 {
				t.Fatalf("lag counts from the archived snapshot: %+v", res.LogLag)
			}
		})
	}
}

func TestSaveRefusesCorruptCRC(t *testing.T) {
	raftDir := t.TempDir()
	name := addSnapshot(t, raftDir, 1, 10, stateBytes(7, 3000))
	writeBoltLog(t, raftDir, 1, 10)
	flipByte(t, snapshotFile(raftDir, name, snapshot.StateName), 0)
	unchanged(t, raftDir)

	var archive bytes.Buffer
	_, err := Save(context.Background(), raftDir, &archive, Options{})
	if !errors.Is(err, ErrNoValidSnapshot) || !errors.Is(err, snapshot.ErrChecksum) {
		t.Fatalf("err = %v, want ErrNoValidSnapshot wrapping snapshot.ErrChecksum", err)
	}
	var archiveErr *snapshot.Error
	if !errors.As(err, &archiveErr) || archiveErr.Member != snapshot.StateName {
		t.Fatalf("no *snapshot.Error naming state.bin under %v", err)
	}
	if !strings.Contains(err.Error(), `snapshot directory "`+name+`": state.bin's CRC-64 is `) ||
		!strings.Contains(err.Error(), "state.bin is damaged") || !strings.Contains(err.Error(), "nothing was archived") {
		t.Fatalf("message: %v", err)
	}
	if archive.Len() != 0 {
		t.Fatalf("%d bytes were written for a damaged snapshot", archive.Len())
	}
}

// TestSaveRefusesLyingSizes: sizes that disagree are refused before
// anything is read, however large the file or the claim.
func TestSaveRefusesLyingSizes(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, raftDir, name string)
		kind error
		msg  string
	}{
		{"meta_claims_more", func(t *testing.T, raftDir, name string) {
			rewriteMeta(t, raftDir, name, func(m map[string]any) { m["Size"] = int64(1) << 62 })
		}, snapshot.ErrStateSize, "state.bin is 3000 bytes, but meta.json says Size 4611686018427387904"},
		{"meta_claims_less", func(t *testing.T, raftDir, name string) {
			rewriteMeta(t, raftDir, name, func(m map[string]any) { m["Size"] = 10 })
		}, snapshot.ErrStateSize, "state.bin is 3000 bytes, but meta.json says Size 10"},
		{"state_sparse_terabyte", func(t *testing.T, raftDir, name string) {
			if err := os.Truncate(snapshotFile(raftDir, name, snapshot.StateName), 1<<40); err != nil {
				t.Fatal(err)
			}
		}, snapshot.ErrStateSize, "state.bin is 1099511627776 bytes, but meta.json says Size 3000"},
		{"meta_sparse_gigabytes", func(t *testing.T, raftDir, name string) {
			if err := os.Truncate(snapshotFile(raftDir, name, snapshot.MetaName), 2<<30); err != nil {
				t.Fatal(err)
			}
		}, snapshot.ErrMetaTooLarge, "meta.json is 2147483648 bytes, over the 1048576 byte limit"},
		{"meta_negative_size", func(t *testing.T, raftDir, name string) {
			rewriteMeta(t, raftDir, name, func(m map[string]any) { m["Size"] = -1 })
		}, snapshot.ErrInvalidMeta, "snapshot meta.json has a negative Size (-1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raftDir := t.TempDir()
			name := addSnapshot(t, raftDir, 1, 10, stateBytes(8, 3000))
			tc.edit(t, raftDir, name)
			_, err := Save(context.Background(), raftDir, new(bytes.Buffer), Options{})
			if !errors.Is(err, ErrNoValidSnapshot) || !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v\nwant kind %v saying %q", err, tc.kind, tc.msg)
			}
		})
	}
}

func TestSaveIgnoresTemporaryDirectories(t *testing.T) {
	raftDir := t.TempDir()
	name := addSnapshot(t, raftDir, 1, 10, []byte("state"))
	// A newer snapshot the server was still writing when it stopped.
	tmp := filepath.Join(raftDir, SnapshotsDir, "1-99-1796275713703.tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(tmp, "state.bin"), []byte("half"), 0o644)
	writeBoltLog(t, raftDir, 1, 12)
	res, _, _ := saveOK(t, raftDir)
	if res.Snapshot.Name != name || len(res.Warnings) != 0 {
		t.Fatalf("archived %s with warnings %q, want %s and none", res.Snapshot.Name, res.Warnings, name)
	}
	ins, err := Inspect(context.Background(), raftDir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ins.TemporaryCount != 1 || len(ins.Temporary) != 1 || ins.Temporary[0] != "1-99-1796275713703.tmp" || len(ins.Snapshots) != 1 {
		t.Fatalf("inspection lists %+v", ins)
	}
}

func TestSaveOnlyTemporaryOrNothing(t *testing.T) {
	raftDir := t.TempDir()
	writeBoltLog(t, raftDir, 1, 3)
	os.MkdirAll(filepath.Join(raftDir, SnapshotsDir, "1-3-1796275713703.tmp"), 0o755)
	_, err := Save(context.Background(), raftDir, new(bytes.Buffer), Options{})
	if !errors.Is(err, ErrNoSnapshot) || !strings.Contains(err.Error(), "holds no snapshot: the server never wrote one") ||
		!strings.Contains(err.Error(), "1 unfinished .tmp snapshot directories were ignored") {
		t.Fatalf("err = %v", err)
	}
}

func TestSaveWithoutLogStore(t *testing.T) {
	raftDir := t.TempDir()
	addSnapshot(t, raftDir, 1, 10, []byte("state"))
	res, _, _ := saveOK(t, raftDir)
	if res.LogLag.LogStore != LogStoreNone || res.Log.Store != LogStoreNone {
		t.Fatalf("log %+v, lag %+v", res.Log, res.LogLag)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "holds no log store (raft.db or wal/)") {
		t.Fatalf("warnings %q", res.Warnings)
	}
	if !strings.Contains(res.LogLag.String(), "unknown") {
		t.Fatalf("lag says %q", res.LogLag)
	}
}

// TestSaveRefusesRunningServer holds the log store open as a running
// server does (an exclusive lock) and expects a prompt refusal.
func TestSaveRefusesRunningServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T, raftDir string) func() error
	}{
		{"raft-boltdb", func(t *testing.T, raftDir string) func() error { return openBoltLog(t, raftDir).Close }},
		{"raft-wal", func(t *testing.T, raftDir string) func() error { return openWALLog(t, raftDir, 0).Close }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raftDir := t.TempDir()
			addSnapshot(t, raftDir, 1, 10, []byte("state"))
			closeLog := tc.open(t, raftDir)
			defer closeLog()
			var archive bytes.Buffer
			_, err := Save(context.Background(), raftDir, &archive, Options{LockTimeout: 200 * time.Millisecond})
			if !errors.Is(err, ErrServerRunning) {
				t.Fatalf("err = %v, want ErrServerRunning", err)
			}
			for _, want := range []string{"is locked by a running server", "take the snapshot with the server's HTTP API instead", "stale: true"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message lacks %q: %v", want, err)
				}
			}
			if archive.Len() != 0 {
				t.Fatal("bytes were written")
			}
			if _, err := Inspect(context.Background(), raftDir, Options{LockTimeout: 200 * time.Millisecond}); !errors.Is(err, ErrServerRunning) {
				t.Fatalf("inspect: %v, want ErrServerRunning", err)
			}
		})
	}
}

func TestLocateLayouts(t *testing.T) {
	for _, tc := range []struct{ name, sub, layout string }{
		{"raft_dir", "", "the raft directory itself"},
		{"consul_data_dir", "raft", "a Consul data_dir"},
		{"nomad_data_dir", filepath.Join("server", "raft"), "a Nomad data_dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			raftDir := filepath.Join(data, tc.sub)
			addSnapshot(t, raftDir, 1, 4, []byte("state"))
			writeBoltLog(t, raftDir, 1, 4)
			res, _, _ := saveOK(t, data)
			if res.Dir.Raft != raftDir || res.Dir.Layout != tc.layout || res.Dir.Given != data {
				t.Fatalf("located %+v, want %s as %q", res.Dir, raftDir, tc.layout)
			}
		})
	}
}

func TestLocateRefusals(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, []byte("x"), 0o644)
	plain := t.TempDir()
	os.WriteFile(filepath.Join(plain, "notes.txt"), []byte("x"), 0o644)
	vault := t.TempDir()
	os.WriteFile(filepath.Join(vault, "vault.db"), []byte("bolt"), 0o600)
	os.MkdirAll(filepath.Join(vault, "raft", SnapshotsDir), 0o700)
	os.WriteFile(filepath.Join(vault, "raft", BoltFile), []byte("bolt"), 0o600)

	for _, tc := range []struct {
		name, path string
		kind       error
		msg        string
	}{
		{"missing", filepath.Join(plain, "nope"), ErrNotRaftDir, "cannot read raft directory " + filepath.Join(plain, "nope") + ": no such file or directory"},
		{"file", notDir, ErrNotRaftDir, notDir + " is not a directory: give the server's raft directory or its data_dir"},
		{"plain", plain, ErrNotRaftDir, plain + " is not a raft directory: it holds no snapshots/ directory, raft.db or wal/, and neither do " +
			filepath.Join(plain, "raft") + " (Consul's data_dir layout) or " + filepath.Join(plain, "server", "raft") + " (Nomad's)"},
		{"vault_storage", vault, ErrVault, filepath.Join(vault, "raft") + " is Vault's raft storage"},
		{"vault_raft_dir", filepath.Join(vault, "raft"), ErrVault, "carry a SHA256SUMS.sealed member encrypted with the cluster's barrier keys, which only Vault can make"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Save(context.Background(), tc.path, new(bytes.Buffer), Options{})
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v\nwant %v saying %q", err, tc.kind, tc.msg)
			}
		})
	}
}

func TestBrokenLogStores(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, raftDir string)
		msg   string
	}{
		{"bolt_empty", func(t *testing.T, raftDir string) {
			os.WriteFile(filepath.Join(raftDir, BoltFile), nil, 0o600)
		}, "raft.db is 0 bytes: too small to be a bolt database"},
		{"bolt_garbage", func(t *testing.T, raftDir string) {
			os.WriteFile(filepath.Join(raftDir, BoltFile), bytes.Repeat([]byte("not bolt"), 4096), 0o600)
		}, "cannot open the raft-boltdb log store"},
		{"bolt_symlink", func(t *testing.T, raftDir string) {
			os.Symlink("/dev/zero", filepath.Join(raftDir, BoltFile))
		}, "is a symbolic link, not a regular file"},
		{"wal_without_meta", func(t *testing.T, raftDir string) {
			os.MkdirAll(filepath.Join(raftDir, WALDir), 0o755)
		}, "(wal-meta.db): no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raftDir := t.TempDir()
			addSnapshot(t, raftDir, 1, 4, []byte("state"))
			tc.setup(t, raftDir)
			unchanged(t, raftDir)
			_, err := Save(context.Background(), raftDir, new(bytes.Buffer), Options{})
			if !errors.Is(err, ErrLogStore) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v\nwant ErrLogStore saying %q", err, tc.msg)
			}
		})
	}
}

func TestInspect(t *testing.T) {
	raftDir := t.TempDir()
	good := addSnapshot(t, raftDir, 2, 10, stateBytes(9, 2048))
	bad := addSnapshot(t, raftDir, 2, 30, stateBytes(10, 2048))
	flipByte(t, snapshotFile(raftDir, bad, snapshot.StateName), 7)
	os.MkdirAll(filepath.Join(raftDir, SnapshotsDir, "not-a-snapshot"), 0o755)
	writeBoltLog(t, raftDir, 1, 42)
	unchanged(t, raftDir)

	ins, err := Inspect(context.Background(), raftDir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range ins.Snapshots {
		got = append(got, s.Name+"="+string(s.Status))
	}
	if want := bad + "=crc_mismatch " + good + "=ok not-a-snapshot=bad_name"; strings.Join(got, " ") != want {
		t.Fatalf("snapshots %s, want %s", strings.Join(got, " "), want)
	}
	if ins.Selected != good || ins.LogLag == nil || ins.LogLag.Missing != 32 || ins.Log.LastIndex != 42 || ins.Log.FirstIndex != 1 {
		t.Fatalf("selected %s, lag %+v, log %+v", ins.Selected, ins.LogLag, ins.Log)
	}
	if ins.Snapshots[1].Size != 2048 || len(ins.Snapshots[1].CRC) != 16 || ins.Snapshots[1].Created.IsZero() {
		t.Fatalf("good snapshot described as %+v", ins.Snapshots[1])
	}

	var text bytes.Buffer
	if err := ins.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Log store:       raft-boltdb (" + filepath.Join(raftDir, BoltFile) + "), indexes 1 to 42",
		"Snapshots:       3",
		"crc_mismatch", "bad_name",
		"! snapshot directory \"not-a-snapshot\": its name is not TERM-INDEX-MILLISECONDS",
		"Save would archive " + good + ": snapshot at index 10; the raft-boltdb log holds 32 entries after it",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}

	data, err := json.Marshal(ins)
	if err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Dir struct {
			RaftDir string `json:"raft_dir"`
		} `json:"dir"`
		Log       struct{ Store string } `json:"log"`
		Snapshots []struct {
			Name, Status string
			Created      *time.Time
		} `json:"snapshots"`
		Selected string `json:"selected"`
		LogLag   struct {
			Missing uint64 `json:"missing"`
		} `json:"log_lag"`
	}
	if err := json.Unmarshal(data, &decoded); err != nil {
		t.Fatal(err)
	}
	if decoded.Dir.RaftDir != raftDir || decoded.Log.Store != "raft-boltdb" || decoded.Selected != good ||
		decoded.LogLag.Missing != 32 || len(decoded.Snapshots) != 3 || decoded.Snapshots[2].Created != nil {
		t.Fatalf("json: %s", data)
	}
}

func TestListingIsBounded(t *testing.T) {
	raftDir := t.TempDir()
	snaps := filepath.Join(raftDir, SnapshotsDir)
	for i := 1; i <= maxListed*3; i++ {
		os.MkdirAll(filepath.Join(snaps, "1-"+strconv.Itoa(i)+"-1796275713703"), 0o755)
	}
	for i := 0; i < maxTemporary+5; i++ {
		os.MkdirAll(filepath.Join(snaps, "1-"+strconv.Itoa(i+1000)+"-1.tmp"), 0o755)
	}
	l, err := listSnapshots(raftDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.snapshots) != maxListed || l.omitted != maxListed*2 || l.snapshots[0].Index != uint64(maxListed*3) ||
		len(l.temporary) != maxTemporary || l.tmpCount != maxTemporary+5 {
		t.Fatalf("listed %d (newest index %d), omitted %d, temporary %d of %d", len(l.snapshots), l.snapshots[0].Index, l.omitted, len(l.temporary), l.tmpCount)
	}
}

// TestArchiveRechecksCRC: state.bin changing between the check and the
// copy (something writing into the directory) fails the save.
func TestArchiveRechecksCRC(t *testing.T) {
	raftDir := t.TempDir()
	name := addSnapshot(t, raftDir, 1, 10, stateBytes(11, 300<<10))
	l, err := listSnapshots(raftDir)
	if err != nil {
		t.Fatal(err)
	}
	s := &l.snapshots[0]
	if err := check(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	flipByte(t, snapshotFile(raftDir, name, snapshot.StateName), 299<<10)
	var archive bytes.Buffer
	_, err = writeArchive(context.Background(), &archive, s)
	if !errors.Is(err, ErrChanged) || !errors.Is(err, snapshot.ErrChecksum) || !strings.Contains(err.Error(), "changed while it was archived") {
		t.Fatalf("err = %v, want ErrChanged", err)
	}
}

func TestSaveCancelled(t *testing.T) {
	raftDir := t.TempDir()
	addSnapshot(t, raftDir, 1, 10, stateBytes(12, 1<<20))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Save(ctx, raftDir, new(bytes.Buffer), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	var archiveErr *snapshot.Error
	if errors.As(err, &archiveErr) {
		t.Fatalf("a cancelled save is not a verdict on the snapshot: %v", err)
	}
}

func TestSaveWriterError(t *testing.T) {
	raftDir := t.TempDir()
	addSnapshot(t, raftDir, 1, 10, stateBytes(13, 1<<20))
	full := errors.New("disk full")
	_, err := Save(context.Background(), raftDir, failingWriter{full}, Options{})
	if !errors.Is(err, full) || errors.Is(err, ErrChanged) {
		t.Fatalf("err = %v, want the writer's own error", err)
	}
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

func TestWithin(t *testing.T) {
	data := t.TempDir()
	elsewhere := t.TempDir()
	link := filepath.Join(elsewhere, "link-to-data")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want bool
	}{
		{data, true},
		{filepath.Join(data, "raft", "backup.snap"), true},
		{filepath.Join(link, "not-yet", "backup.snap"), true}, // through a symbolic link, before it exists
		{filepath.Join(data, "..", filepath.Base(elsewhere), "backup.snap"), false},
		{data + "-sibling/backup.snap", false},
		{filepath.Join(elsewhere, "backup.snap"), false},
	} {
		if got := Within(data, tc.path); got != tc.want {
			t.Errorf("Within(%s, %s) = %v, want %v", data, tc.path, got, tc.want)
		}
	}
}
