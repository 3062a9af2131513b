package statebin

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// checkAgainstBuilder asserts that a summary matches what the builder wrote.
func checkAgainstBuilder(t *testing.T, sum *Summary, b *streamBuilder) {
	t.Helper()
	if sum.TotalBytes != int64(b.buf.Len()) {
		t.Errorf("TotalBytes = %d, want %d", sum.TotalBytes, b.buf.Len())
	}
	if sum.Header.Bytes != b.header {
		t.Errorf("Header.Bytes = %d, want %d", sum.Header.Bytes, b.header)
	}
	if sum.Records != b.n {
		t.Errorf("Records = %d, want %d", sum.Records, b.n)
	}
	if len(sum.Types) != len(b.counts) {
		t.Errorf("%d types, want %d: %+v", len(sum.Types), len(b.counts), sum.Types)
	}
	total := sum.Header.Bytes
	for i, ts := range sum.Types {
		if ts.Count != b.counts[ts.Type] || ts.Bytes != b.bytes[ts.Type] {
			t.Errorf("type %d (%s): count %d bytes %d, want count %d bytes %d",
				ts.Type, ts.Name, ts.Count, ts.Bytes, b.counts[ts.Type], b.bytes[ts.Type])
		}
		if i > 0 && sum.Types[i-1].Bytes < ts.Bytes {
			t.Errorf("types not sorted by bytes: %d before %d", sum.Types[i-1].Bytes, ts.Bytes)
		}
		total += ts.Bytes
	}
	if total != sum.TotalBytes {
		t.Errorf("header + type bytes = %d, want TotalBytes %d", total, sum.TotalBytes)
	}
}

func typeByByte(t *testing.T, sum *Summary, typ byte) TypeStats {
	t.Helper()
	for _, ts := range sum.Types {
		if ts.Type == typ {
			return ts
		}
	}
	t.Fatalf("no stats for type %d in %+v", typ, sum.Types)
	return TypeStats{}
}

func TestDecodeConsulStream(t *testing.T) {
	b := consulStream(t)
	for _, flavor := range []Flavor{Auto, Consul, ""} {
		sum, err := Decode(bytes.NewReader(b.buf.Bytes()), flavor)
		if err != nil {
			t.Fatalf("Decode(%q): %v", flavor, err)
		}
		if sum.Flavor != Consul {
			t.Errorf("Decode(%q) flavour = %q, want consul", flavor, sum.Flavor)
		}
		checkAgainstBuilder(t, sum, b)
		if !sum.Header.HasLastIndex || sum.Header.LastIndex != 4242 {
			t.Errorf("header = %+v, want LastIndex 4242", sum.Header)
		}
		if got := strings.Join(sum.Header.Fields, ","); got != "LastIndex" {
			t.Errorf("header fields = %q", got)
		}
		if sum.UnknownRecords != 2 {
			t.Errorf("UnknownRecords = %d, want 2 (types 70 and 200)", sum.UnknownRecords)
		}
	}
	sum, _ := Decode(bytes.NewReader(b.buf.Bytes()), Consul)
	for _, want := range []TypeStats{
		{Type: 0, Name: "Register", Known: true, Count: 3},
		{Type: 2, Name: "KVS", Known: true, Count: 6},
		{Type: 16, Name: "Index", Known: true, Count: 4},
		{Type: 29, Name: "ChunkingState", Known: true, Count: 1},
		{Type: 70, Name: "unknown(70, enterprise range)", Count: 1},
		{Type: 130, Name: "KVS", Known: true, Ignorable: true, Count: 1},
		{Type: 200, Name: "unknown(200, enterprise range)", Ignorable: true, Count: 1}, // 200 = 128|72
	} {
		got := typeByByte(t, sum, want.Type)
		got.Bytes = 0
		if got != want {
			t.Errorf("type %d = %+v, want %+v", want.Type, got, want)
		}
	}
	if sum.Types[0].Name != "KVS" {
		t.Errorf("largest type = %s, want KVS (holds a 70 kB value)", sum.Types[0].Name)
	}
}

func TestDecodeNomadStream(t *testing.T) {
	b := nomadStream(t)
	for _, flavor := range []Flavor{Auto, Nomad} {
		sum, err := Decode(bytes.NewReader(b.buf.Bytes()), flavor)
		if err != nil {
			t.Fatalf("Decode(%q): %v", flavor, err)
		}
		if sum.Flavor != Nomad {
			t.Errorf("flavour = %q, want nomad", sum.Flavor)
		}
		checkAgainstBuilder(t, sum, b)
		if sum.Header.HasLastIndex || len(sum.Header.Fields) != 0 || sum.Header.Bytes != 1 {
			t.Errorf("header = %+v, want Nomad's empty map (1 byte)", sum.Header)
		}
	}
	sum, _ := Decode(bytes.NewReader(b.buf.Bytes()), Nomad)
	for typ, name := range map[byte]string{0: "Node", 1: "Job", 2: "Index", 13: "SchedulerConfig", 64: "Namespace", 99: "unknown(99)"} {
		if got := typeByByte(t, sum, typ); got.Name != name {
			t.Errorf("type %d named %q, want %q", typ, got.Name, name)
		}
	}
	if sum.UnknownRecords != 1 {
		t.Errorf("UnknownRecords = %d, want 1", sum.UnknownRecords)
	}
}

func TestDecodeHeaderOnly(t *testing.T) {
	b := newStreamBuilder(t, &consulSnapshotHeader{LastIndex: 0})
	sum, err := Decode(bytes.NewReader(b.buf.Bytes()), Auto)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Flavor != Consul || sum.Records != 0 || sum.Types == nil || len(sum.Types) != 0 || !sum.Header.HasLastIndex {
		t.Errorf("summary = %+v", sum)
	}
}

func TestDecodeFlavourMismatch(t *testing.T) {
	consul, nomad := consulStream(t).buf.Bytes(), nomadStream(t).buf.Bytes()
	_, err := Decode(bytes.NewReader(nomad), Consul)
	wantError(t, err, `statebin: header at offset 0: header fields [] lack LastIndex, which every Consul snapshot header has (is this a Nomad snapshot?)`)
	_, err = Decode(bytes.NewReader(consul), Nomad)
	wantError(t, err, `statebin: header at offset 0: header has LastIndex, which marks a Consul snapshot, not a Nomad one`)
	_, err = Decode(bytes.NewReader(consul), "vault")
	wantError(t, err, `statebin: unknown flavour "vault" (want auto, consul or nomad)`)

	other := newStreamBuilder(t, map[string]int{"Version": 2}).buf.Bytes()
	_, err = Decode(bytes.NewReader(other), Auto)
	wantError(t, err, `statebin: header at offset 0: header fields ["Version"] match neither Consul (LastIndex) nor Nomad (no fields); name the flavour explicitly`)
	// Named explicitly, a Nomad header with a field a future Nomad might add
	// is accepted.
	if sum, err := Decode(bytes.NewReader(other), Nomad); err != nil || sum.Header.Fields[0] != "Version" {
		t.Errorf("explicit nomad: %+v, %v", sum, err)
	}
}

func wantError(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if err.Error() != want {
		t.Fatalf("error\n got: %s\nwant: %s", err, want)
	}
}

// hostile builds a Consul header followed by raw bytes.
func hostile(t *testing.T, tail ...byte) []byte {
	b := newStreamBuilder(t, &consulSnapshotHeader{LastIndex: 1})
	return append(b.buf.Bytes(), tail...)
}

func TestDecodeHostileInput(t *testing.T) {
	consul := consulStream(t)
	full := consul.buf.Bytes()
	headerLen := int(consul.header) // 12 bytes: map1, fixstr "LastIndex", uint
	lastTypeOffset := len(full) - 2 // the last record is type 200 then nil (0xc0)

	cases := []struct {
		name  string
		input []byte
		want  string
		trunc bool
	}{
		{"empty stream", nil, "statebin: header at offset 0: empty stream, no header", false},
		{"garbage header", []byte("hello, world"), "statebin: header at offset 0: header is a msgpack integer, want a map (Consul and Nomad write their snapshot header as a map)", false},
		{"invalid prefix in header", []byte{0xc1}, "statebin: header at offset 0: header is a msgpack invalid prefix 0xc1, want a map (Consul and Nomad write their snapshot header as a map)", false},
		{"truncated header", full[:headerLen-3], "statebin: header at offset 0: reading header LastIndex: stream ends early", true},
		{"header with too many fields", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, "statebin: header at offset 0: header declares 4294967295 fields, more than the 16 allowed", false},
		{"header key of 4 GiB", []byte{0x81, 0xdb, 0xff, 0xff, 0xff, 0xff, 'L'}, "statebin: header at offset 0: reading header field 1 name: key at offset 1 is 4294967295 bytes long, more than the 128 allowed", false},
		{"header LastIndex negative", []byte{0x81, 0xa9, 'L', 'a', 's', 't', 'I', 'n', 'd', 'e', 'x', 0xff}, "statebin: header at offset 0: reading header LastIndex: value at offset 11 is negative, want an unsigned integer", false},
		{"type byte at EOF", full[:lastTypeOffset+1], "statebin: record 21 (type 200) at offset " + strconv.Itoa(lastTypeOffset) + ": type byte at end of stream, value missing: stream ends early", true},
		{"truncated value", full[:len(full)-10], "", true},
		{"str32 claiming 4 GiB", hostile(t, 2, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a', 'b', 'c'), "statebin: record 1 (type 2) at offset 12: truncated value: stream ends early", true},
		{"bin32 claiming 4 GiB", hostile(t, 2, 0xc6, 0xff, 0xff, 0xff, 0xff), "statebin: record 1 (type 2) at offset 12: truncated value: stream ends early", true},
		{"ext32 claiming 4 GiB", hostile(t, 2, 0xc9, 0xff, 0xff, 0xff, 0xff, 5), "statebin: record 1 (type 2) at offset 12: truncated value: stream ends early", true},
		{"array32 claiming 4G elements", hostile(t, 2, 0xdd, 0xff, 0xff, 0xff, 0xff, 1, 2, 3), "statebin: record 1 (type 2) at offset 12: truncated value: stream ends early", true},
		{"map32 claiming 4G entries", hostile(t, 2, 0xdf, 0xff, 0xff, 0xff, 0xff, 1, 2, 3), "statebin: record 1 (type 2) at offset 12: truncated value: stream ends early", true},
		{"truncated length field", hostile(t, 2, 0xdb, 0xff), "statebin: record 1 (type 2) at offset 12: truncated value: stream ends early", true},
		{"invalid prefix in record", hostile(t, 0, 0xc0, 3, 0xc1, 0xc0), "statebin: record 2 (type 3) at offset 14: invalid msgpack prefix byte 0xc1 at offset 15", false},
		{"header key not a string", []byte{0x81, 0x07, 0x00}, "statebin: header at offset 0: reading header field 1 name: key at offset 1 is a msgpack integer, want a string", false},
		{"header LastIndex a string", []byte{0x81, 0xa9, 'L', 'a', 's', 't', 'I', 'n', 'd', 'e', 'x', 0xa1, '1'}, "statebin: header at offset 0: reading header LastIndex: value at offset 11 is a msgpack string, want an unsigned integer", false},
		{"truncated inside a nested map", hostile(t, 2, 0x82, 0xa1, 'k', 0x91, 0xcb, 1, 2), "statebin: record 1 (type 2) at offset 12: truncated value: stream ends early", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sum, err := Decode(bytes.NewReader(tc.input), Auto)
			if err == nil {
				t.Fatalf("decoded %+v, want an error", sum)
			}
			if tc.want != "" && err.Error() != tc.want {
				t.Fatalf("error\n got: %s\nwant: %s", err, tc.want)
			}
			if got := errors.Is(err, ErrTruncated); got != tc.trunc {
				t.Errorf("errors.Is(err, ErrTruncated) = %v, want %v (%v)", got, tc.trunc, err)
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Errorf("error %T is not a *statebin.Error", err)
			}
		})
	}
}

// A truncated value inside a file must be reported even though a buffered
// reader could seek past the end of an *os.File without an error.
func TestDecodeTruncatedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.bin")
	if err := os.WriteFile(path, hostile(t, 2, 0xdb, 0x00, 0x10, 0x00, 0x00, 'x'), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = Decode(f, Consul)
	wantError(t, err, "statebin: record 1 (type 2) at offset 12: truncated value: stream ends early")
}

// A value declaring 4 GiB must not make the decoder allocate it, and a long
// stream must not grow memory with its size.
func TestDecodeMemoryIsBounded(t *testing.T) {
	measure := func(r io.Reader) (uint64, error) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Decode(r, Consul)
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc, err
	}
	claim := hostile(t, 2, 0xdb, 0xff, 0xff, 0xff, 0xf0)
	// 64 MiB of real string bytes follow the claim, then the stream ends.
	allocated, err := measure(io.MultiReader(bytes.NewReader(claim), io.LimitReader(zeroReader{}, 64<<20)))
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("err = %v, want truncation", err)
	}
	if allocated > 1<<20 {
		t.Errorf("decoder allocated %d bytes for a 4 GiB claim over 64 MiB of input", allocated)
	}

	// 200 MB of one-byte records (type 2, positive fixint 0); 20 MB in the
	// -short loop, still far more than the 1 MiB bound could hold.
	records := 100 << 20
	if testing.Short() {
		records = 10 << 20
	}
	header := hostile(t)
	allocated, err = measure(io.MultiReader(bytes.NewReader(header), io.LimitReader(repeatReader{pattern: []byte{2, 0}}, int64(2*records))))
	if err != nil {
		t.Fatal(err)
	}
	if allocated > 1<<20 {
		t.Errorf("decoder allocated %d bytes for %d records", allocated, records)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// repeatReader repeats a pattern whose length divides every read buffer size
// the decoder uses.
type repeatReader struct{ pattern []byte }

func (r repeatReader) Read(p []byte) (int, error) {
	n := len(p) - len(p)%len(r.pattern)
	for i := 0; i < n; i += len(r.pattern) {
		copy(p[i:], r.pattern)
	}
	return n, nil
}

// Values the vendors never write but msgpack allows must still be skipped
// exactly: every extension size (ext32 nested in an array is the case
// tinylib/msgp v1.6.5 gets wrong), floats, negative ints, and nesting far
// deeper than any real record.
func TestDecodeEveryEncoding(t *testing.T) {
	ext32 := append([]byte{0x91, 0xc9, 0, 1, 0, 0, 7}, make([]byte, 65536)...)
	values := [][]byte{
		ext32,
		{0xc7, 3, 9, 'a', 'b', 'c'},
		append([]byte{0xc8, 1, 0, 9}, make([]byte, 256)...),
		{0xd4, 1, 0}, {0xd5, 1, 0, 0}, {0xd6, 1, 0, 0, 0, 0},
		append([]byte{0xd7, 1}, make([]byte, 8)...),
		append([]byte{0xd8, 1}, make([]byte, 16)...),
		{0xca, 0, 0, 0, 0}, {0xcb, 0, 0, 0, 0, 0, 0, 0, 0},
		{0xcc, 1}, {0xcd, 1, 2}, {0xce, 1, 2, 3, 4}, {0xcf, 1, 2, 3, 4, 5, 6, 7, 8},
		{0xd0, 0xff}, {0xd1, 0xff, 0xff}, {0xd2, 0, 0, 0, 0}, {0xd3, 0, 0, 0, 0, 0, 0, 0, 0},
		{0xe0}, {0x7f}, {0xc0}, {0xc2}, {0xc3},
		{0xc4, 2, 1, 2}, {0xc5, 0, 1, 9}, {0xc6, 0, 0, 0, 1, 9},
		{0xd9, 1, 'x'}, {0xda, 0, 1, 'x'}, {0xdb, 0, 0, 0, 1, 'x'},
		{0xdc, 0, 2, 1, 2}, {0xdd, 0, 0, 0, 1, 0xc0},
		{0xde, 0, 1, 0xa1, 'k', 0x90}, {0xdf, 0, 0, 0, 1, 0xa1, 'k', 0x80},
		append(bytes.Repeat([]byte{0x91}, 100_000), 0xc0),
	}
	stream := hostile(t)
	for _, v := range values {
		stream = append(stream, 9)
		stream = append(stream, v...)
	}
	sum, err := Decode(bytes.NewReader(stream), Consul)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != int64(len(values)) || sum.TotalBytes != int64(len(stream)) {
		t.Fatalf("records %d bytes %d, want %d and %d", sum.Records, sum.TotalBytes, len(values), len(stream))
	}
	if got := typeByByte(t, sum, 9); got.Name != "Autopilot" || got.Bytes != int64(len(stream))-12 {
		t.Errorf("type 9 = %+v", got)
	}
}
