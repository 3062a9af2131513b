package statebin

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSniffTellsConsulFromNomad(t *testing.T) {
	consul, nomad := consulStream(t).buf.Bytes(), nomadStream(t).buf.Bytes()
	for _, tc := range []struct {
		name string
		head []byte
		want Flavor
		err  string
	}{
		{"consul", consul, Consul, ""},
		{"consul header alone", consul[:consulStream(t).header], Consul, ""},
		{"nomad", nomad, Nomad, ""},
		{"nomad header alone", []byte{0x80}, Nomad, ""},
		{"past SniffSize is ignored", append(append([]byte{0x80}, bytes.Repeat([]byte{0xc0}, SniffSize)...), 0xff), Nomad, ""},
		{"empty", nil, "", "empty stream, no header"},
		{"json", []byte(`{"key":"value"}`), "", "header is a msgpack integer, want a map"},
		{"protobuf-like length prefix", []byte{0x0a, 0x03, 'a', 'b', 'c'}, "", "want a map"},
		{"other fields", []byte{0x81, 0xa3, 'F', 'o', 'o', 0x01}, "", `header fields ["Foo"] match neither Consul (LastIndex) nor Nomad`},
		{"cut inside the header", consul[:3], "", "stream ends early"},
		{"header longer than SniffSize", append([]byte{0x81, 0xa1, 'x', 0xdb, 0, 0, 0x20, 0}, bytes.Repeat([]byte{'a'}, SniffSize)...), "", "stream ends early"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Sniff(tc.head)
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Fatalf("Sniff = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || got != "" {
				t.Fatalf("Sniff = %q, %v; want an error containing %q", got, err, tc.err)
			}
		})
	}
}

// Sniff and Decode's Auto mode must never disagree on a header.
func FuzzSniffAgreesWithDecode(f *testing.F) {
	f.Add(consulStream(f).buf.Bytes())
	f.Add(nomadStream(f).buf.Bytes())
	f.Add([]byte{0x81, 0xa9, 'L', 'a', 's', 't', 'I', 'n', 'd', 'e', 'x', 0x05})
	f.Fuzz(func(t *testing.T, data []byte) {
		sniffed, sniffErr := Sniff(data)
		sum, decodeErr := Decode(bytes.NewReader(data[:min(len(data), SniffSize)]), Auto)
		if sniffErr == nil && decodeErr == nil && sum.Flavor != sniffed {
			t.Fatalf("Sniff says %q, Decode %q", sniffed, sum.Flavor)
		}
		var e *Error
		if decodeErr != nil && errors.As(decodeErr, &e) && e.Record == 0 && sniffErr == nil {
			t.Fatalf("Decode refuses the header (%v), Sniff says %q", decodeErr, sniffed)
		}
	})
}
