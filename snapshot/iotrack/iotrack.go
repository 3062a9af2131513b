// Package iotrack keeps track of what goes through a stream: a writer
// that counts and hashes the bytes written, and a reader that remembers
// its own read error, so that a failed io.Copy can be blamed on its
// reader or on its writer.
package iotrack

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
)

// Writer writes to W, and counts (N) and hashes (H) the bytes W took.
type Writer struct {
	W io.Writer
	H hash.Hash
	N int64
}

// SHA256 is a Writer to w hashing with SHA-256.
func SHA256(w io.Writer) *Writer { return &Writer{W: w, H: sha256.New()} }

func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.W.Write(p)
	w.H.Write(p[:n])
	w.N += int64(n)
	return n, err
}

// Sum is the hex digest of what was written.
func (w *Writer) Sum() string { return hex.EncodeToString(w.H.Sum(nil)) }

// Reader reads from R, counts the bytes read (N), and keeps R's own error
// in Err, or sets EOF when R ended. It does not pass on R's WriterTo, so
// that io.CopyBuffer uses the buffer it is given.
type Reader struct {
	R   io.Reader
	N   int64
	Err error
	EOF bool
}

func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.R.Read(p)
	r.N += int64(n)
	if err == io.EOF {
		r.EOF = true
	} else if err != nil {
		r.Err = err
	}
	return n, err
}
