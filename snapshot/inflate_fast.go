package snapshot

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/flate"
	kgzip "github.com/klauspost/compress/gzip"
)

// fastMember is the pure-Go inflater: a table-driven deflate decoder in
// the style of libdeflate (a 64-bit bit buffer refilled eight bytes at a
// time, one table lookup per literal or length code, several literals per
// refill, matches copied eight bytes at a time), decoding straight from
// the bufio.Reader's buffer into a window-plus-output buffer. It checks
// everything the format has, as klauspost/compress does: each Huffman
// code complete (or the single one-bit code zlib accepts), code-length
// repeats within bounds, no symbols 286/287 or distance codes 30/31, no
// distance before the start of the output, stored lengths against their
// complement, the CRC-32 and ISIZE of the trailer.
//
// The verdict on bad data is klauspost's. When this decoder meets
// anything wrong (corrupt data, input ending early), klauspost decodes
// again from a recent block start (a checkpoint: its bit position, output
// offset and 32 KiB window, with the compressed bytes since kept) and has
// the last word, so errors, byte offsets and input positions are those
// of newKlauspostMember. The checkpoint is kept at least fastCPGap bits
// before the block being decoded: klauspost reads a few bits ahead at the
// end of a block, and starting it further back lets its reads line up
// with a decode from the start before the failing block is reached.
// Past fastRetainMax bytes of compressed input since the checkpoint (one
// hostile block of over 1 MiB), this decoder's own error and offset are
// reported instead (still ErrUnexpectedEOF or flate.CorruptInputError).
type fastMember struct {
	br  *bufio.Reader
	err error // sticky: the error Read returns from now on

	// Input. in is either br's buffer (base is the body offset of in[0],
	// and br has not been advanced past it) or, near the end of the input,
	// tail: a copy of the last bytes followed by zeros, so the decoder can
	// always load eight bytes; reading into the zeros is caught as
	// truncation (tailReal real bytes, tailBase their index in br's buffer).
	in       []byte
	pos      int // next byte of in to load into b
	inLimit  int // the decode loops may run while pos <= inLimit
	b        uint64
	nb       uint // valid bits in b
	base     int64
	eof      bool
	tailMode bool
	tailReal int
	tailBase int
	tail     [fastTailSize]byte

	// Output. out[:op] is decoded, the first bytes of it the 32 KiB window
	// kept from before; out[rd:op] is not yet delivered. outBase is the
	// output offset of out[0].
	out     []byte
	op, rd  int
	outBase int64

	// Block state.
	state   int
	final   bool
	stored  int                       // bytes left in a stored block
	lt      *[fastLitTableSize]uint32 // fastFixedLit or dynLit
	dt      *[fastDistTableSize]uint32
	dynLit  [fastLitTableSize]uint32
	dynDist [fastDistTableSize]uint32
	ct      [1 << 7]uint32
	lens    [maxLitSyms + maxDistSyms]uint8

	crc  uint32
	size uint32

	// klauspost's read-ahead, modelled for the offsets it reports (see
	// checkpoint): the bits it would have read so far (whole bytes), the
	// bytes it has counted twice, and what the current block makes it
	// read past its end-of-block code.
	kpRead      int64
	kpDrift     int64
	kpEOBAhead  int64 // bits read from the start of the end-of-block code
	eobLen      int64
	afterStored bool // the block that ended was a stored one

	// litEmpty, distEmpty: the current dynamic block declares an empty
	// literal/length or distance code. Decoding a symbol with an empty
	// code is an error here as in compress/flate and zlib; klauspost
	// instead decodes with whatever its reused table held from before (its
	// huffmanDecoder.init returns before clearing it), so its verdict from
	// the stream start can differ from the one resumed here, and a resumed
	// one can even accept the block. staleTable records that the error was
	// such a lookup (or one in an empty code-length code); the verdict is
	// then this decoder's: corrupt.
	litEmpty, distEmpty bool
	staleTable          bool

	// Fallback to klauspost (see the type comment).
	cpR, cpP  fastCheckpoint // the resume checkpoint and the newest block start
	retain    []byte         // compressed bytes [retStart, base)
	retStart  int64
	retaining bool
	fallback  io.ReadCloser
	replay    *replayReader
	finished  bool // the deflate stream has ended; the trailer comes next
}

const (
	maxLitSyms  = 286 // symbols a dynamic block may declare
	maxDistSyms = 30

	fastWindow  = 32 << 10
	fastOutSize = 256 << 10
	fastOutEnd  = fastWindow + fastOutSize
	// A match may be written 258 bytes from below fastOutEnd, in 16-byte
	// steps.
	fastOutLen = fastOutEnd + 258 + 32

	fastTailSize  = 128
	fastTailMax   = 32 // at most this many real bytes go to tail
	fastMinInput  = 64
	fastMinBuffer = fastMinInput

	fastLitBits       = 10
	fastDistBits      = 8
	fastLitTableSize  = 1<<fastLitBits + 288<<(15-fastLitBits)
	fastDistTableSize = 1<<fastDistBits + 32<<(15-fastDistBits)

	fastCPGap     = 128     // bits
	fastRetainMax = 1 << 20 // bytes
)

// Table entries: bits 0-3 code length (bits to consume), 4-7 extra bits
// (length, distance) or subtable index bits, 8-11 flags, 16-31 value
// (literal byte, length or distance base, subtable start).
const (
	eLiteral     = 1 << 8
	eSub         = 1 << 9
	eEOB         = 1 << 10
	eInvalid     = 1 << 11
	eExceptional = eSub | eEOB | eInvalid
)

const (
	stHeader = iota
	stHuffman
	stStored
	stEnd  // the final block has ended
	stDone // and br is right after it
)

var (
	fastLitSyms   [288]uint32
	fastDistSyms  [32]uint32
	fastCodeSyms  [19]uint32
	fastFixedLit  [fastLitTableSize]uint32
	fastFixedDist [fastDistTableSize]uint32
)

func init() {
	for i := range 256 {
		fastLitSyms[i] = eLiteral | uint32(i)<<16
	}
	fastLitSyms[256] = eEOB
	base := uint32(3)
	for sym := 257; sym < 286; sym++ {
		extra := uint32(0)
		if sym >= 265 && sym < 285 {
			extra = uint32(sym-261) / 4
		}
		if sym == 285 {
			base = 258
		}
		fastLitSyms[sym] = base<<16 | extra<<4
		base += 1 << extra
	}
	fastLitSyms[286], fastLitSyms[287] = eInvalid, eInvalid
	base = 1
	for sym := range 30 {
		extra := uint32(0)
		if sym >= 4 {
			extra = uint32(sym-2) / 2
		}
		fastDistSyms[sym] = base<<16 | extra<<4
		base += 1 << extra
	}
	fastDistSyms[30], fastDistSyms[31] = eInvalid, eInvalid
	for i := range fastCodeSyms {
		fastCodeSyms[i] = uint32(i) << 16
	}
	var lens [288]uint8
	for i := range lens {
		switch {
		case i < 144:
			lens[i] = 8
		case i < 256:
			lens[i] = 9
		case i < 280:
			lens[i] = 7
		default:
			lens[i] = 8
		}
	}
	buildHuffman(fastFixedLit[:], lens[:], fastLitSyms[:], fastLitBits)
	var dlens [32]uint8
	for i := range dlens {
		dlens[i] = 5
	}
	buildHuffman(fastFixedDist[:], dlens[:], fastDistSyms[:], fastDistBits)
}

// buildHuffman fills table (1<<prim primary entries, then subtables) for
// the canonical code of lengths. It refuses what klauspost's decoder
// refuses: a code that is not complete, except the single code of one
// bit zlib accepts. An empty code is accepted; every lookup in it fails.
func buildHuffman(table []uint32, lengths []uint8, syms []uint32, prim uint) bool {
	var count [16]int
	for _, l := range lengths {
		count[l&15]++
	}
	minLen, maxLen := 0, 0
	for l := 1; l < 16; l++ {
		if count[l] > 0 {
			if minLen == 0 {
				minLen = l
			}
			maxLen = l
		}
	}
	primary := table[:1<<prim]
	for i := range primary {
		primary[i] = eInvalid
	}
	if maxLen == 0 {
		return true
	}
	var next [16]int
	code := 0
	for l := minLen; l <= maxLen; l++ {
		code <<= 1
		next[l] = code
		code += count[l]
	}
	if code != 1<<maxLen && !(code == 1 && maxLen == 1) {
		return false
	}
	subBits := uint(0)
	if uint(maxLen) > prim {
		subBits = uint(maxLen) - prim
	}
	nextSub := uint32(1 << prim)
	for sym, l8 := range lengths {
		l := uint(l8)
		if l == 0 {
			continue
		}
		c := next[l]
		next[l]++
		rev := uint32(bits.Reverse16(uint16(c))) >> (16 - l)
		e := syms[sym]
		if l <= prim {
			e |= uint32(l)
			for i := rev; i < 1<<prim; i += 1 << l {
				primary[i] = e
			}
			continue
		}
		p := rev & (1<<prim - 1)
		if primary[p]&eSub == 0 {
			primary[p] = eSub | nextSub<<16 | uint32(subBits)<<4 | uint32(prim)
			nextSub += 1 << subBits
		}
		start := primary[p] >> 16
		e |= uint32(l - prim)
		sub := table[start : start+1<<subBits]
		for i := rev >> prim; i < uint32(len(sub)); i += 1 << (l - prim) {
			sub[i] = e
		}
	}
	return true
}

// fastCheckpoint is a block start the fallback can resume from.
type fastCheckpoint struct {
	valid bool
	bit   int64 // body bit offset of the block header
	out   int64 // output offset
	drift int64 // bytes klauspost has counted twice before it
	win   []byte
	saved bool // win holds the window (else it is still in out)
	buf   *[fastWindow]byte
}

// errFastCorrupt and errFastTruncated are this decoder's own verdicts,
// before the fallback turns them into klauspost's.
var (
	errFastCorrupt   = errors.New("fast inflate: corrupt")
	errFastTruncated = errors.New("fast inflate: truncated")
)

// fastInflatePanics counts panics recovered in the decoder (each one a
// bug; the fallback gave the verdict). Tests require it to stay zero.
var fastInflatePanics atomic.Int64

func newFastMember(br *bufio.Reader) (gzipMember, error) {
	if br.Size() < fastMinBuffer {
		// Only tests make readers this small (the pipeline's is
		// chunkSize); the decoder needs fastMinInput bytes to look at.
		return newKlauspostMember(br)
	}
	// klauspost reads the header only, and stops exactly at its end.
	if err := readGzipHeader(br); err != nil {
		return nil, err
	}
	m, _ := fastMembers.Get().(*fastMember)
	if m == nil {
		m = &fastMember{out: make([]byte, fastOutLen)}
		m.cpR.buf, m.cpP.buf = new([fastWindow]byte), new([fastWindow]byte)
	} else {
		// What a new one would be, its buffers kept. The output area is
		// cleared too: nothing from another archive can show through.
		out, retain := m.out, m.retain[:0]
		bufR, bufP := m.cpR.buf, m.cpP.buf
		*m = fastMember{out: out, retain: retain}
		clear(m.out)
		m.cpR.buf, m.cpP.buf = bufR, bufP
	}
	m.br, m.retaining = br, true
	m.cpR.valid = true
	return m, nil
}

// fastMembers recycles decoders (about 420 KiB each with their output area,
// tables and checkpoint windows) between verifications; see recycle.
var fastMembers sync.Pool

// fastRetainKeep is the largest retention buffer a recycled decoder keeps;
// one grown by a hostile block goes to the garbage collector.
const fastRetainKeep = 256 << 10

func (m *fastMember) Close() error {
	if m.err == nil {
		m.err = errors.New("inflate: Read after Close")
	}
	return nil
}

// recycle is Close, then the decoder goes back to fastMembers: the
// pipeline's inflater calls it when it is done with the member.
func (m *fastMember) recycle() {
	m.Close()
	m.br, m.in, m.fallback, m.replay = nil, nil, nil, nil
	m.cpR.win, m.cpP.win = nil, nil
	if cap(m.retain) > fastRetainKeep {
		m.retain = nil
	}
	fastMembers.Put(m)
}

func (m *fastMember) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if m.rd < m.op {
			n := copy(p, m.out[m.rd:m.op])
			m.rd += n
			m.crc = crc32.Update(m.crc, crc32.IEEETable, p[:n])
			m.size += uint32(n)
			return n, nil
		}
		switch {
		case m.err != nil:
			return 0, m.err
		case m.fallback != nil:
			return m.readFallback(p)
		case m.state == stDone:
			m.err = m.readTrailer(m.br)
			return 0, m.err
		}
		if m.op >= fastOutEnd {
			m.slide()
		}
		if err := m.safeDecode(); err != nil {
			if err == errFastCorrupt || err == errFastTruncated {
				m.startFallback(err)
			} else {
				m.err = err // errQuit: another stage stopped
			}
		}
	}
}

// safeDecode runs decode, turning a panic (a bug) into a corrupt verdict
// that the fallback then checks.
func (m *fastMember) safeDecode() (err error) {
	defer func() {
		if r := recover(); r != nil {
			fastInflatePanics.Add(1)
			err = errFastCorrupt
		}
	}()
	return m.decode()
}

// slide keeps the last 32 KiB of output as the window for what follows.
func (m *fastMember) slide() {
	m.saveWindow(&m.cpR)
	m.saveWindow(&m.cpP)
	n := copy(m.out, m.out[m.op-fastWindow:m.op])
	m.outBase += int64(m.op - n)
	m.op, m.rd = n, n
}

func (m *fastMember) saveWindow(cp *fastCheckpoint) {
	if !cp.valid || cp.saved {
		return
	}
	end := int(cp.out - m.outBase)
	start := max(0, end-fastWindow)
	cp.win = cp.buf[:copy(cp.buf[:], m.out[start:end])]
	cp.saved = true
}

func (m *fastMember) window(cp *fastCheckpoint) []byte {
	if cp.saved {
		return cp.win
	}
	end := int(cp.out - m.outBase)
	return m.out[max(0, end-fastWindow):end]
}

// consumedBits is the body bit offset of the next unread bit.
func (m *fastMember) consumedBits() int64 {
	abs := m.base + int64(m.pos)
	if m.tailMode {
		abs += int64(m.tailBase)
	}
	return abs*8 - int64(m.nb)
}

// overread says the decoder has used bits past the real input.
func (m *fastMember) overread() bool {
	return m.tailMode && m.pos*8-int(m.nb) > m.tailReal*8
}

// badData is the decoder's verdict on data it cannot decode.
func (m *fastMember) badData() error {
	if m.overread() {
		return errFastTruncated
	}
	return errFastCorrupt
}

// refill makes more input available: it gives back the bytes not yet
// consumed (keeping the partly consumed one in br), advances br past the
// consumed ones, and takes what br has, waiting for at least
// fastMinInput bytes. Near the end it switches to tail. It must not be
// called in tail mode.
func (m *fastMember) refill() error {
	used := m.pos*8 - int(m.nb)
	first, skip := used/8, uint(used%8)
	if m.retaining {
		from := max(0, int(m.retStart-m.base))
		if from < first {
			if len(m.retain)+first-from > fastRetainMax {
				m.dropRetention()
			} else {
				m.retain = append(m.retain, m.in[from:first]...)
			}
		}
	}
	m.br.Discard(first)
	m.base += int64(first)
	m.b, m.nb, m.pos = 0, 0, 0
	if m.br.Buffered() < fastMinInput && !m.eof {
		if _, err := m.br.Peek(fastMinInput); err == io.EOF {
			m.eof = true
		} else if err != nil {
			return err
		}
	}
	m.in, _ = m.br.Peek(m.br.Buffered())
	if m.eof && len(m.in) <= fastTailMax {
		m.tailBase = 0
		m.tailReal = copy(m.tail[:], m.in)
		clear(m.tail[m.tailReal:])
		m.in = m.tail[:]
		m.tailMode = true
		m.inLimit = len(m.tail) - 16
	} else {
		m.inLimit = len(m.in) - 16
	}
	if skip > 0 {
		m.b = uint64(m.in[0]) >> skip
		m.nb = 8 - skip
		m.pos = 1
	}
	return nil
}

// dropRetention gives up exact fallback until the next block start:
// the compressed bytes since the resume checkpoint are over fastRetainMax
// (a hostile block), so this decoder's own verdict would stand.
func (m *fastMember) dropRetention() {
	m.retain = m.retain[:0]
	m.retaining = false
}

// ensure makes at least 56 bits available in b, or fails with truncation.
func (m *fastMember) ensure() error {
	if m.pos > m.inLimit {
		if m.tailMode {
			return errFastTruncated
		}
		if err := m.refill(); err != nil {
			return err
		}
	}
	m.b |= binary.LittleEndian.Uint64(m.in[m.pos:]) << (m.nb & 63)
	m.pos += int((63 - m.nb) >> 3)
	m.nb |= 56
	return nil
}

func (m *fastMember) bits(n uint) uint32 {
	v := uint32(m.b & (1<<n - 1))
	m.b >>= n
	m.nb -= n
	return v
}

// checkpoint records a block start (see fastMember). Resuming klauspost
// from a block start gives the error offsets of a decode from the stream
// start only once its reads have lined up with that decode's, and only
// with the offset klauspost would have reached there. Two things make them
// differ:
//   - klauspost reads up to 25 bits ahead (past an end-of-block code, up
//     to the longest code plus 10 bits); a decode resumed at a block start
//     has read nothing ahead. Both read the same bytes again once the
//     decode is past that read-ahead, so the resume checkpoint is the
//     newest block start at least fastCPGap bits before the current one
//     (the previous block start becomes it once this one is that far).
//   - At a stored block, klauspost counts the whole bytes it had read
//     ahead a second time (dataBlock adds them to its offset again), so
//     its offsets run ahead of the input by the sum of those; the resumed
//     decode starts at the checkpoint's byte plus that drift (kpDrift,
//     from the model of its reads kept in kpRead).
//
// Right after a stored block klauspost has read nothing ahead: such a
// block start is an exact resume point at once. With the gap, no other
// stored block lies between the resume checkpoint and the point where
// the reads line up.
func (m *fastMember) checkpoint() {
	y := m.consumedBits()
	switch {
	case m.afterStored:
		m.afterStored = false
		m.cpR.valid, m.cpR.bit, m.cpR.out, m.cpR.drift = true, y, m.outBase+int64(m.op), m.kpDrift
		m.cpR.saved, m.cpR.win = false, nil
		m.cpP.valid = false
		m.trimRetention()
		return
	case m.cpP.valid && y-m.cpP.bit >= fastCPGap:
		m.cpR, m.cpP = m.cpP, m.cpR
		m.trimRetention()
	}
	if !m.retaining {
		// Keep bytes again from this block on.
		m.retaining = true
		m.retStart = y / 8
		m.retain = m.retain[:0]
	}
	m.cpP.valid, m.cpP.bit, m.cpP.out, m.cpP.drift = true, y, m.outBase+int64(m.op), m.kpDrift
	m.cpP.saved, m.cpP.win = false, nil
}

// trimRetention drops the kept bytes before the resume checkpoint.
func (m *fastMember) trimRetention() {
	if !m.retaining {
		return
	}
	if k := m.cpR.bit/8 - m.retStart; k > 0 {
		if int(k) < len(m.retain) {
			m.retain = append(m.retain[:0], m.retain[k:]...)
		} else {
			m.retain = m.retain[:0]
		}
		m.retStart = m.cpR.bit / 8
	}
}

// usable says the fallback can resume from cp: its bytes are all kept.
func (m *fastMember) usable(cp *fastCheckpoint) bool {
	return cp.valid && m.retaining && cp.bit/8 >= m.retStart
}

// decode decodes until the output area is full, the stream ends, or an
// error.
func (m *fastMember) decode() error {
	for m.op < fastOutEnd {
		switch m.state {
		case stHeader:
			if m.in == nil {
				if err := m.refill(); err != nil {
					return err
				}
			}
			if m.op == 0 && m.outBase == 0 && m.consumedBits() == 0 {
				// The stream start is the first checkpoint (valid from
				// newFastMember); nothing to record.
			} else {
				m.checkpoint()
			}
			if err := m.blockHeader(); err != nil {
				return err
			}
		case stStored:
			if err := m.copyStored(); err != nil {
				return err
			}
		case stHuffman:
			if err := m.huffman(); err != nil {
				return err
			}
		case stEnd:
			m.state = stDone
			return m.endOfStream()
		case stDone:
			return nil
		}
	}
	return nil
}

// endOfStream checks the final block did not end in the zero padding and
// leaves br right after it, where the trailer starts.
func (m *fastMember) endOfStream() error {
	if m.overread() {
		return errFastTruncated
	}
	used := m.pos*8 - int(m.nb)
	n := (used + 7) / 8
	if m.tailMode {
		n += m.tailBase
	}
	m.br.Discard(n)
	m.base += int64(n)
	m.in, m.pos, m.b, m.nb, m.tailMode = nil, 0, 0, 0, false
	m.finished = true
	return nil
}

func (m *fastMember) blockHeader() error {
	if err := m.ensure(); err != nil {
		return err
	}
	m.litEmpty, m.distEmpty = false, false
	// klauspost reads the 3 header bits, and what it read ahead before.
	hdr := m.consumedBits()
	m.kpRead = max(m.kpRead, roundUp8(hdr+3))
	m.final = m.bits(1) == 1
	switch m.bits(2) {
	case 0:
		// It counts the whole bytes it holds past the header twice.
		m.kpDrift += (m.kpRead - hdr - 3) / 8
		m.bits(m.nb & 7) // to a byte boundary
		if err := m.ensure(); err != nil {
			return err
		}
		n, nn := m.bits(16), m.bits(16)
		if m.overread() {
			return errFastTruncated
		}
		if uint16(nn) != ^uint16(n) {
			return errFastCorrupt
		}
		// Give the buffered whole bytes back to in; copyStored reads in.
		m.pos -= int(m.nb / 8)
		m.b, m.nb = 0, 0
		m.stored = int(n)
		m.state = stStored
		return nil
	case 1:
		m.lt, m.dt = &fastFixedLit, &fastFixedDist
		m.eobLen, m.kpEOBAhead = 7, 7
		m.state = stHuffman
		return nil
	case 2:
		if err := m.dynamicTables(); err != nil {
			return err
		}
		m.state = stHuffman
		return nil
	default:
		return m.badData()
	}
}

func (m *fastMember) endBlock() {
	if m.final {
		m.state = stEnd
	} else {
		m.state = stHeader
	}
}

func (m *fastMember) copyStored() error {
	for m.stored > 0 {
		space := fastOutEnd - m.op
		if space <= 0 {
			return nil
		}
		end := len(m.in)
		if m.tailMode {
			end = m.tailReal
		}
		if m.pos >= end {
			if m.tailMode {
				return errFastTruncated
			}
			if err := m.refill(); err != nil {
				return err
			}
			continue
		}
		n := copy(m.out[m.op:m.op+min(space, m.stored)], m.in[m.pos:end])
		m.op += n
		m.pos += n
		m.stored -= n
	}
	if m.overread() {
		return errFastTruncated
	}
	m.kpRead = m.consumedBits() // klauspost has read exactly to here
	m.afterStored = true
	m.endBlock()
	return nil
}

func roundUp8(bits int64) int64 { return (bits + 7) &^ 7 }

func allZero(b []uint8) bool {
	for _, v := range b {
		if v != 0 {
			return false
		}
	}
	return true
}

var codeLengthOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

func (m *fastMember) dynamicTables() error {
	if err := m.ensure(); err != nil {
		return err
	}
	nlit := int(m.bits(5)) + 257
	ndist := int(m.bits(5)) + 1
	nclen := int(m.bits(4)) + 4
	if nlit > maxLitSyms || ndist > maxDistSyms {
		return m.badData()
	}
	var clens [19]uint8
	for i := range nclen {
		if i%16 == 0 {
			if err := m.ensure(); err != nil {
				return err
			}
		}
		clens[codeLengthOrder[i]] = uint8(m.bits(3))
	}
	if !buildHuffman(m.ct[:], clens[:], fastCodeSyms[:], 7) {
		return m.badData()
	}
	n := nlit + ndist
	lens := m.lens[:n]
	for i := 0; i < n; {
		if err := m.ensure(); err != nil {
			return err
		}
		e := m.ct[m.b&(1<<7-1)]
		if e&eInvalid != 0 {
			m.staleTable = clens == [19]uint8{} && !m.overread()
			return m.badData()
		}
		m.bits(uint(e & 15))
		sym := e >> 16
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var v uint8
		switch sym {
		case 16:
			if i == 0 {
				return m.badData()
			}
			rep, v = 3+int(m.bits(2)), lens[i-1]
		case 17:
			rep = 3 + int(m.bits(3))
		default:
			rep = 11 + int(m.bits(7))
		}
		if i+rep > n {
			return m.badData()
		}
		for range rep {
			lens[i] = v
			i++
		}
	}
	if m.overread() {
		return errFastTruncated
	}
	m.litEmpty, m.distEmpty = allZero(lens[:nlit]), allZero(lens[nlit:])
	if !buildHuffman(m.dynLit[:], lens[:nlit], fastLitSyms[:], fastLitBits) ||
		!buildHuffman(m.dynDist[:], lens[nlit:], fastDistSyms[:], fastDistBits) {
		return errFastCorrupt
	}
	m.lt, m.dt = &m.dynLit, &m.dynDist
	// klauspost reads at least its shortest code, or the end-of-block
	// code if longer, plus 10 bits when another block follows.
	m.eobLen = int64(lens[256])
	minLen := uint8(15)
	for _, l := range lens[:nlit] {
		if l != 0 && l < minLen {
			minLen = l
		}
	}
	m.kpEOBAhead = int64(max(minLen, lens[256]))
	if !m.final {
		m.kpEOBAhead += 10
	}
	return nil
}

// huffman decodes a Huffman block until its end, a full output area or an
// error; it refills the input as needed.
func (m *fastMember) huffman() error {
	for {
		done, err := m.huffmanLoop()
		if done && err == nil {
			// klauspost read kpEOBAhead bits from the end-of-block code on.
			m.kpRead = max(m.kpRead, roundUp8(m.consumedBits()-m.eobLen+m.kpEOBAhead))
		}
		if err != nil || done || m.op >= fastOutEnd {
			if err == nil && m.overread() {
				err = errFastTruncated
			}
			return err
		}
		// Input ran low.
		if m.tailMode {
			return m.badData()
		}
		if err := m.refill(); err != nil {
			return err
		}
	}
}

// huffmanLoop is the hot loop. It stops at the end of the block (done),
// when the output area is full, when fewer than 16 input bytes are left
// to load, or on bad data.
func (m *fastMember) huffmanLoop() (done bool, err error) {
	const (
		litMask  = 1<<fastLitBits - 1
		distMask = 1<<fastDistBits - 1
	)
	in := m.in
	out := m.out[:fastOutLen]
	lt, dt := m.lt, m.dt
	b, nb, pos, op := m.b, m.nb, m.pos, m.op
	inLimit := m.inLimit
	for pos <= inLimit && op < fastOutEnd {
		b |= binary.LittleEndian.Uint64(in[pos:]) << (nb & 63)
		pos += int((63 - nb) >> 3)
		nb |= 56

		e := lt[b&litMask]
		if e&eLiteral != 0 {
			// Up to three literals per refill (3 x 15 bits <= 56).
			n := e & 15
			b >>= n
			nb -= uint(n)
			out[op] = byte(e >> 16)
			op++
			e = lt[b&litMask]
			if e&eLiteral != 0 {
				n := e & 15
				b >>= n
				nb -= uint(n)
				out[op] = byte(e >> 16)
				op++
				e = lt[b&litMask]
				if e&eLiteral != 0 {
					n := e & 15
					b >>= n
					nb -= uint(n)
					out[op] = byte(e >> 16)
					op++
					continue
				}
			}
			// A length and distance need up to 48 bits.
			b |= binary.LittleEndian.Uint64(in[pos:]) << (nb & 63)
			pos += int((63 - nb) >> 3)
			nb |= 56
		}
		if e&eExceptional != 0 {
			if e&eSub != 0 {
				b >>= fastLitBits
				nb -= fastLitBits
				e = lt[(e>>16)+uint32(b)&(1<<((e>>4)&15)-1)]
				if e&eLiteral != 0 {
					n := e & 15
					b >>= n
					nb -= uint(n)
					out[op] = byte(e >> 16)
					op++
					continue
				}
			}
			if e&eEOB != 0 {
				n := e & 15
				b >>= n
				nb -= uint(n)
				m.b, m.nb, m.pos, m.op = b, nb, pos, op
				m.endBlock()
				return true, nil
			}
			if e&eExceptional != 0 {
				m.b, m.nb, m.pos, m.op = b, nb, pos, op
				m.staleTable = m.litEmpty && !m.overread()
				return false, m.badData()
			}
		}
		// Length.
		n := e & 15
		length := int(e>>16) + int((b>>n)&(1<<((e>>4)&15)-1))
		n += (e >> 4) & 15
		b >>= n & 63
		nb -= uint(n)
		// Distance.
		d := dt[b&distMask]
		if d&eExceptional != 0 {
			if d&eSub != 0 {
				b >>= fastDistBits
				nb -= fastDistBits
				d = dt[(d>>16)+uint32(b)&(1<<((d>>4)&15)-1)]
			}
			if d&eExceptional != 0 {
				m.b, m.nb, m.pos, m.op = b, nb, pos, op
				m.staleTable = m.distEmpty && !m.overread()
				return false, m.badData()
			}
		}
		n = d & 15
		dist := int(d>>16) + int((b>>n)&(1<<((d>>4)&15)-1))
		n += (d >> 4) & 15
		b >>= n & 63
		nb -= uint(n)
		if dist > op {
			m.b, m.nb, m.pos, m.op = b, nb, pos, op
			return false, m.badData()
		}
		// Copy the match; up to 15 bytes past its end may be written.
		src := op - dist
		switch {
		case dist >= 8:
			end := op + length
			for op < end {
				binary.LittleEndian.PutUint64(out[op:], binary.LittleEndian.Uint64(out[src:]))
				binary.LittleEndian.PutUint64(out[op+8:], binary.LittleEndian.Uint64(out[src+8:]))
				op += 16
				src += 16
			}
			op = end
		case dist == 1:
			v := uint64(out[src]) * 0x0101010101010101
			end := op + length
			for op < end {
				binary.LittleEndian.PutUint64(out[op:], v)
				binary.LittleEndian.PutUint64(out[op+8:], v)
				op += 16
			}
			op = end
		default:
			for i := range length {
				out[op+i] = out[src+i]
			}
			op += length
		}
	}
	m.b, m.nb, m.pos, m.op = b, nb, pos, op
	return false, nil
}

// startFallback hands decoding to klauspost from the resume checkpoint
// (see fastMember). It reports false, with m.err set to this decoder's own
// verdict, when no checkpoint is usable.
func (m *fastMember) startFallback(verdict error) bool {
	cp := &m.cpR
	if !m.usable(cp) {
		cp = &m.cpP // not fastCPGap before the failing block: offsets may differ
	}
	own := func() bool {
		m.op = m.rd // what is decoded may come from the zero padding
		if verdict == errFastTruncated {
			m.err = io.ErrUnexpectedEOF
		} else {
			m.err = flate.CorruptInputError((m.consumedBits() + 7) / 8)
		}
		return false
	}
	cpByte := cp.bit / 8
	if !m.usable(cp) || m.staleTable {
		// (klauspost would decode with a stale table: the block is
		// corrupt, as compress/flate and zlib say.)
		return own()
	}
	var prefix []byte
	if cpByte < m.base {
		prefix = m.retain[cpByte-m.retStart:]
	} else {
		m.br.Discard(int(cpByte - m.base))
	}
	win := m.window(cp)
	m.replay = &replayReader{prefix: bytes.NewReader(prefix), br: m.br}
	m.fallback = flate.NewReaderOpts(m.replay, flate.WithResumeFrom(flate.InflateCheckpoint{
		UncompressedOffset: cp.out,
		CompressedOffset:   cpByte + cp.drift,
		BitOffset:          uint8(cp.bit % 8),
		Window:             win,
	}))
	m.finished = false
	delivered := m.outBase + int64(m.rd)
	if skip := delivered - cp.out; skip > 0 {
		// Output already delivered is decoded again and dropped.
		m.op = m.rd
		if _, err := io.CopyN(io.Discard, m.fallback, skip); err != nil {
			m.err = err // rejected within output already delivered: its error stands
			return false
		}
	} else {
		// Output decoded before the checkpoint is good: deliver it first.
		m.op = int(cp.out - m.outBase)
	}
	return true
}

func (m *fastMember) readFallback(p []byte) (int, error) {
	if m.finished {
		m.err = m.readTrailer(m.replay)
		return 0, m.err
	}
	n, err := m.fallback.Read(p)
	if n > 0 {
		m.crc = crc32.Update(m.crc, crc32.IEEETable, p[:n])
		m.size += uint32(n)
	}
	switch {
	case err == io.EOF:
		m.finished = true
		if n == 0 {
			m.err = m.readTrailer(m.replay)
			return 0, m.err
		}
		err = nil
	case err != nil:
		m.err = err
	}
	return n, err
}

func (m *fastMember) readTrailer(src io.Reader) error { return checkTrailer(nil, src, m.crc, m.size) }

// checkTrailer reads a gzip member's 8-byte trailer (its first bytes in
// have, the rest from src) and checks CRC-32 and ISIZE as klauspost's gzip
// reader does: io.EOF when they match. Both inflaters end members here.
func checkTrailer(have []byte, src io.Reader, crc, size uint32) error {
	var trailer [8]byte
	n := copy(trailer[:], have)
	if _, err := io.ReadFull(src, trailer[n:]); err != nil {
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if binary.LittleEndian.Uint32(trailer[:4]) != crc || binary.LittleEndian.Uint32(trailer[4:]) != size {
		return kgzip.ErrChecksum
	}
	return io.EOF
}

// String is for debugging.
func (m *fastMember) String() string {
	return fmt.Sprintf("fastMember{state %d, base %d, pos %d, nb %d, op %d, rd %d, outBase %d}", m.state, m.base, m.pos, m.nb, m.op, m.rd, m.outBase)
}
