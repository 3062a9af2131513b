package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// DefaultHoldBack is how many bytes of an archive's end a SendReader keeps
// until the whole archive has verified.
const DefaultHoldBack = 1 << 20

// ErrSendClosed is the error of a SendReader closed before its end.
var ErrSendClosed = errors.New("snapshot send stopped: the reader was closed before the archive's end")

// ErrSendUnfinished is what SendReader.Result reports when nothing went
// wrong but the archive was not read to its end: its consumer stopped
// first (a server that answered, or failed, before taking the whole body).
var ErrSendUnfinished = errors.New("the archive was not read to its end, so it was not sent whole")

// SendOptions configure NewSendReader.
type SendOptions struct {
	// Verify tunes the verification. Its Meta hook is SendReader's own; its
	// State, when set, still receives state.bin.
	Verify VerifyOptions
	// HoldBack is how many bytes of the archive's end are kept until the
	// whole archive has verified; 0 means DefaultHoldBack. An archive no
	// longer than HoldBack is verified whole before its first byte leaves.
	HoldBack int
	// Head, when set, is called once meta.json and the start of state.bin
	// have verified, before the first byte is released: an error from it
	// ends the stream with nothing released.
	Head func(*Head) error
	// Check, when set, is called once the whole archive has verified,
	// before its held-back end is released, with the archive's flavour
	// (ArchiveFlavor): an error from it ends the stream short of its end.
	Check func(*Report, Flavor) error
}

// SendReader reads an archive from another reader and verifies it in the
// same pass, so that what it returns is exactly what was verified, read
// once. It releases nothing until the archive's head (meta.json and the
// start of state.bin) has verified and passed SendOptions.Head, then keeps
// HoldBack bytes behind what it has read, and releases the end only once
// the whole archive has verified and passed SendOptions.Check. On any
// failure Read returns the error instead of the end, so a consumer sending
// the bytes (an HTTP request body with its Content-Length) is cut off and
// its server never receives the whole archive.
//
// Read returns the archive's *Error when it fails verification, the error
// of Head or Check as is, the source reader's error wrapped ("reading
// snapshot archive: ..."), or an error wrapping the context's cause. Memory
// is HoldBack plus one 256 KiB chunk, and up to 32 MiB while an archive's
// head has not verified yet. Read and Close may be called from different
// goroutines (an HTTP transport reads a body on its own).
type SendReader struct {
	src     io.Reader
	opts    SendOptions
	hold    int64
	v       *Verifier
	sniff   *headSniffer
	closing atomic.Bool

	mu       sync.Mutex
	queue    [][]byte // read and fed to the verifier, not yet released
	off      int      // bytes of queue[0] already released
	queued   int64
	free     [][]byte // released chunks, for reuse
	read     int64
	sent     atomic.Int64
	headOK   bool
	verified bool // the whole archive verified and passed Check
	vClosed  bool
	eof      bool // Read returned io.EOF
	err      error
	report   *Report
	flavor   Flavor
	headSeen *Head
}

// NewSendReader starts verifying the archive read from src. The caller owns
// src, and calls Close once done with the reader (always, also after an
// error), which releases the verifier.
func NewSendReader(ctx context.Context, src io.Reader, opts SendOptions) *SendReader {
	hold := int64(opts.HoldBack)
	if hold <= 0 {
		hold = DefaultHoldBack
	}
	s := &SendReader{src: src, opts: opts, hold: hold, sniff: newHeadSniffer(opts.Verify.State)}
	vopts := opts.Verify
	vopts.State, vopts.Meta = s.sniff, s.sniff.setMeta
	s.v = NewVerifier(ctx, vopts)
	return s
}

// Read returns the next verified bytes of the archive (see SendReader).
func (s *SendReader) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.err != nil {
			return 0, s.err
		}
		if n := s.releasable(); n > 0 {
			return s.release(p, n), nil
		}
		if s.verified {
			return 0, io.EOF
		}
		if err := s.fill(); err != nil {
			s.stop(err)
		}
	}
}

// releasable is how many queued bytes may leave now.
func (s *SendReader) releasable() int64 {
	switch {
	case s.verified:
		return s.queued
	case !s.headOK:
		return 0
	}
	return max(0, s.queued-s.hold)
}

func (s *SendReader) release(p []byte, n int64) int {
	total := 0
	for len(p) > 0 && n > 0 {
		chunk := s.queue[0]
		c := copy(p[:min(int64(len(p)), n)], chunk[s.off:])
		p, n, total, s.off = p[c:], n-int64(c), total+c, s.off+c
		if s.off == len(chunk) {
			s.queue[0] = nil
			s.queue, s.off = s.queue[1:], 0
			if int64(len(s.free)) <= s.hold/chunkSize {
				s.free = append(s.free, chunk[:0])
			}
		}
	}
	s.queued -= int64(total)
	s.sent.Add(int64(total))
	return total
}

// fill reads one chunk from the source into the verifier and the queue,
// checks the head once it is known, and finishes at the source's end.
func (s *SendReader) fill() error {
	if !s.headOK && s.read >= maxHeadInput {
		return errHeadTooFar
	}
	var buf []byte
	if k := len(s.free); k > 0 {
		buf, s.free = s.free[k-1], s.free[:k-1]
	} else {
		buf = make([]byte, chunkSize)
	}
	n, err := io.ReadFull(s.src, buf[:cap(buf)])
	if n > 0 {
		s.read += int64(n)
		if _, werr := s.v.Write(buf[:n]); werr != nil {
			return werr
		}
		s.queue = append(s.queue, buf[:n])
		s.queued += int64(n)
	} else {
		s.free = append(s.free, buf)
	}
	if !s.headOK {
		if head := s.sniff.poll(); head != nil {
			if err := s.checkHead(head); err != nil {
				return err
			}
		}
	}
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return s.finish()
	case err != nil:
		return fmt.Errorf("reading snapshot archive: %w", err)
	}
	return nil
}

func (s *SendReader) checkHead(head *Head) error {
	s.headSeen = head
	if s.opts.Head != nil {
		if err := s.opts.Head(head); err != nil {
			return err
		}
	}
	s.headOK = true
	return nil
}

// finish waits for the verdict on the whole archive and runs Check.
func (s *SendReader) finish() error {
	s.vClosed = true
	report, err := s.v.Close()
	if err != nil {
		return err
	}
	head := s.sniff.poll()
	if head == nil {
		return errors.New("snapshot archive verified, but its head was never seen (a bug)")
	}
	if !s.headOK {
		if err := s.checkHead(head); err != nil {
			return err
		}
	}
	s.flavor = ArchiveFlavor(head, report.Sealed)
	if s.opts.Check != nil {
		if err := s.opts.Check(report, s.flavor); err != nil {
			return err
		}
	}
	s.report, s.verified = report, true
	return nil
}

// stop makes err the reader's final error and releases the verifier.
func (s *SendReader) stop(err error) {
	if s.closing.Load() {
		// The verifier was aborted by Close: its ErrAborted is no verdict.
		err = ErrSendClosed
	}
	s.err = err
	if !s.vClosed {
		s.vClosed = true
		s.v.Abort()
		s.v.Close()
	}
	s.queue, s.queued, s.free = nil, 0, nil
}

// Close stops the verification if it has not ended and releases its
// buffers; a Read after Close returns ErrSendClosed (or the error that
// ended the stream before). It is safe to call while a Read is in progress
// on another goroutine, and more than once.
func (s *SendReader) Close() error {
	s.closing.Store(true)
	s.v.Abort() // unblocks a Read waiting in the verifier
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil && !s.allSent() {
		s.stop(ErrSendClosed)
	}
	return nil
}

// allSent: the whole archive verified and every byte of it was released
// (a consumer reading exactly the archive's size never sees io.EOF).
func (s *SendReader) allSent() bool { return s.verified && s.queued == 0 }

// Sent is how many bytes Read has returned.
func (s *SendReader) Sent() int64 { return s.sent.Load() }

// Head returns the archive's head once it has verified, else nil.
func (s *SendReader) Head() *Head {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headSeen
}

// Result says how the stream ended. Once the whole archive verified and
// every byte of it was read: the report and the archive's flavour, and a
// nil error. Otherwise the error that ended it (as Read returned it), or
// ErrSendUnfinished when the reader was not read to its end and no error
// stopped it.
func (s *SendReader) Result() (*Report, Flavor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err == nil && s.allSent():
		return s.report, s.flavor, nil
	case s.err != nil && !errors.Is(s.err, ErrSendClosed):
		return nil, "", s.err
	}
	return nil, "", ErrSendUnfinished
}

// VerificationFailed reports whether err (from SendReader's Read or
// Result, or from ReadHead) is the archive failing verification, a verdict
// on its bytes, rather than a refusal by SendOptions.Head or Check, a read
// error, a failing State writer or a stop.
func VerificationFailed(err error) bool {
	var archiveErr *Error
	return errors.As(err, &archiveErr) && archiveErr.Kind != ErrAborted && archiveErr.Kind != ErrStateWriter
}

// CutError is an archive that a SendReader stopped short of its end: its
// consumer received Sent of Size bytes, never the whole archive. Err says
// why (the archive's *Error, a refusal by SendOptions.Head or Check, a read
// error, the context's end).
type CutError struct {
	Sent, Size int64
	Err        error
}

func (e *CutError) Error() string {
	if e.Sent == 0 {
		return fmt.Sprintf("%v; nothing was sent", e.Err)
	}
	return fmt.Sprintf("%v; the upload was cut after %d of %d bytes, so the server never received the whole archive", e.Err, e.Sent, e.Size)
}

func (e *CutError) Unwrap() error { return e.Err }

// Send streams the archive read from r, size bytes, through send in one
// pass: send gets a SendReader over r (see SendReader) and size, and sends
// what it reads (for example as an HTTP request body of that length).
// Send returns the report and the archive's flavour once all of it verified
// and send succeeded; a *CutError when the SendReader stopped the stream
// (verification failed, opts.Head or opts.Check refused it, r failed, ctx
// ended); send's own error when it failed first; and an error when send
// succeeded without reading the archive to its end, since the held-back
// end then never left.
func Send(ctx context.Context, r io.Reader, size int64, opts SendOptions, send func(body io.Reader, size int64) error) (*Report, Flavor, error) {
	s := NewSendReader(ctx, r, opts)
	defer s.Close()
	sendErr := send(s, size)
	report, flavor, streamErr := s.Result()
	switch {
	case streamErr != nil && !errors.Is(streamErr, ErrSendUnfinished):
		return nil, "", &CutError{Sent: s.Sent(), Size: size, Err: streamErr}
	case sendErr != nil:
		return nil, "", sendErr
	case streamErr != nil:
		return nil, "", fmt.Errorf("the receiver took %d of %d bytes and answered success without the rest, which were never sent: %w", s.Sent(), size, streamErr)
	}
	return report, flavor, nil
}
