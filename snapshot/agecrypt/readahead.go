package agecrypt

import (
	"io"
	"sync"
)

// readAhead decrypts in a goroutine of its own, a few chunks ahead of its
// reader, so that a restore's verification (gunzip, hashing) and the
// decryption run on two cores instead of taking turns. Memory stays
// bounded and allocated once: readAheadDepth+1 buffers of readAheadChunk
// bytes go round between the goroutine and the reader (a sync.Pool would
// let the collector drop them and churn a snapshot's size in garbage).
type readAhead struct {
	ch   chan chunkOrErr
	free chan []byte
	done chan struct{}
	once sync.Once
	cur  []byte
	buf  []byte // cur's backing buffer, returned to free when used up
	err  error
}

const (
	readAheadChunk = 256 << 10
	readAheadDepth = 4
)

type chunkOrErr struct {
	buf []byte
	n   int
	err error
}

func newReadAhead(r io.Reader) *readAhead {
	ra := &readAhead{ch: make(chan chunkOrErr, readAheadDepth), free: make(chan []byte, readAheadDepth+1), done: make(chan struct{})}
	for range readAheadDepth + 1 {
		ra.free <- make([]byte, readAheadChunk)
	}
	go ra.fill(r)
	return ra
}

func (ra *readAhead) fill(r io.Reader) {
	defer close(ra.ch)
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		case <-ra.done:
			return
		}
		n, err := io.ReadFull(r, buf)
		if err == io.ErrUnexpectedEOF {
			err = io.EOF // a short last chunk: the end, as far as the reader said
		}
		select {
		case ra.ch <- chunkOrErr{buf: buf, n: n, err: err}:
		case <-ra.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.buf != nil {
			ra.free <- ra.buf // never blocks: free holds every buffer
			ra.buf = nil
		}
		c, ok := <-ra.ch
		if !ok {
			return 0, io.ErrClosedPipe
		}
		ra.buf, ra.cur, ra.err = c.buf, c.buf[:c.n], c.err
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// stop ends the goroutine (it may still be inside a Read of its source,
// which the caller's Close of that source ends).
func (ra *readAhead) stop() { ra.once.Do(func() { close(ra.done) }) }
