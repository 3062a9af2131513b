package snapshot

import (
	"bufio"
	"bytes"
	"io"

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
