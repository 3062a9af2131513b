package statebin

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"
)

// Flavor says whose FSM wrote a state.bin.
type Flavor string

const (
	// Auto detects the flavour from the header: Consul writes a map holding
	// LastIndex, Nomad an empty map. Both have done so since their first
	// releases, so the header shape is reliable; anything else is an error
	// in Auto mode.
	Auto   Flavor = "auto"
	Consul Flavor = "consul"
	Nomad  Flavor = "nomad"
)

// ParseFlavor accepts "auto", "consul", "nomad" and "" (meaning auto).
func ParseFlavor(s string) (Flavor, error) {
	switch Flavor(s) {
	case "", Auto:
		return Auto, nil
	case Consul, Nomad:
		return Flavor(s), nil
	}
	return "", fmt.Errorf("statebin: unknown flavour %q (want auto, consul or nomad)", s)
}

// Limits on the parts of the stream that are read rather than skipped, so
// hostile input cannot make the decoder allocate. Real headers have zero or
// one short field.
const (
	maxHeaderFields   = 16
	maxHeaderKeyBytes = 128
	readBufferSize    = 64 << 10
)

// Header is what the state.bin header carried.
type Header struct {
	// Bytes is the encoded size of the header.
	Bytes int64 `json:"bytes"`
	// Fields lists the header's keys in stream order (Consul: LastIndex;
	// Nomad: none).
	Fields []string `json:"fields"`
	// LastIndex is Consul's SnapshotHeader.LastIndex: the last Raft index
	// that affected the state.
	LastIndex    uint64 `json:"last_index"`
	HasLastIndex bool   `json:"has_last_index"`
}

// TypeStats counts the records of one type byte.
type TypeStats struct {
	// Type is the raw type byte.
	Type uint8  `json:"type"`
	Name string `json:"name"`
	// Known is false for a type byte missing from the flavour's table
	// (newer server, enterprise edition, or corruption).
	Known bool `json:"known"`
	// Ignorable is set when Consul's IgnoreUnknownTypeFlag (128) is on.
	Ignorable bool  `json:"ignorable,omitempty"`
	Count     int64 `json:"count"`
	// Bytes counts the type byte plus the encoded value of every record.
	Bytes int64 `json:"bytes"`
}

// Summary describes a decoded state.bin.
type Summary struct {
	Flavor Flavor `json:"flavor"`
	Header Header `json:"header"`
	// Records is the number of records after the header.
	Records int64 `json:"records"`
	// TotalBytes is the size of state.bin: header plus all records.
	TotalBytes int64 `json:"total_bytes"`
	// Types is sorted by Bytes, largest first, then by type byte.
	Types []TypeStats `json:"types"`
	// UnknownRecords counts records whose type is not in the table.
	UnknownRecords int64 `json:"unknown_records"`
}

// Error reports where and why a state.bin failed to decode.
type Error struct {
	// Offset is the byte offset in state.bin where the failing item starts.
	Offset int64
	// Record is the 1-based record number, 0 for the header.
	Record int64
	// Type is the record's type byte (meaningless for the header).
	Type   byte
	Reason string
	Err    error
}

func (e *Error) Error() string {
	where := "header"
	if e.Record > 0 {
		where = fmt.Sprintf("record %d (type %d)", e.Record, e.Type)
	}
	msg := fmt.Sprintf("statebin: %s at offset %d: %s", where, e.Offset, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrTruncated is wrapped by every error caused by the stream ending early.
var ErrTruncated = errors.New("stream ends early")

// Decode reads a whole state.bin from r and summarises it. Values are
// skipped, never materialised: memory stays constant whatever the size of
// the stream or the lengths it declares.
func Decode(r io.Reader, flavor Flavor) (*Summary, error) {
	flavor, err := ParseFlavor(string(flavor))
	if err != nil {
		return nil, err
	}
	// bufio rather than a seeking reader: skipping by Seek would succeed past
	// the end of a file and hide truncation.
	sr := &streamReader{r: bufio.NewReaderSize(r, readBufferSize)}

	header, detected, err := decodeHeader(sr, flavor)
	if err != nil {
		return nil, err
	}
	sum := &Summary{Flavor: detected, Header: header, Types: []TypeStats{}}

	var counts [256]struct{ count, bytes int64 }
	for {
		start := sr.off
		typ, err := sr.readByte()
		if err == io.EOF {
			break
		}
		record := sum.Records + 1
		if err != nil {
			return nil, &Error{Offset: start, Record: record, Reason: "reading type byte", Err: err}
		}
		if _, err := sr.r.Peek(1); err == io.EOF {
			return nil, &Error{Offset: start, Record: record, Type: typ, Reason: "type byte at end of stream, value missing", Err: ErrTruncated}
		}
		if err := sr.skipValue(); err != nil {
			return nil, valueError(start, record, typ, err)
		}
		sum.Records = record
		counts[typ].count++
		counts[typ].bytes += sr.off - start
	}
	sum.TotalBytes = sr.off

	for typ, c := range counts {
		if c.count == 0 {
			continue
		}
		name, known, ignorable := typeName(detected, byte(typ))
		if !known {
			sum.UnknownRecords += c.count
		}
		sum.Types = append(sum.Types, TypeStats{
			Type: byte(typ), Name: name, Known: known, Ignorable: ignorable,
			Count: c.count, Bytes: c.bytes,
		})
	}
	sort.SliceStable(sum.Types, func(i, j int) bool { return sum.Types[i].Bytes > sum.Types[j].Bytes })
	return sum, nil
}

// valueError turns a failure inside a record into an *Error.
func valueError(offset, record int64, typ byte, err error) error {
	e := &Error{Offset: offset, Record: record, Type: typ}
	var bad *badValueError
	switch {
	case errors.Is(err, ErrTruncated):
		e.Reason, e.Err = "truncated value", ErrTruncated
	case errors.As(err, &bad):
		e.Reason = bad.Error()
	default:
		e.Reason, e.Err = "reading value", err
	}
	return e
}

func decodeHeader(sr *streamReader, flavor Flavor) (Header, Flavor, error) {
	var h Header
	fail := func(reason string, err error) (Header, Flavor, error) {
		var bad *badValueError
		if errors.As(err, &bad) {
			reason, err = reason+": "+bad.Error(), nil
		}
		return h, "", &Error{Offset: 0, Reason: reason, Err: err}
	}
	lead, err := sr.readByte()
	if err == io.EOF {
		return fail("empty stream, no header", nil)
	}
	if err != nil {
		return fail("reading header", err)
	}
	var n uint64
	switch {
	case lead&0xf0 == 0x80:
		n = uint64(lead & 0x0f)
	case lead == 0xde:
		n, err = sr.readUint(2)
	case lead == 0xdf:
		n, err = sr.readUint(4)
	default:
		return fail(fmt.Sprintf("header is a msgpack %s, want a map (Consul and Nomad write their snapshot header as a map)", kindOf(lead)), nil)
	}
	if err != nil {
		return fail("reading header", err)
	}
	if n > maxHeaderFields {
		return fail(fmt.Sprintf("header declares %d fields, more than the %d allowed", n, maxHeaderFields), nil)
	}
	var keyBuf [maxHeaderKeyBytes]byte
	for i := uint64(1); i <= n; i++ {
		name, err := sr.readKey(keyBuf[:])
		if err != nil {
			return fail(fmt.Sprintf("reading header field %d name", i), err)
		}
		h.Fields = append(h.Fields, name)
		if name == "LastIndex" {
			v, err := sr.readUnsigned()
			if err != nil {
				return fail("reading header LastIndex", err)
			}
			h.LastIndex, h.HasLastIndex = v, true
			continue
		}
		if err := sr.skipValue(); err != nil {
			return fail(fmt.Sprintf("reading header field %q", name), err)
		}
	}
	h.Bytes = sr.off
	if h.Fields == nil {
		h.Fields = []string{}
	}

	switch flavor {
	case Auto:
		switch {
		case h.HasLastIndex:
			return h, Consul, nil
		case n == 0:
			return h, Nomad, nil
		}
		return fail(fmt.Sprintf("header fields %q match neither Consul (LastIndex) nor Nomad (no fields); name the flavour explicitly", h.Fields), nil)
	case Consul:
		if !h.HasLastIndex {
			return fail(fmt.Sprintf("header fields %q lack LastIndex, which every Consul snapshot header has (is this a Nomad snapshot?)", h.Fields), nil)
		}
	case Nomad:
		if h.HasLastIndex {
			return fail("header has LastIndex, which marks a Consul snapshot, not a Nomad one", nil)
		}
	}
	return h, flavor, nil
}
