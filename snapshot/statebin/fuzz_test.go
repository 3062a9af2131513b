package statebin

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func FuzzDecode(f *testing.F) {
	consul, nomad := consulStream(f).buf.Bytes(), nomadStream(f).buf.Bytes()
	f.Add(consul)
	f.Add(nomad)
	f.Add(consul[:len(consul)/3])
	f.Add(nomad[:len(nomad)-1])
	f.Add(newStreamBuilder(f, &consulSnapshotHeader{LastIndex: 7}).add(2, "v").buf.Bytes())
	f.Add([]byte{0x80, 1, 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x80, 1, 0x91, 0xc9, 0, 0, 0, 1, 7, 0})
	f.Add([]byte{0x81, 0xa9, 'L', 'a', 's', 't', 'I', 'n', 'd', 'e', 'x', 0xcf, 1, 2, 3, 4, 5, 6, 7, 8, 0x02, 0xc1})
	f.Add([]byte{})
	// Real state streams saved from Consul 1.22.7 and Nomad 1.11.3.
	for _, name := range []string{"consul-state.bin", "nomad-state.bin"} {
		real, err := os.ReadFile(filepath.Join("..", "testdata", "statebin", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(real)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		sum, err := Decode(bytes.NewReader(data), Auto)
		if err != nil {
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *statebin.Error: %v", err, err)
			}
			if de.Offset < 0 || de.Offset > int64(len(data)) {
				t.Fatalf("error offset %d outside [0, %d]", de.Offset, len(data))
			}
		} else {
			if sum.TotalBytes != int64(len(data)) {
				t.Fatalf("TotalBytes %d, input %d", sum.TotalBytes, len(data))
			}
			total, records := sum.Header.Bytes, int64(0)
			for _, ts := range sum.Types {
				total += ts.Bytes
				records += ts.Count
			}
			if total != sum.TotalBytes || records != sum.Records {
				t.Fatalf("types add up to %d bytes / %d records, summary says %d / %d", total, records, sum.TotalBytes, sum.Records)
			}
		}

		// The streaming form must agree with Decode, whatever the chunking.
		w := NewWriter(Auto)
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+len(rest)%13)
			if _, werr := w.Write(rest[:n]); werr != nil {
				t.Fatalf("Write: %v", werr)
			}
			rest = rest[n:]
		}
		werr := w.Close()
		if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
			t.Fatalf("Decode error %v, Writer error %v", err, werr)
		}
		if err == nil && !reflect.DeepEqual(sum, w.Summary()) {
			t.Fatalf("Decode and Writer summaries differ")
		}
	})
}
