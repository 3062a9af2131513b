package snapshot

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
	kgzip "github.com/klauspost/compress/gzip"
)

// Pipeline tuning. Verification runs in three stages connected by channels
// of reused buffers: the caller hashes the raw bytes, one goroutine inflates,
// one walks the tar and hashes members. Inflate is the slowest stage and
// gets a core to itself; the depth only has to absorb jitter. Memory is
// bounded by 2*(pipelineDepth+2) chunks plus the inflater's state.
const (
	chunkSize     = 256 << 10
	pipelineDepth = 4
)

var gzipMagic = []byte{0x1f, 0x8b}

// chunks recycles chunkSize buffers across verifications: a daemon verifies
// every snapshot it takes, and allocating a verification's buffers afresh
// each time (about 1.5 MiB with the inflater's, mostly unused for small
// archives) made its heap, and its RSS, follow the rate of snapshots rather
// than the number in progress. Buffers come back only once no stage can
// touch them again (Verifier.release, walker and inflater exits).
var chunks = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// getChunk returns an empty buffer of capacity chunkSize from chunks.
func getChunk() []byte { return chunks.Get().(*[chunkSize]byte)[:0] }

// putChunk gives b back to chunks; b must not be used afterwards. Buffers
// of another capacity are left to the garbage collector.
func putChunk(b []byte) {
	if cap(b) == chunkSize {
		chunks.Put((*[chunkSize]byte)(b[:chunkSize]))
	}
}

// readers recycles the inflater's input buffer (chunkSize) the same way.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, chunkSize) }}

// bufferPool hands out at most max chunk buffers, reusing returned ones, so
// a fast producer waits for the consumer instead of growing memory.
type bufferPool struct {
	free      chan []byte
	allocated int
	max       int
}

func (p *bufferPool) init(max int) {
	p.free = make(chan []byte, max)
	p.max = max
}

// get may only be called by the producing goroutine.
func (p *bufferPool) get(quit <-chan struct{}) ([]byte, bool) {
	select {
	case b := <-p.free:
		return b[:0], true
	default:
	}
	if p.allocated < p.max {
		p.allocated++
		return getChunk(), true
	}
	select {
	case b := <-p.free:
		return b[:0], true
	case <-quit:
		return nil, false
	}
}

func (p *bufferPool) put(b []byte) {
	select {
	case p.free <- b:
	default:
	}
}

// release hands the buffers back to chunks. Only once no stage can use
// them any more: after the verifier's goroutines have ended.
func (p *bufferPool) release() {
	for {
		select {
		case b := <-p.free:
			putChunk(b)
		default:
			return
		}
	}
}

// chunkReader is the consuming end of a chunk channel.
type chunkReader struct {
	ch    <-chan []byte
	pool  *bufferPool
	quit  <-chan struct{}
	buf   []byte // current chunk, returned to pool when exhausted
	rest  []byte
	n     int64 // bytes delivered
	head  []byte
	endFn func() error // error to return at the end of the channel
}

var errQuit = errors.New("snapshot verification stopped")

// await blocks until a chunk has arrived, the input has ended or the
// verification has stopped, without consuming anything: a stage takes its
// big buffers only once there is work for them. (A job's verifier starts
// before the server answers, which under load can be seconds later.)
func (r *chunkReader) await() {
	if len(r.rest) > 0 || r.buf != nil {
		return
	}
	select {
	case b, ok := <-r.ch:
		if ok {
			r.buf, r.rest = b, b
		} // else Read finds the channel closed again
	case <-r.quit:
	}
}

// drop returns the current chunk to the pool, at the end of the stage.
func (r *chunkReader) drop() {
	if r.buf != nil {
		r.pool.put(r.buf)
		r.buf, r.rest = nil, nil
	}
}

// delivered is how many bytes Read has returned so far.
func (r *chunkReader) delivered() int64 { return r.n }

func (r *chunkReader) Read(p []byte) (int, error) {
	// Checked on every Read, not only when waiting for a chunk, so a stage
	// working through buffered data stops within one Read of a failure,
	// Abort or the end of the context.
	select {
	case <-r.quit:
		return 0, errQuit
	default:
	}
	for len(r.rest) == 0 {
		if r.buf != nil {
			r.pool.put(r.buf)
			r.buf = nil
		}
		select {
		case b, ok := <-r.ch:
			if !ok {
				if r.endFn != nil {
					if err := r.endFn(); err != nil {
						return 0, err
					}
				}
				return 0, io.EOF
			}
			r.buf, r.rest = b, b
		case <-r.quit:
			return 0, errQuit
		}
	}
	n := copy(p, r.rest)
	if len(r.head) < cap(r.head) {
		r.head = append(r.head, r.rest[:min(n, cap(r.head)-len(r.head))]...)
	}
	r.rest = r.rest[n:]
	r.n += int64(n)
	return n, nil
}

// inflateError is a problem the inflater found. The walker adds where in
// the tar stream it happened when withPosition is set.
type inflateError struct {
	kind         error
	msg          string
	withPosition bool
	cause        error
}

func (e *inflateError) Error() string { return e.msg }

func (v *Verifier) inflate() {
	defer v.wg.Done()
	defer close(v.plain)
	in := &chunkReader{ch: v.compressed, pool: &v.rawPool, quit: v.quit, head: make([]byte, 0, 16)}
	defer in.drop()
	in.await()
	// A *bufio.Reader is both the fastest input for klauspost's inflater
	// and an io.ByteReader, which makes the gzip reader stop exactly at the
	// end of the stream so trailing bytes can be found. newGzipMember picks
	// the build's inflater (inflate_default.go, inflate_isal.go).
	br := readers.Get().(*bufio.Reader)
	br.Reset(in)
	defer func() {
		br.Reset(nil)
		readers.Put(br)
	}()
	zr, err := newGzipMember(br)
	if err != nil {
		v.inflateErr = gzipHeaderError(err, in)
		return
	}
	defer releaseMember(zr)
	headerLen := in.n - int64(br.Buffered())
	for {
		buf, ok := v.plainPool.get(v.quit)
		if !ok {
			return
		}
		n, err := fillFrom(zr, buf[:cap(buf)])
		if n > 0 {
			select {
			case v.plain <- buf[:n]:
			case <-v.quit:
				v.plainPool.put(buf)
				return
			}
		} else {
			v.plainPool.put(buf)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			v.inflateErr = gzipStreamError(err, in.n-int64(br.Buffered()), headerLen)
			return
		}
	}
	end := in.n - int64(br.Buffered())
	first, _ := br.Peek(len(gzipMagic))
	secondMember := bytes.Equal(first, gzipMagic)
	extra, err := io.Copy(io.Discard, br)
	if err != nil {
		return // only errQuit: the walker has already failed
	}
	if extra == 0 {
		return
	}
	if secondMember {
		v.inflateErr = &inflateError{kind: ErrTrailingData, msg: fmt.Sprintf(
			"snapshot archive has trailing data: a second gzip member starts at byte %d (%d more bytes); snapshot archives are a single gzip member",
			end, extra)}
		return
	}
	v.inflateErr = &inflateError{kind: ErrTrailingData, msg: fmt.Sprintf(
		"snapshot archive has trailing data: %d bytes follow the end of the gzip stream at byte %d", extra, end)}
}

// fillFrom reads from r until buf is full, EOF or an error.
func fillFrom(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func gzipHeaderError(err error, in *chunkReader) *inflateError {
	if errors.Is(err, errQuit) {
		return &inflateError{kind: ErrAborted, msg: "snapshot verification aborted", cause: err}
	}
	head := in.head
	if len(head) == 0 {
		return &inflateError{kind: ErrEmpty, msg: "snapshot archive is empty (0 bytes)"}
	}
	if !bytes.HasPrefix(head, gzipMagic[:min(len(head), 2)]) {
		return &inflateError{kind: ErrNotGzip, msg: fmt.Sprintf(
			"snapshot archive is not gzip data: it starts with %q instead of the gzip magic bytes 1f 8b (was an error page or another file saved in its place?)",
			head)}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &inflateError{kind: ErrTruncated, msg: fmt.Sprintf(
			"snapshot archive is truncated: input ended after %d bytes, inside the gzip header", in.n)}
	}
	return &inflateError{kind: ErrCorrupt, msg: fmt.Sprintf("snapshot archive is corrupt: invalid gzip header (%v)", err), cause: err}
}

func gzipStreamError(err error, consumed, headerLen int64) *inflateError {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, errQuit):
		return &inflateError{kind: ErrAborted, msg: "snapshot verification aborted", cause: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &inflateError{kind: ErrTruncated, withPosition: true, msg: fmt.Sprintf(
			"snapshot archive is truncated: input ended after %d bytes", consumed)}
	case errors.As(err, &corrupt):
		return &inflateError{kind: ErrCorrupt, withPosition: true, cause: err, msg: fmt.Sprintf(
			"snapshot archive is corrupt: invalid deflate data at byte %d", headerLen+int64(corrupt))}
	case errors.Is(err, kgzip.ErrChecksum):
		return &inflateError{kind: ErrCorrupt, cause: err, msg: "snapshot archive is corrupt: the gzip trailer's CRC-32 or length does not match the decompressed data"}
	default:
		return &inflateError{kind: ErrCorrupt, withPosition: true, cause: err, msg: fmt.Sprintf(
			"snapshot archive is corrupt: %v", err)}
	}
}
