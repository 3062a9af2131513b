package agecrypt

import (
	"errors"
	"io"

	"filippo.io/age"
)

// File is the plaintext of an age file held in something read at offsets
// (an *os.File): its size is known before the first byte (age
// authenticates the last chunk first), as a restore needs to state it, and
// it can be read again from the start. Memory stays bounded: one chunk at
// a time. Errors are classified as Decrypt's.
type File struct {
	r    *io.SectionReader
	src  *sourceAt
	name string
}

// OpenFile starts decrypting the age file src of size bytes (named name
// in errors) with ids.
func OpenFile(src io.ReaderAt, size int64, name string, ids []age.Identity) (*File, error) {
	s := &sourceAt{r: src}
	ra, plainSize, err := age.DecryptReaderAt(s, size, ids...)
	if err != nil {
		return nil, classify(err, s.err, name, true)
	}
	return &File{r: io.NewSectionReader(ra, 0, plainSize), src: s, name: name}, nil
}

// Size is the plaintext's size.
func (f *File) Size() int64 { return f.r.Size() }

func (f *File) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && err != io.EOF {
		err = classify(err, f.src.err, f.name, false)
	}
	return n, err
}

func (f *File) Seek(offset int64, whence int) (int64, error) { return f.r.Seek(offset, whence) }

// sourceAt remembers the file's own read error.
type sourceAt struct {
	r   io.ReaderAt
	err error
}

func (s *sourceAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.r.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = err
	}
	return n, err
}
