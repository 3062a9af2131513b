package statebin

import (
	"errors"
	"io"
	"sync"
)

// Writer decodes a state.bin pushed to it with Write, so it can sit in
// snapshot.VerifyOptions.State and summarise the state while the archive is
// verified in one pass. A decode failure never fails Write: the rest of the
// stream is drained so verification of the archive goes on, and Close
// reports the decode error. Call Close exactly once when the stream ends
// (or is abandoned) to stop the decoding goroutine.
type Writer struct {
	pw   *io.PipeWriter
	done chan struct{}

	once    sync.Once
	summary *Summary
	err     error
}

// NewWriter starts a decoder for the given flavour.
func NewWriter(flavor Flavor) *Writer {
	pr, pw := io.Pipe()
	w := &Writer{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.summary, w.err = Decode(pr, flavor)
		// Keep accepting bytes after an early decode error so the writer
		// never blocks or fails the verification feeding it.
		_, _ = io.Copy(io.Discard, pr)
		pr.Close()
	}()
	return w
}

// Write feeds state.bin bytes to the decoder.
func (w *Writer) Write(p []byte) (int, error) {
	if len(p) == 0 {
		// An empty pipe write hands the reader a zero-length read.
		return 0, nil
	}
	n, err := w.pw.Write(p)
	if errors.Is(err, io.ErrClosedPipe) {
		return n, errors.New("statebin: write after Close")
	}
	return n, err
}

// Close marks the end of the stream, waits for the decoder and returns its
// error, if any. Later calls return the same result.
func (w *Writer) Close() error {
	w.once.Do(func() {
		w.pw.Close()
		<-w.done
	})
	return w.err
}

// Summary returns the decoded summary after a successful Close, nil before
// Close or after a decode error.
func (w *Writer) Summary() *Summary {
	select {
	case <-w.done:
		return w.summary
	default:
		return nil
	}
}
