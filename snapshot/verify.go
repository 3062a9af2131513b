package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
)

// Verifier checks a snapshot archive while it streams. Feed it the archive
// bytes with Write (for example through io.MultiWriter while downloading),
// then call Close for the Report. Write returns the verification error as
// soon as one is known, so a download can stop early; Close returns the
// same error. Every Verifier must end with Close or Abort, which release
// its goroutines. A Verifier is not safe for concurrent Writes; Abort may be
// called from any goroutine.
//
// When its context ends, every stage stops within one chunk and Write,
// ReadFrom and Close return an error wrapping the context's cause
// (errors.Is(err, context.Canceled) or context.DeadlineExceeded). That error
// is not an *Error: the archive was not judged. The one thing a context
// cannot interrupt is a VerifyOptions.State Write in progress.
type Verifier struct {
	ctx     context.Context
	stopCtx func() bool // unregisters the context hook
	opts    VerifyOptions

	rawHash  hash.Hash
	rawBytes int64
	fill     []byte // chunk being filled by Write

	compressed chan []byte // raw chunks, caller -> inflater
	rawPool    bufferPool
	plain      chan []byte // decompressed chunks, inflater -> walker
	plainPool  bufferPool
	inflateErr *inflateError // set by the inflater before it closes plain

	quit     chan struct{} // closed on the first failure or Abort
	failOnce sync.Once
	failErr  error
	wg       sync.WaitGroup

	report   *Report // set by the walker on success
	closed   bool
	released bool // the chunks went back to the pool (release)
}

// NewVerifier starts a streaming verification that stops when ctx ends.
// opts.MaxMetaSize 0 means DefaultMaxMetaSize.
func NewVerifier(ctx context.Context, opts VerifyOptions) *Verifier {
	if opts.MaxMetaSize <= 0 {
		opts.MaxMetaSize = DefaultMaxMetaSize
	}
	v := &Verifier{
		ctx:        ctx,
		opts:       opts,
		rawHash:    sha256.New(),
		compressed: make(chan []byte, pipelineDepth),
		plain:      make(chan []byte, pipelineDepth),
		quit:       make(chan struct{}),
	}
	v.rawPool.init(pipelineDepth + 2)
	v.plainPool.init(pipelineDepth + 2)
	v.wg.Add(2)
	go v.inflate()
	go v.walk()
	v.stopCtx = context.AfterFunc(ctx, v.stopForContext)
	return v
}

// Verify reads a whole archive from r and verifies it, until ctx ends. A
// Read blocked in r is not interrupted: give r its own deadline (an HTTP
// body of a request made with ctx has one).
func Verify(ctx context.Context, r io.Reader, opts VerifyOptions) (*Report, error) {
	v := NewVerifier(ctx, opts)
	if _, err := v.ReadFrom(r); err != nil && err != v.failure() {
		// r failed, not the archive.
		v.Abort()
		v.Close()
		return nil, fmt.Errorf("reading snapshot archive: %w", err)
	}
	return v.Close()
}

// VerifyFile verifies the archive stored at path, until ctx ends.
func VerifyFile(ctx context.Context, path string, opts VerifyOptions) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Verify(ctx, f, opts)
}

// Write feeds archive bytes to the verifier. It returns an *Error as soon
// as the archive is known to be bad.
func (v *Verifier) Write(p []byte) (int, error) {
	if v.closed {
		return 0, errors.New("snapshot verifier: Write after Close")
	}
	v.checkContext()
	if err := v.failure(); err != nil {
		return 0, err
	}
	v.rawHash.Write(p)
	v.rawBytes += int64(len(p))
	n := len(p)
	for len(p) > 0 {
		if v.fill == nil {
			buf, ok := v.rawPool.get(v.quit)
			if !ok {
				return n - len(p), v.failure()
			}
			v.fill = buf
		}
		copied := copy(v.fill[len(v.fill):cap(v.fill)], p)
		v.fill = v.fill[:len(v.fill)+copied]
		p = p[copied:]
		if len(v.fill) == cap(v.fill) {
			if !v.send() {
				return n - len(p), v.failure()
			}
		}
	}
	return n, nil
}

// ReadFrom feeds the verifier from r until EOF, reading straight into the
// pipeline's buffers. It returns r's error as is, or an *Error when the
// archive is known to be bad.
func (v *Verifier) ReadFrom(r io.Reader) (int64, error) {
	if v.closed {
		return 0, errors.New("snapshot verifier: ReadFrom after Close")
	}
	var total int64
	for {
		v.checkContext()
		if err := v.failure(); err != nil {
			return total, err
		}
		if v.fill == nil {
			buf, ok := v.rawPool.get(v.quit)
			if !ok {
				return total, v.failure()
			}
			v.fill = buf
		}
		n, err := r.Read(v.fill[len(v.fill):cap(v.fill)])
		if n > 0 {
			v.rawHash.Write(v.fill[len(v.fill) : len(v.fill)+n])
			v.rawBytes += int64(n)
			total += int64(n)
			v.fill = v.fill[:len(v.fill)+n]
			if len(v.fill) == cap(v.fill) && !v.send() {
				return total, v.failure()
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close ends the input, waits for verification to finish and returns the
// report, or the first problem found: the archive's *Error, or the
// context's error if the context ended first.
func (v *Verifier) Close() (*Report, error) {
	if !v.closed {
		v.closed = true
		v.checkContext()
		if len(v.fill) > 0 {
			v.send()
		}
		close(v.compressed)
	}
	v.wg.Wait()
	v.stopCtx()
	v.release()
	if err := v.failure(); err != nil {
		return nil, err
	}
	rep := *v.report
	rep.ArchiveBytes = v.rawBytes
	rep.ArchiveSHA256 = hex.EncodeToString(v.rawHash.Sum(nil))
	return &rep, nil
}

// Abort stops verification without waiting: its goroutines exit as soon
// as a State write in progress returns (Abort may be called while one is
// stalled). Close after Abort waits for them and returns ErrAborted, or the
// error found before.
func (v *Verifier) Abort() {
	v.fail(newError(ErrAborted, "", "snapshot verification aborted"))
	v.stopCtx()
}

// stopForContext runs when the context ends, on its own goroutine.
func (v *Verifier) stopForContext() {
	v.fail(fmt.Errorf("snapshot verification stopped: %w", context.Cause(v.ctx)))
}

// checkContext fails now if the context has ended, so the caller gets the
// context's error without racing the goroutine that stopForContext runs on.
func (v *Verifier) checkContext() {
	if v.ctx.Err() != nil {
		v.stopForContext()
	}
}

// release gives the pipeline's chunks back for the next verification. It
// runs in Close once both stages have ended, so no stage holds one: they
// are in the pools' free lists, still queued in the (closed) channels, or
// the chunk Write was filling.
func (v *Verifier) release() {
	if v.released {
		return
	}
	v.released = true
	if v.fill != nil {
		putChunk(v.fill)
		v.fill = nil
	}
	for _, ch := range []chan []byte{v.compressed, v.plain} {
		for b := range ch {
			putChunk(b)
		}
	}
	v.rawPool.release()
	v.plainPool.release()
}

func (v *Verifier) send() bool {
	select {
	case v.compressed <- v.fill:
		v.fill = nil
		return true
	case <-v.quit:
		return false
	}
}

func (v *Verifier) fail(err error) {
	v.failOnce.Do(func() {
		v.failErr = err
		close(v.quit)
	})
}

func (v *Verifier) failure() error {
	select {
	case <-v.quit:
		return v.failErr
	default:
		return nil
	}
}
