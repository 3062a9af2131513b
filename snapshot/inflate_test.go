package snapshot

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	defer m.Close()
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
	res.consumed = -1
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		res.consumed = len(data) - src.Len() - br.Buffered()
	}
	return res
}

var eofResult = fmt.Sprintf("%T %v", io.EOF, io.EOF)

// checkEquivalent decodes data with the build's inflater and with the
// pure-Go one and fails on any difference pipeline.go could observe, except
// one (see docs/performance.md): on damaged data the inflaters may hand over
// different amounts of output before the same error. It reports whether
// that happened. In the default build both are klauspost; `go test -tags
// isal` compares ISA-L.
func checkEquivalent(t testing.TB, data []byte, inPiece, bufSize, readSize int) (outputDiffered bool) {
	t.Helper()
	want := decodeMember(newKlauspostMember, data, inPiece, bufSize, readSize)
	got := decodeMember(newGzipMember, data, inPiece, bufSize, readSize)
	if got.err == want.err && want.err != eofResult && got.output != want.output {
		outputDiffered = true
		got.output, got.outLen = want.output, want.outLen
	}
	if got != want {
		t.Fatalf("%s differs from klauspost on %d input bytes (pieces %d, buffer %d, reads %d):\n got %+v\nwant %+v",
			InflateEngine(), len(data), inPiece, bufSize, readSize, got, want)
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
	return seeds
}

// FuzzInflateEquivalence checks the build's inflater against klauspost on
// arbitrary input, cut into arbitrary pieces. It is meaningful under
// -tags isal (make unit and make fuzz run it so); in the default build it
// compares klauspost with itself.
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
	t.Logf("%d damaged inputs: same error and input position; %d delivered a different amount of output before the error",
		cases, outputDiffered)
}
