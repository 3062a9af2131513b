package statebin

import (
	"bufio"
	"bytes"
)

// SniffSize is the most of a state.bin's start Sniff looks at. Consul's
// header is about a dozen bytes and Nomad's one; a header that does not
// end within SniffSize bytes is neither.
const SniffSize = 4 << 10

// Sniff tells whose state a state.bin holds from its first bytes: head is
// the start of the stream, at least SniffSize bytes of it or the whole
// stream when shorter (bytes past SniffSize are ignored). It returns Consul
// for a header map holding LastIndex and Nomad for an empty header map,
// exactly as Decode's Auto mode decides, and an *Error saying why when the
// header is neither (another application's state, Vault's, an empty
// stream).
//
// Only the header is read, so Sniff answers in constant time; the records
// after it are not checked. Another application's state can begin with an
// empty msgpack map too (the byte 0x80), so Nomad is what the stream looks
// like, not proof.
func Sniff(head []byte) (Flavor, error) {
	head = head[:min(len(head), SniffSize)]
	sr := &streamReader{r: bufio.NewReaderSize(bytes.NewReader(head), 16)}
	_, flavor, err := decodeHeader(sr, Auto)
	if err != nil {
		return "", err
	}
	return flavor, nil
}
