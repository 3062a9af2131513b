package statebin

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// This file skips msgpack values without decoding them. It is written by
// hand because tinylib/msgp v1.6.5's Reader.Skip rejects a valid ext32 value
// once five or more bytes are buffered (it peeks 5 bytes where ext32 needs
// 6) and recurses once per nesting level; the iterative skipper below keeps
// one counter of pending values, so neither memory nor stack depends on the
// input.

// maxPendingValues bounds the number of values that containers may declare
// at once. Every declared value needs at least one byte of input, so a
// larger count is a lie; the bound also keeps the counter from overflowing.
const maxPendingValues = 1 << 48

// badValueError describes malformed msgpack that is not a truncation.
type badValueError struct{ msg string }

func (e *badValueError) Error() string { return e.msg }

// streamReader counts the bytes consumed from a buffered reader.
type streamReader struct {
	r   *bufio.Reader
	off int64
}

func (s *streamReader) readByte() (byte, error) {
	b, err := s.r.ReadByte()
	if err == nil {
		s.off++
	}
	return b, err
}

// readUint reads a big-endian unsigned integer of n (1, 2, 4 or 8) bytes.
func (s *streamReader) readUint(n int) (uint64, error) {
	var buf [8]byte
	k, err := io.ReadFull(s.r, buf[:n])
	s.off += int64(k)
	if err != nil {
		return 0, truncated(err)
	}
	var v uint64
	for _, b := range buf[:n] {
		v = v<<8 | uint64(b)
	}
	return v, nil
}

// discard skips n bytes of payload.
func (s *streamReader) discard(n uint64) error {
	for n > 0 {
		chunk := min(n, 1<<30)
		k, err := s.r.Discard(int(chunk))
		s.off += int64(k)
		if err != nil {
			return truncated(err)
		}
		n -= chunk
	}
	return nil
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrTruncated
	}
	return err
}

// readKey reads a string or binary map key no longer than len(buf).
func (s *streamReader) readKey(buf []byte) (string, error) {
	at := s.off
	lead, err := s.readByte()
	if err != nil {
		return "", truncated(err)
	}
	var n uint64
	switch {
	case lead&0xe0 == 0xa0:
		n = uint64(lead & 0x1f)
	case lead == 0xd9 || lead == 0xc4:
		n, err = s.readUint(1)
	case lead == 0xda || lead == 0xc5:
		n, err = s.readUint(2)
	case lead == 0xdb || lead == 0xc6:
		n, err = s.readUint(4)
	default:
		return "", &badValueError{fmt.Sprintf("key at offset %d is a msgpack %s, want a string", at, kindOf(lead))}
	}
	if err != nil {
		return "", err
	}
	if n > uint64(len(buf)) {
		return "", &badValueError{fmt.Sprintf("key at offset %d is %d bytes long, more than the %d allowed", at, n, len(buf))}
	}
	k, err := io.ReadFull(s.r, buf[:n])
	s.off += int64(k)
	if err != nil {
		return "", truncated(err)
	}
	return string(buf[:n]), nil
}

// readUnsigned reads a non-negative integer in any msgpack integer encoding.
func (s *streamReader) readUnsigned() (uint64, error) {
	at := s.off
	lead, err := s.readByte()
	if err != nil {
		return 0, truncated(err)
	}
	switch {
	case lead <= 0x7f:
		return uint64(lead), nil
	case lead >= 0xcc && lead <= 0xcf:
		return s.readUint(1 << (lead - 0xcc))
	case lead >= 0xd0 && lead <= 0xd3:
		size := 1 << (lead - 0xd0)
		v, err := s.readUint(size)
		if err != nil {
			return 0, err
		}
		if v>>(8*size-1) != 0 {
			return 0, &badValueError{fmt.Sprintf("value at offset %d is negative, want an unsigned integer", at)}
		}
		return v, nil
	case lead >= 0xe0:
		return 0, &badValueError{fmt.Sprintf("value at offset %d is negative, want an unsigned integer", at)}
	}
	return 0, &badValueError{fmt.Sprintf("value at offset %d is a msgpack %s, want an unsigned integer", at, kindOf(lead))}
}

// skipValue skips exactly one msgpack value, containers included.
func (s *streamReader) skipValue() error {
	pending := uint64(1)
	for pending > 0 {
		at := s.off
		lead, err := s.readByte()
		if err != nil {
			return truncated(err)
		}
		pending--
		var payload, children uint64
		switch {
		case lead <= 0x7f, lead >= 0xe0: // fixint
		case lead <= 0x8f:
			children = 2 * uint64(lead&0x0f)
		case lead <= 0x9f:
			children = uint64(lead & 0x0f)
		case lead <= 0xbf:
			payload = uint64(lead & 0x1f)
		default:
			switch lead {
			case 0xc0, 0xc2, 0xc3: // nil, false, true
			case 0xc4, 0xd9: // bin8, str8
				payload, err = s.readUint(1)
			case 0xc5, 0xda:
				payload, err = s.readUint(2)
			case 0xc6, 0xdb:
				payload, err = s.readUint(4)
			case 0xc7, 0xc8, 0xc9: // ext8/16/32: length, then a type byte
				payload, err = s.readUint(1 << (lead - 0xc7))
				payload++
			case 0xca, 0xce, 0xd2: // float32, uint32, int32
				payload = 4
			case 0xcb, 0xcf, 0xd3:
				payload = 8
			case 0xcc, 0xd0:
				payload = 1
			case 0xcd, 0xd1:
				payload = 2
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1..16 plus a type byte
				payload = 1<<(lead-0xd4) + 1
			case 0xdc:
				children, err = s.readUint(2)
			case 0xdd:
				children, err = s.readUint(4)
			case 0xde:
				children, err = s.readUint(2)
				children *= 2
			case 0xdf:
				children, err = s.readUint(4)
				children *= 2
			default: // 0xc1, the one byte msgpack never uses
				return &badValueError{fmt.Sprintf("invalid msgpack prefix byte 0x%02x at offset %d", lead, at)}
			}
		}
		if err != nil {
			return err
		}
		if err := s.discard(payload); err != nil {
			return err
		}
		pending += children
		if pending > maxPendingValues {
			return &badValueError{fmt.Sprintf("containers declare more than %d values (at offset %d)", uint64(maxPendingValues), at)}
		}
	}
	return nil
}

// kindOf names the msgpack type a prefix byte starts, for error messages.
func kindOf(lead byte) string {
	switch {
	case lead <= 0x7f, lead >= 0xe0, lead >= 0xcc && lead <= 0xd3:
		return "integer"
	case lead <= 0x8f, lead == 0xde, lead == 0xdf:
		return "map"
	case lead <= 0x9f, lead == 0xdc, lead == 0xdd:
		return "array"
	case lead <= 0xbf, lead >= 0xd9 && lead <= 0xdb:
		return "string"
	case lead == 0xc0:
		return "nil"
	case lead == 0xc2, lead == 0xc3:
		return "bool"
	case lead >= 0xc4 && lead <= 0xc6:
		return "binary"
	case lead == 0xca, lead == 0xcb:
		return "float"
	case lead >= 0xc7 && lead <= 0xc9, lead >= 0xd4 && lead <= 0xd8:
		return "extension"
	}
	return fmt.Sprintf("invalid prefix 0x%02x", lead)
}
