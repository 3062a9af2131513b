package snapshot

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
)

// memberResult is everything pipeline.go observes from a gzipMember.
type memberResult struct {
	headerErr string
	output    [sha256.Size]byte
	outLen    int64
	err       string // the error that ended Read, io.EOF on success
	// consumed is the input taken when Read ended, which pipeline.go reports
	// for truncation and trailing data (not for corrupt data); -1 otherwise.
	consumed int
	// staleTable: the pure-Go inflater failed in a dynamic block with an
	// empty code, where klauspost decodes with a table left from an
	// earlier block (see fastMember.litEmpty).
	staleTable bool
}

// limitedReader returns at most max bytes per Read, so decoders see the
// input in pieces the way chunked network reads arrive.
type limitedReader struct {
	r   io.Reader
	max int
}

func (l *limitedReader) Read(p []byte) (int, error) {
	return l.r.Read(p[:min(len(p), l.max)])
}

func decodeMember(newMember func(*bufio.Reader) (gzipMember, error), data []byte, inPiece, bufSize, readSize int) memberResult {
	src := bytes.NewReader(data)
	br := bufio.NewReaderSize(&limitedReader{r: src, max: inPiece}, bufSize)
	var res memberResult
	m, err := newMember(br)
	if err != nil {
		res.headerErr = err.Error()
		res.consumed = len(data) - src.Len() - br.Buffered()
		return res
	}
	// Ended as the pipeline ends it: recycled, so the next decode (of
	// another input, good or damaged) runs on a reused decoder.
	defer releaseMember(m)
	h := sha256.New()
	buf := make([]byte, readSize)
	for {
		var n int
		n, err = m.Read(buf)
		h.Write(buf[:n])
		res.outLen += int64(n)
		if err != nil {
			res.err = fmt.Sprintf("%T %v", err, err)
			break
		}
	}
	copy(res.output[:], h.Sum(nil))
	if fm, ok := m.(*fastMember); ok {
		res.staleTable = fm.staleTable
	}
	res.consumed = -1
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		res.consumed = len(data) - src.Len() - br.Buffered()
	}
	return res
}

var eofResult = fmt.Sprintf("%T %v", io.EOF, io.EOF)

// staleTableCases counts inputs where klauspost decoded a block with an
// empty code using an earlier block's table (see fastMember.litEmpty).
var staleTableCases atomic.Int64

// checkEquivalent decodes data with the pure-Go inflater (newFastMember)
// and, in a build with ISA-L, with ISA-L too, and fails on any difference
// from klauspost that pipeline.go could observe, except one (see
// docs/performance.md): on damaged data an inflater may hand over a
// different amount of output before the same error. It reports whether
// that happened. The pure-Go inflater needs a reader of at least
// fastMinBuffer bytes (the pipeline's is chunkSize), so it gets that much
// when bufSize is smaller.
func checkEquivalent(t testing.TB, data []byte, inPiece, bufSize, readSize int) (outputDiffered bool) {
	t.Helper()
	want := decodeMember(newKlauspostMember, data, inPiece, bufSize, readSize)
	check := func(engine string, newMember func(*bufio.Reader) (gzipMember, error), bufSize int) {
		t.Helper()
		panics := fastInflatePanics.Load()
		got := decodeMember(newMember, data, inPiece, bufSize, readSize)
		if n := fastInflatePanics.Load() - panics; n != 0 {
			t.Fatalf("%s: the pure-Go inflater panicked %d times on %d input bytes (pieces %d, buffer %d, reads %d)",
				engine, n, len(data), inPiece, bufSize, readSize)
		}
		if got.staleTable {
			// klauspost decoded with a stale table; compress/flate and
			// zlib reject the block, and so does the pure-Go inflater.
			if !strings.HasPrefix(got.err, "flate.CorruptInputError") {
				t.Fatalf("%s: a block with an empty code ended with %s, want a CorruptInputError", engine, got.err)
			}
			staleTableCases.Add(1)
			return
		}
		if got.err == want.err && want.err != eofResult && got.output != want.output {
			outputDiffered = true
			got.output, got.outLen = want.output, want.outLen
		}
		if got != want {
			t.Fatalf("%s differs from klauspost on %d input bytes (pieces %d, buffer %d, reads %d):\n got %+v\nwant %+v",
				engine, len(data), inPiece, bufSize, readSize, got, want)
		}
	}
	check(inflateEnginePureGo, newFastMember, max(bufSize, fastMinBuffer))
	if InflateEngine() != inflateEnginePureGo {
		check(InflateEngine(), newGzipMember, bufSize)
	}
	return outputDiffered
}

func inflateSeeds(t testing.TB) [][]byte {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.tar.gz"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus seeds in %s: %v", corpusDir, err)
	}
	var seeds [][]byte
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	written, _ := writeTestArchive(t, syntheticState(200<<10, 3))
	seeds = append(seeds, written)
	// Stored blocks, Huffman-only blocks and long matches stress paths
	// the default level rarely takes.
	for _, level := range []int{kgzip.NoCompression, kgzip.HuffmanOnly, kgzip.BestSpeed, kgzip.BestCompression} {
		var out bytes.Buffer
		zw, _ := kgzip.NewWriterLevel(&out, level)
		zw.Name, zw.Comment, zw.Extra = "state.tar", "a comment", []byte{'r', 's', 2, 0, 1, 2}
		zw.Write(syntheticState(40<<10, 5))
		zw.Write(make([]byte, 100<<10))
		zw.Close()
		seeds = append(seeds, out.Bytes())
	}
	// Many small blocks, each write flushed (an empty stored block after
	// a fixed or dynamic one): block starts closer together than the
	// pure-Go inflater's checkpoint gap.
	seeds = append(seeds, flushedGzip(syntheticState(30<<10, 7), 1, 300))
	return seeds
}

// flushedGzip compresses data with compress/gzip, flushing after writes
// of minWrite to maxWrite bytes.
func flushedGzip(data []byte, minWrite, maxWrite int) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	for i := 0; len(data) > 0; i++ {
		n := min(len(data), minWrite+(i*7919)%(maxWrite-minWrite+1))
		zw.Write(data[:n])
		zw.Flush()
		data = data[n:]
	}
	zw.Close()
	return out.Bytes()
}

// FuzzInflateEquivalence checks the pure-Go inflater, and ISA-L's under
// -tags isal (make unit and make fuzz run it so), against klauspost on
// arbitrary input, cut into arbitrary pieces.
//
//	go test -tags isal ./snapshot/ -run '^$' -fuzz FuzzInflateEquivalence
func FuzzInflateEquivalence(f *testing.F) {
	f.Logf("inflater under test: %s", InflateEngine())
	for i, seed := range inflateSeeds(f) {
		f.Add(seed, uint16(4096+i*37), uint16(16+i), uint16(1000+i*100))
	}
	f.Fuzz(func(t *testing.T, data []byte, inPiece, bufSize, readSize uint16) {
		checkEquivalent(t, data, 1+int(inPiece), 16+int(bufSize), 1+int(readSize))
	})
}

// TestInflateEquivalence damages real archives at every byte (truncation,
// bit flips) and compares the inflaters on each, in the normal test run.
func TestInflateEquivalence(t *testing.T) {
	t.Logf("inflater under test: %s", InflateEngine())
	cases, outputDiffered := 0, 0
	count := func(differed bool) {
		cases++
		if differed {
			outputDiffered++
		}
	}
	for _, seed := range inflateSeeds(t) {
		if checkEquivalent(t, seed, len(seed), chunkSize, chunkSize) || checkEquivalent(t, seed, 7, 16, 100) {
			t.Fatalf("undamaged seed of %d bytes decoded differently", len(seed))
		}
		step := max(1, len(seed)/150) // bounded work: ~300 damaged inputs per seed
		if testing.Short() {
			step = max(1, len(seed)/30) // the fast loop: ~60
		}
		for at := 0; at < len(seed); at += step {
			count(checkEquivalent(t, seed[:at], 4096, 4096, chunkSize))
			flipped := append([]byte(nil), seed...)
			flipped[at] ^= 1 << (at % 8)
			count(checkEquivalent(t, flipped, 4096, 4096, chunkSize))
		}
	}
	t.Logf("%d damaged inputs: same error and input position; %d delivered a different amount of output before the error; %d met a block with an empty code that klauspost decoded with a stale table",
		cases, outputDiffered, staleTableCases.Load())
}
