package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/internal/testkit/golden"
	"github.com/raftsnap/raftsnap/snapshot/statebin"
	"github.com/raftsnap/raftsnap/snapshot/statebin/statebintest"
)

func fileSHA256(t *testing.T, path string) (string, int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), int64(len(data))
}

func TestInspectRealSnapshots(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		flavor  statebin.Flavor
		created int64 // unix millis, from the ID
	}{
		{"consul.snap", statebin.Consul, 1795323631958},
		{"nomad.snap", statebin.Nomad, 1795323644180},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			path := filepath.Join("testdata", "inspect", tc.fixture)
			vendor := statebintest.ReadVendorInspect(t, path+".vendor-inspect.json")
			for _, flavor := range []statebin.Flavor{"", tc.flavor} {
				ins, err := Inspect(t.Context(), path, InspectOptions{Flavor: flavor})
				if err != nil {
					t.Fatalf("Inspect(flavor %q): %v", flavor, err)
				}
				checkAgainstVendor(t, ins, vendor, tc.flavor)
				wantSHA, wantSize := fileSHA256(t, path)
				if ins.ArchiveSHA256 != wantSHA || ins.ArchiveBytes != wantSize {
					t.Errorf("archive %s/%d, want %s/%d", ins.ArchiveSHA256, ins.ArchiveBytes, wantSHA, wantSize)
				}
				if ins.CreatedAt == nil || !ins.CreatedAt.Equal(time.UnixMilli(tc.created)) {
					t.Errorf("CreatedAt = %v, want %v", ins.CreatedAt, time.UnixMilli(tc.created).UTC())
				}
				if len(ins.Servers) != 1 || ins.Servers[0].Suffrage != "voter" || !strings.HasPrefix(ins.Servers[0].Address, "127.0.0.1:") {
					t.Errorf("servers = %+v, want one voter on 127.0.0.1", ins.Servers)
				}
				var names []string
				for _, m := range ins.Members {
					names = append(names, m.Name)
				}
				if got := strings.Join(names, ","); got != "meta.json,state.bin,SHA256SUMS" {
					t.Errorf("members = %s", got)
				}
				if !ins.Verified || ins.StateError != "" {
					t.Errorf("verified %v, state error %q", ins.Verified, ins.StateError)
				}
			}
		})
	}
}

// checkAgainstVendor compares the inspection with what Consul or Nomad
// printed for the same file (testdata/inspect/make-*-fixture.sh saved
// both): its metadata, flavour and record table.
func checkAgainstVendor(t *testing.T, ins *Inspection, vendor statebintest.VendorInspect, flavor statebin.Flavor) {
	t.Helper()
	if ins.ID != vendor.Meta.ID || ins.Index != vendor.Meta.Index || ins.Term != vendor.Meta.Term ||
		ins.Version != vendor.Meta.Version || ins.Size != vendor.Meta.Size {
		t.Errorf("meta %s/%d/%d/%d/%d, vendor says %+v", ins.ID, ins.Index, ins.Term, ins.Version, ins.Size, vendor.Meta)
	}
	st := ins.State
	if st == nil {
		t.Fatalf("no state summary (state error %q)", ins.StateError)
	}
	if st.Flavor != flavor || st.TotalBytes != vendor.Meta.Size || st.UnknownRecords != 0 {
		t.Errorf("state flavour %s, %d bytes, %d unknown; want %s, %d, 0", st.Flavor, st.TotalBytes, st.UnknownRecords, flavor, vendor.Meta.Size)
	}
	statebintest.CheckRecords(t, st, vendor)
}

func TestInspectFlavourMismatch(t *testing.T) {
	// A valid archive of another flavour is a FlavorError, not a damaged
	// archive.
	_, err := Inspect(t.Context(), filepath.Join("testdata", "inspect", "consul.snap"), InspectOptions{Flavor: statebin.Nomad})
	want := "snapshot testdata/inspect/consul.snap: it is a Consul snapshot, not a Nomad snapshot"
	var flavorErr *FlavorError
	if err == nil || err.Error() != want || !errors.As(err, &flavorErr) || flavorErr.Got != FlavorConsul || flavorErr.Want != FlavorNomad {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	ins, err := Inspect(t.Context(), filepath.Join("testdata", "inspect", "consul.snap"), InspectOptions{Flavor: statebin.Consul})
	if err != nil || ins.Flavor != FlavorConsul {
		t.Fatalf("matching flavour: %v, %+v", err, ins)
	}
	_, err = Inspect(t.Context(), filepath.Join("testdata", "inspect", "consul.snap"), InspectOptions{Flavor: "etcd"})
	if err == nil || err.Error() != `statebin: unknown flavour "etcd" (want auto, consul or nomad)` {
		t.Fatalf("err = %v", err)
	}
}

// inspectWritten writes an archive of meta and state at path and inspects
// it.
func inspectWritten(t *testing.T, path string, meta *raft.SnapshotMeta, state []byte) *Inspection {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Write(f, meta, bytes.NewReader(state)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ins, err := Inspect(t.Context(), path, InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ins
}

// An embedded raft app's state.bin is opaque: Inspect reports everything
// else and says why there is no record table.
func TestInspectOpaqueState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.snap")
	state := []byte("application state, not msgpack")
	meta := &raft.SnapshotMeta{
		Version: 1, ID: "7-1234-1700000000123", Index: 1234, Term: 7, Size: int64(len(state)),
		Configuration: raft.Configuration{Servers: []raft.Server{
			{Suffrage: raft.Voter, ID: "a", Address: "127.0.0.1:7001"},
			{Suffrage: raft.Nonvoter, ID: "b", Address: "127.0.0.1:7002"},
			{Suffrage: raft.Staging, ID: "c", Address: "127.0.0.1:7003"},
		}},
		ConfigurationIndex: 3,
	}
	ins := inspectWritten(t, path, meta, state)
	if ins.State != nil {
		t.Errorf("state decoded as %+v", ins.State)
	}
	wantErr := "state.bin is not a Consul or Nomad state stream: statebin: header at offset 0: header is a msgpack integer, want a map (Consul and Nomad write their snapshot header as a map)"
	if ins.StateError != wantErr {
		t.Errorf("StateError = %q", ins.StateError)
	}
	var suffrages []string
	for _, s := range ins.Servers {
		suffrages = append(suffrages, s.ID+"="+s.Suffrage)
	}
	if got := strings.Join(suffrages, " "); got != "a=voter b=nonvoter c=staging" {
		t.Errorf("servers %s", got)
	}
	if ins.CreatedAt == nil || !ins.CreatedAt.Equal(time.UnixMilli(1700000000123)) {
		t.Errorf("CreatedAt = %v", ins.CreatedAt)
	}
	var text bytes.Buffer
	if err := ins.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "State: not decoded (state.bin is not a Consul or Nomad state stream") {
		t.Errorf("text does not say why the state is missing:\n%s", text.String())
	}

	if ins.Flavor != FlavorOther {
		t.Errorf("Flavor = %q", ins.Flavor)
	}
	_, err := Inspect(t.Context(), path, InspectOptions{Flavor: statebin.Consul})
	var flavorErr *FlavorError
	if !errors.As(err, &flavorErr) || !strings.Contains(err.Error(), "it is a snapshot of another application (neither Consul, Nomad nor Vault), not a Consul snapshot (statebin: header at offset 0: header is a msgpack integer") {
		t.Errorf("explicit consul flavour: err = %v", err)
	}
}

// A damaged archive fails Inspect with the verifier's error.
func TestInspectDamagedArchive(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "inspect", "consul.snap"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	truncated := filepath.Join(dir, "truncated.snap")
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Inspect(t.Context(), truncated, InspectOptions{}); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated archive: err = %v, want ErrTruncated", err)
	}
	if _, err := Inspect(t.Context(), filepath.Join(dir, "missing.snap"), InspectOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestInspectTextGolden(t *testing.T) {
	for _, fixture := range []string{"consul.snap", "nomad.snap"} {
		path := filepath.Join("testdata", "inspect", fixture)
		ins, err := Inspect(t.Context(), path, InspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := ins.WriteText(&got); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, path+".txt", got.Bytes())
	}
}

var snakeCase = regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)*$`)

func TestInspectJSONKeysAreSnakeCase(t *testing.T) {
	ins, err := Inspect(t.Context(), filepath.Join("testdata", "inspect", "consul.snap"), InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(ins)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				seen[k] = true
				if !snakeCase.MatchString(k) {
					t.Errorf("JSON key %q is not snake_case", k)
				}
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(doc)
	for _, k := range []string{"id", "created_at", "archive_sha256", "servers", "suffrage", "members", "state", "types", "last_index", "total_bytes", "count", "bytes"} {
		if !seen[k] {
			t.Errorf("JSON lacks key %q", k)
		}
	}
}

func TestCreatedFromID(t *testing.T) {
	for id, want := range map[string]int64{
		"2-12-1603319127176":                   1603319127176,
		"18446744073709551615-1-1700000000000": 1700000000000,
		"bolt-snapshot":                        0, // Vault's ID
		"2-12":                                 0,
		"2-x-1603319127176":                    0,
		"2-12-notatime":                        0,
		"2-12-42":                              0, // 1970: not a raft creation time
		"2-12-99999999999999999":               0,
		"":                                     0,
	} {
		got := createdFromID(id)
		switch {
		case want == 0 && got != nil:
			t.Errorf("createdFromID(%q) = %v, want nil", id, got)
		case want != 0 && (got == nil || !got.Equal(time.UnixMilli(want))):
			t.Errorf("createdFromID(%q) = %v, want %v", id, got, time.UnixMilli(want).UTC())
		}
	}
}

func TestWriteTextMarksUnknownAndIgnorableTypes(t *testing.T) {
	ins := &Inspection{
		ID: "opaque", Servers: []InspectServer{},
		State: &statebin.Summary{
			Flavor: statebin.Consul, Header: statebin.Header{Bytes: 12, LastIndex: 9, HasLastIndex: true},
			Records: 3, TotalBytes: 2060, UnknownRecords: 1,
			Types: []statebin.TypeStats{
				{Type: 2, Name: "KVS", Known: true, Count: 1, Bytes: 2000},
				{Type: 130, Name: "KVS", Known: true, Ignorable: true, Count: 1, Bytes: 40},
				{Type: 70, Name: "unknown(70, enterprise range)", Count: 1, Bytes: 8},
			},
		},
	}
	var out bytes.Buffer
	if err := ins.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"State (consul, last index 9)",
		"  KVS                                1  2.0 KiB   97.1%",
		"  KVS (ignorable)                    1     40 B    1.9%",
		"  unknown(70, enterprise range)      1      8 B    0.4%",
		"  Total                              3  2.0 KiB  100.0%",
		"  Records of unknown types: 1 (written by a newer or enterprise server)",
		"  (no servers recorded)",
	} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("text lacks line %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "Created") {
		t.Errorf("text shows a creation time for an ID without one:\n%s", out.String())
	}
}

// A multi-megabyte Consul-shaped state, encoded with the msgpack codec
// Consul uses, crosses many verifier chunk boundaries; the record table
// must still come out exact.
func TestInspectLargeConsulState(t *testing.T) {
	var state bytes.Buffer
	h := &codec.MsgpackHandle{}
	h.RawToString = true
	enc := codec.NewEncoder(&state, h)
	if err := enc.Encode(map[string]uint64{"LastIndex": 90_000}); err != nil {
		t.Fatal(err)
	}
	const kvs, tombstones = 20_000, 3_000
	for i := range kvs + tombstones {
		typ, value := byte(2), bytes.Repeat([]byte{byte(i)}, i%700)
		if i >= kvs {
			typ, value = 5, nil
		}
		state.WriteByte(typ)
		if err := enc.Encode(map[string]any{"Key": "app/key/" + strings.Repeat("k", i%40), "Value": value, "ModifyIndex": uint64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "large.snap")
	meta := &raft.SnapshotMeta{Version: 1, ID: "3-90000-1700000000000", Index: 90_000, Term: 3, Size: int64(state.Len())}
	ins := inspectWritten(t, path, meta, state.Bytes())
	st := ins.State
	if st == nil || st.Flavor != statebin.Consul || st.Header.LastIndex != 90_000 {
		t.Fatalf("state = %+v (error %q)", st, ins.StateError)
	}
	if st.Records != kvs+tombstones || st.TotalBytes != int64(state.Len()) || len(st.Types) != 2 {
		t.Fatalf("records %d, bytes %d, types %d; want %d, %d, 2", st.Records, st.TotalBytes, len(st.Types), kvs+tombstones, state.Len())
	}
	if st.Types[0].Name != "KVS" || st.Types[0].Count != kvs || st.Types[1].Name != "Tombstone" || st.Types[1].Count != tombstones {
		t.Errorf("types = %+v", st.Types)
	}
}

// TestInspectTextEscapesArchiveStrings: server IDs and the snapshot ID come
// from the archive; a terminal escape sequence in them is printed escaped.
func TestInspectTextEscapesArchiveStrings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hostile.snap")
	state := []byte("opaque")
	meta := &raft.SnapshotMeta{
		Version: 1, ID: "7-1-1700000000123\x1b[2J", Index: 1, Term: 7, Size: int64(len(state)),
		Configuration: raft.Configuration{Servers: []raft.Server{
			{Suffrage: raft.Voter, ID: "srv\x1b]0;owned\x07", Address: "127.0.0.1:7001\r"},
		}},
	}
	ins := inspectWritten(t, path, meta, state)
	var out bytes.Buffer
	if err := ins.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsAny(out.Bytes(), "\x1b\x07\r") {
		t.Fatalf("raw control characters in the text:\n%q", out.String())
	}
	for _, want := range []string{`srv\x1b]0;owned\a`, `7-1-1700000000123\x1b[2J`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text lacks %s:\n%s", want, out.String())
		}
	}
	if ins.Servers[0].ID != "srv\x1b]0;owned\x07" {
		t.Errorf("WriteText changed the inspection itself: %q", ins.Servers[0].ID)
	}
}
