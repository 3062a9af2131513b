package statebin

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// feed writes data in chunks of the given size, with an empty write between
// chunks as a verifier might issue.
func feed(t testing.TB, w *Writer, data []byte, chunk int) {
	t.Helper()
	for len(data) > 0 {
		n := min(chunk, len(data))
		if k, err := w.Write(data[:n]); err != nil || k != n {
			t.Fatalf("Write = %d, %v; want %d, nil", k, err, n)
		}
		if _, err := w.Write(nil); err != nil {
			t.Fatalf("empty Write: %v", err)
		}
		data = data[n:]
	}
}

func TestWriterMatchesDecode(t *testing.T) {
	for _, b := range []*streamBuilder{consulStream(t), nomadStream(t)} {
		want, err := Decode(bytes.NewReader(b.buf.Bytes()), Auto)
		if err != nil {
			t.Fatal(err)
		}
		for _, chunk := range []int{1, 7, 4096, 1 << 20} {
			w := NewWriter(Auto)
			feed(t, w, b.buf.Bytes(), chunk)
			if w.Summary() != nil {
				t.Error("Summary before Close is not nil")
			}
			if err := w.Close(); err != nil {
				t.Fatalf("chunk %d: Close: %v", chunk, err)
			}
			if got := w.Summary(); !reflect.DeepEqual(got, want) {
				t.Errorf("chunk %d: summary\n got %+v\nwant %+v", chunk, got, want)
			}
			if err := w.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if _, err := w.Write([]byte{1}); err == nil || err.Error() != "statebin: write after Close" {
				t.Errorf("Write after Close: %v", err)
			}
		}
	}
}

// A state.bin that does not decode (a Vault one, say) must not fail the
// verification writing into the Writer: every Write succeeds and Close
// carries the error.
func TestWriterDecodeErrorDoesNotFailWrites(t *testing.T) {
	w := NewWriter(Auto)
	feed(t, w, bytes.Repeat([]byte("not msgpack at all "), 100_000), 1000)
	err := w.Close()
	wantError(t, err, "statebin: header at offset 0: header is a msgpack integer, want a map (Consul and Nomad write their snapshot header as a map)")
	if w.Summary() != nil {
		t.Error("Summary after a decode error is not nil")
	}
}

// Closing early (the archive failed verification half-way) ends the decoder
// with a truncation error rather than leaving it blocked.
func TestWriterClosedEarly(t *testing.T) {
	b := consulStream(t)
	w := NewWriter(Consul)
	feed(t, w, b.buf.Bytes()[:b.buf.Len()/2], 512)
	if err := w.Close(); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Close = %v, want truncation", err)
	}
}
