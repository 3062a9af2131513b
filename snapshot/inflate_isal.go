//go:build isal && cgo

package snapshot

/*
#cgo LDFLAGS: -lisal
#include <stdlib.h>
#include <isa-l.h>
#include <isa-l/igzip_lib.h>

// rs_inflate_new allocates a raw-deflate decoder; NULL when out of memory.
static struct inflate_state *rs_inflate_new(void) {
	struct inflate_state *s = malloc(sizeof *s);
	if (s != NULL) {
		isal_inflate_init(s);
		s->crc_flag = ISAL_DEFLATE; // the gzip wrapper is handled in Go
	}
	return s;
}

struct rs_step {
	long long used;    // input bytes taken; negative if ISA-L handed back earlier bytes
	unsigned produced; // output bytes written
	int bits;          // bits ISA-L holds in its bit buffer
	int finished;      // the final deflate block has been decoded and flushed
};

// rs_inflate runs one isal_inflate call over Go buffers. It clears the
// buffer pointers before returning, so no Go pointer outlives the call.
static int rs_inflate(struct inflate_state *s, uint8_t *in, uint32_t in_len,
		uint8_t *out, uint32_t out_len, struct rs_step *step) {
	s->next_in = in;
	s->avail_in = in_len;
	s->next_out = out;
	s->avail_out = out_len;
	int ret = isal_inflate(s);
	step->used = (long long)in_len - (long long)s->avail_in;
	step->produced = out_len - s->avail_out;
	step->bits = s->read_in_length;
	step->finished = s->block_state == ISAL_BLOCK_FINISH;
	s->next_in = NULL;
	s->avail_in = 0;
	s->next_out = NULL;
	s->avail_out = 0;
	// total_out is a uint32 that ISA-L compares back-reference distances
	// against; keep it far above the 32 KiB window instead of letting it
	// wrap to 0 after 4 GiB, where valid references would look invalid.
	if (s->total_out >= (1u << 31))
		s->total_out -= 1u << 30;
	return ret;
}
*/
import "C"

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"unsafe"

	"github.com/klauspost/compress/flate"
)

var inflateEngine = fmt.Sprintf("ISA-L igzip %d.%d.%d (cgo)", C.ISAL_MAJOR_VERSION, C.ISAL_MINOR_VERSION, C.ISAL_PATCH_VERSION)

var newGzipMember = newISALMember

// replayWindow bounds how much of the deflate body is kept so that, when
// ISA-L rejects it, klauspost can decode it again from the start and give
// the pure-Go build's exact error (ISA-L notices damage at other offsets).
// Beyond it, ISA-L's own error offset is reported.
const replayWindow = 1 << 20

// isalMember decodes the deflate body with ISA-L. The gzip header is read
// by klauspost's reader and the trailer is checked here, both in Go, so
// every header and trailer error is the pure-Go build's.
type isalMember struct {
	br    *bufio.Reader
	state *C.struct_inflate_state // C memory, freed by Close

	// prefix holds the deflate bytes taken from br while they fit in
	// replayWindow; nil once they no longer do.
	prefix   []byte
	total    int64         // bytes of output so far
	fallback io.ReadCloser // klauspost, once ISA-L has failed within the window
	replay   *replayReader // its input; the trailer is read from it too

	consumed int64    // deflate bytes taken from br (net of any handed back)
	recent   [16]byte // the last bytes taken, to recover ones ISA-L over-read
	crc      uint32
	size     uint32 // ISIZE: length mod 2^32
	leftover []byte // bytes past the deflate end that ISA-L had buffered
	finished bool
	err      error
}

func newISALMember(br *bufio.Reader) (gzipMember, error) {
	// Only the header is read here: klauspost's reader does not touch the
	// body until Read, and stops exactly at the header's end.
	if err := readGzipHeader(br); err != nil {
		return nil, err
	}
	state := C.rs_inflate_new()
	if state == nil {
		return nil, errors.New("ISA-L inflate: out of memory")
	}
	prefix, _ := isalPrefixes.Get().([]byte)
	if prefix == nil {
		prefix = make([]byte, 0, 64<<10)
	}
	return &isalMember{br: br, state: state, prefix: prefix[:0]}, nil
}

// isalPrefixes recycles replay prefixes between verifications (see
// recycle); one grown past isalPrefixKeep goes to the garbage collector.
var isalPrefixes sync.Pool

const isalPrefixKeep = 256 << 10

// recycle is Close, then the replay prefix is kept for the next member,
// unless it went to the fallback or grew big.
func (m *isalMember) recycle() {
	m.Close()
	if m.prefix != nil && cap(m.prefix) <= isalPrefixKeep {
		isalPrefixes.Put(m.prefix[:0]) // boxing the slice header costs 24 bytes, against 64 KiB
	}
	m.prefix = nil
}

func (m *isalMember) Close() error {
	if m.state != nil {
		C.free(unsafe.Pointer(m.state))
		m.state = nil
	}
	if m.err == nil {
		m.err = errors.New("ISA-L inflate: Read after Close")
	}
	return nil
}

func (m *isalMember) Read(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if m.finished {
			if m.fallback == nil && m.prefix != nil && !m.trailerMatches() {
				// ISA-L accepts some damaged tables klauspost rejects;
				// let klauspost give the pure-Go build's verdict.
				m.finished = false
				m.startFallback()
				if m.err != nil {
					return 0, m.err
				}
				continue
			}
			m.err = m.readTrailer()
			return 0, m.err
		}
		if m.fallback != nil {
			return m.readFallback(p)
		}
		// Whatever br holds, or a refill; at EOF ISA-L still runs once with
		// no input, since it may hold the last block's bits already.
		in, _ := m.br.Peek(m.br.Buffered())
		atEOF := false
		if len(in) == 0 {
			if _, err := m.br.Peek(1); err != nil {
				if err != io.EOF {
					m.err = err // errQuit: another stage stopped
					return 0, err
				}
				atEOF = true
			}
			in, _ = m.br.Peek(m.br.Buffered())
		}
		var inPtr *C.uint8_t
		if len(in) > 0 {
			inPtr = (*C.uint8_t)(unsafe.Pointer(&in[0]))
		}
		var step C.struct_rs_step
		ret := C.rs_inflate(m.state, inPtr, C.uint32_t(len(in)),
			(*C.uint8_t)(unsafe.Pointer(&p[0])), C.uint32_t(len(p)), &step)
		used, produced := int64(step.used), int(step.produced)
		m.take(in, used)
		if ret < 0 && m.prefix != nil {
			// Withdraw this call's output: klauspost may reject the
			// data earlier than ISA-L did, and gives the output now.
			m.startFallback()
			if m.err != nil {
				return 0, m.err
			}
			continue
		}
		if produced > 0 {
			m.crc = crc32.Update(m.crc, crc32.IEEETable, p[:produced])
			m.size += uint32(produced)
			m.total += int64(produced)
		}
		switch {
		case ret < 0:
			m.err = flate.CorruptInputError(m.consumed - int64(step.bits/8))
		case step.finished != 0:
			m.finished = true
			if err := m.keepLeftover(used, int(step.bits)); err != nil {
				m.err = err
			}
		case produced == 0 && used <= 0:
			if atEOF && m.prefix != nil {
				// Input ended early; klauspost may see damage before the
				// end, which the pure-Go build reports instead.
				m.startFallback()
				if m.err != nil {
					return 0, m.err
				}
				continue
			}
			if atEOF {
				m.err = io.ErrUnexpectedEOF
			} else {
				m.err = io.ErrNoProgress // ISA-L neither read nor wrote: never seen, but no spinning
			}
		}
		if produced > 0 {
			return produced, nil
		}
		if m.err != nil {
			return 0, m.err
		}
	}
}

// take discards the bytes ISA-L read from br and remembers the last ones.
func (m *isalMember) take(in []byte, used int64) {
	if used <= 0 {
		m.consumed += used
		return
	}
	taken := in[:used]
	if m.prefix != nil {
		if len(m.prefix)+len(taken) <= replayWindow {
			m.prefix = append(m.prefix, taken...)
		} else {
			m.prefix = nil
		}
	}
	if len(taken) >= len(m.recent) {
		copy(m.recent[:], taken[len(taken)-len(m.recent):])
	} else {
		copy(m.recent[:], m.recent[len(taken):])
		copy(m.recent[len(m.recent)-len(taken):], taken)
	}
	m.br.Discard(len(taken))
	m.consumed += used
}

// keepLeftover recovers the whole bytes ISA-L loaded past the end of the
// deflate stream (it reads ahead up to 8 bytes): they start the trailer.
func (m *isalMember) keepLeftover(used int64, bits int) error {
	n := bits / 8
	if used < 0 {
		n += int(-used) // handed back bytes from an earlier call are past the end too
	}
	if n > 8 {
		return fmt.Errorf("ISA-L inflate: %d bytes buffered past the end of the deflate stream", n)
	}
	m.leftover = append(m.leftover[:0], m.recent[len(m.recent)-n:]...)
	m.consumed -= int64(bits / 8)
	return nil
}

// readTrailer checks the trailer, whose first bytes ISA-L may have loaded.
func (m *isalMember) readTrailer() error {
	var src io.Reader = m.br
	if m.replay != nil {
		src = m.replay
	}
	return checkTrailer(m.leftover, src, m.crc, m.size)
}

// startFallback hands decoding over to klauspost, which decodes the body
// again from its start and has the last word: the same output, error and
// input position as the pure-Go build. The output ISA-L already delivered
// is decoded again and dropped.
func (m *isalMember) startFallback() {
	m.replay = &replayReader{prefix: bytes.NewReader(m.prefix), br: m.br}
	m.fallback = flate.NewReader(m.replay)
	m.prefix, m.leftover = nil, nil
	m.crc, m.size = 0, 0
	if _, err := io.CopyN(crcWriter{m}, m.fallback, m.total); err != nil {
		m.err = err // rejected within output already delivered: its error stands
	}
}

func (m *isalMember) readFallback(p []byte) (int, error) {
	n, err := m.fallback.Read(p)
	if n > 0 {
		m.crc = crc32.Update(m.crc, crc32.IEEETable, p[:n])
		m.size += uint32(n)
		m.total += int64(n)
	}
	switch {
	case err == io.EOF:
		m.finished = true
		err = nil
	case err != nil:
		m.err = err
	}
	if n == 0 && err == nil && m.finished {
		m.err = m.readTrailer()
		return 0, m.err
	}
	return n, err
}

// trailerMatches peeks at the trailer without consuming it.
func (m *isalMember) trailerMatches() bool {
	var trailer [8]byte
	n := copy(trailer[:], m.leftover)
	rest, err := m.br.Peek(8 - n)
	if err != nil {
		return false
	}
	copy(trailer[n:], rest)
	return binary.LittleEndian.Uint32(trailer[:4]) == m.crc && binary.LittleEndian.Uint32(trailer[4:]) == m.size
}

type crcWriter struct{ m *isalMember }

func (w crcWriter) Write(p []byte) (int, error) {
	w.m.crc = crc32.Update(w.m.crc, crc32.IEEETable, p)
	w.m.size += uint32(len(p))
	return len(p), nil
}
