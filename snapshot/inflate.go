package snapshot

import (
	"bufio"
	"bytes"
	"io"
	"sync"

	kgzip "github.com/klauspost/compress/gzip"
)

// gzipMember decodes exactly one gzip member from the verifier's input.
// Both implementations (klauspost/compress, the default, and ISA-L igzip
// under the isal build tag) must behave the same, because pipeline.go turns
// their errors into the messages operators see:
//   - the constructor reads only the gzip header, returns klauspost's header
//     errors, and leaves br positioned right after the header;
//   - Read returns io.ErrUnexpectedEOF when input ends early,
//     flate.CorruptInputError (offset from the end of the header) for bad
//     deflate data, kgzip.ErrChecksum for a CRC-32/ISIZE trailer mismatch,
//     any other input error (errQuit) as is, and io.EOF after a good trailer;
//   - at io.EOF, br is positioned right after the trailer, so what follows
//     can be reported as trailing data.
type gzipMember interface {
	io.Reader
	// Close releases the decoder's resources (C memory for ISA-L).
	Close() error
}

// recycler is a gzipMember whose buffers can be reused by the next one.
type recycler interface {
	// recycle closes the member and gives its buffers back for reuse; the
	// member must not be used afterwards.
	recycle()
}

// releaseMember ends a member the pipeline is done with: recycled when it
// can be, closed otherwise.
func releaseMember(zr gzipMember) {
	if r, ok := zr.(recycler); ok {
		r.recycle()
		return
	}
	zr.Close()
}

// headerReaders recycles the klauspost readers that parse gzip headers:
// creating one allocates a 32 KiB window and Huffman tables, which the
// header never uses.
var headerReaders sync.Pool

// readGzipHeader reads a gzip header from br with klauspost's reader,
// whose errors are the ones pipeline.go expects, and leaves br right
// after the header (the reader does not touch the body until Read).
func readGzipHeader(br *bufio.Reader) error {
	zr, _ := headerReaders.Get().(*kgzip.Reader)
	if zr == nil {
		zr = new(kgzip.Reader) // Reset on a zero Reader is what NewReader does
	}
	err := zr.Reset(br)
	headerReaders.Put(zr)
	return err
}

const inflateEnginePureGo = "raftsnap table-driven inflate (pure Go)"

// InflateEngine names the inflate implementation this binary verifies
// snapshots with, for `raftsnap version` and bug reports.
func InflateEngine() string { return inflateEngine }

// newKlauspostMember is klauspost/compress/gzip, held to one member so a
// second member is reported as trailing data. It is the reference both
// faster inflaters (newFastMember, pure Go; ISA-L under the isal tag) are
// held to: each hands bad data over to it for the verdict.
func newKlauspostMember(br *bufio.Reader) (gzipMember, error) {
	zr, err := kgzip.NewReader(br)
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	return zr, nil
}

// replayReader is the deflate body again for a fallback decoder: the
// retained prefix, then br.
// It is an io.ByteReader so klauspost reads exactly up to the body's end.
type replayReader struct {
	prefix *bytes.Reader
	br     *bufio.Reader
}

func (r *replayReader) Read(p []byte) (int, error) {
	if r.prefix.Len() > 0 {
		return r.prefix.Read(p)
	}
	return r.br.Read(p)
}

func (r *replayReader) ReadByte() (byte, error) {
	if r.prefix.Len() > 0 {
		return r.prefix.ReadByte()
	}
	return r.br.ReadByte()
}
