package snapshot

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
)

// TestFastInflateLargeDamaged damages an archive of several MiB, so that
// the pure-Go inflater's output window slides many times and its fallback
// resumes from checkpoints whose window was saved before a slide. Every
// block is under fastRetainMax, so the verdicts must be klauspost's
// exactly.
func TestFastInflateLargeDamaged(t *testing.T) {
	size := 6 << 20
	if testing.Short() {
		size = 2 << 20
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(syntheticState(size, 11))
	zw.Close()
	seed := out.Bytes()
	if checkEquivalent(t, seed, chunkSize, chunkSize, chunkSize) || checkEquivalent(t, seed, 1000, 4096, 777) {
		t.Fatal("undamaged archive decoded differently")
	}
	differed := 0
	for i := 1; i < 24; i++ {
		at := len(seed) * i / 24
		if checkEquivalent(t, seed[:at], chunkSize, chunkSize, chunkSize) {
			differed++
		}
		flipped := append([]byte(nil), seed...)
		flipped[at] ^= 1 << (i % 8)
		if checkEquivalent(t, flipped, chunkSize, chunkSize, chunkSize) {
			differed++
		}
	}
	t.Logf("%d of 46 damaged inputs delivered a different amount of output before the same error", differed)
}

// fixedLiteralsGzip is a gzip member holding one fixed-Huffman deflate
// block of literals from text, as no compressor writes it: a single block
// far over fastRetainMax.
func fixedLiteralsGzip(text []byte) []byte {
	var w struct {
		out  []byte
		bits uint64
		n    uint
	}
	put := func(v uint64, n uint) {
		w.bits |= v << w.n
		w.n += n
		for w.n >= 8 {
			w.out = append(w.out, byte(w.bits))
			w.bits >>= 8
			w.n -= 8
		}
	}
	putCode := func(code uint64, n uint) { // Huffman codes go most significant bit first
		var rev uint64
		for i := uint(0); i < n; i++ {
			rev |= (code >> i & 1) << (n - 1 - i)
		}
		put(rev, n)
	}
	w.out = append(w.out, 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff)
	put(1, 1) // final
	put(1, 2) // fixed Huffman
	for _, c := range text {
		if c < 144 {
			putCode(0x30+uint64(c), 8)
		} else {
			putCode(0x190+uint64(c)-144, 9)
		}
	}
	putCode(0, 7) // end of block
	if w.n > 0 {
		put(0, 8-w.n)
	}
	w.out = binary.LittleEndian.AppendUint32(w.out, crc32.ChecksumIEEE(text))
	w.out = binary.LittleEndian.AppendUint32(w.out, uint32(len(text)))
	return w.out
}

// TestFastInflateHugeBlock: past fastRetainMax bytes into one block, the
// pure-Go inflater cannot hand over to klauspost and gives its own
// verdict: the same kind (truncated, corrupt, checksum), the offset of a
// corrupt block within a few bytes of klauspost's. Within the first
// fastRetainMax bytes the verdict is still klauspost's exactly.
func TestFastInflateHugeBlock(t *testing.T) {
	text := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog; ", 3<<20/45))
	seed := fixedLiteralsGzip(text)
	if len(seed) < 3*fastRetainMax/2 {
		t.Fatalf("seed of %d bytes is too small", len(seed))
	}
	checkEquivalent(t, seed, chunkSize, chunkSize, chunkSize)
	// Within the retained bytes: exact.
	for _, at := range []int{100, fastRetainMax / 2, fastRetainMax - 1000} {
		checkEquivalent(t, seed[:at], chunkSize, chunkSize, chunkSize)
		flipped := append([]byte(nil), seed...)
		flipped[at] ^= 0x10
		checkEquivalent(t, flipped, chunkSize, chunkSize, chunkSize)
	}
	// Beyond: the same kind of error.
	for _, at := range []int{fastRetainMax + 5000, len(seed) - 100} {
		for _, damaged := range [][]byte{seed[:at], xorByte(seed, at, 0x10), xorByte(seed, at, 0x01)} {
			want := decodeMember(newKlauspostMember, damaged, chunkSize, chunkSize, chunkSize)
			got := decodeMember(newFastMember, damaged, chunkSize, chunkSize, chunkSize)
			kind := func(err string) string { return strings.Fields(err)[0] }
			if kind(got.err) != kind(want.err) {
				t.Fatalf("damage at %d of %d: got %s, klauspost %s", at, len(damaged), got.err, want.err)
			}
			t.Logf("damage at %d of %d: %s; klauspost: %s", at, len(damaged), got.err, want.err)
		}
	}
}

func xorByte(data []byte, at int, mask byte) []byte {
	flipped := append([]byte(nil), data...)
	flipped[at] ^= mask
	return flipped
}

// FuzzFastInflate compares the pure-Go inflater with klauspost on small
// streams of many small blocks (fixed, dynamic, stored, empty codes),
// where the fuzzer reaches block headers and the fallback's checkpoints
// quickly. FuzzInflateEquivalence covers whole archives.
//
//	go test ./snapshot/ -run '^$' -fuzz FuzzFastInflate
func FuzzFastInflate(f *testing.F) {
	state := syntheticState(4<<10, 13)
	seeds := [][]byte{
		flushedGzip(state, 1, 40),
		flushedGzip(state, 50, 400),
		fixedLiteralsGzip([]byte("fixed Huffman literals, no matches")),
	}
	for _, level := range []int{gzip.NoCompression, gzip.HuffmanOnly, gzip.BestSpeed, gzip.DefaultCompression, gzip.BestCompression} {
		var out bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&out, level)
		zw.Write(state[:1500])
		zw.Flush()
		zw.Write(bytes.Repeat([]byte("ab"), 300))
		zw.Close()
		seeds = append(seeds, out.Bytes())
	}
	for i, seed := range seeds {
		f.Add(seed, uint16(7+i*13), uint16(1000+i*100))
	}
	f.Fuzz(func(t *testing.T, data []byte, inPiece, readSize uint16) {
		checkEquivalent(t, data, 1+int(inPiece), fastMinBuffer, 1+int(readSize))
		checkEquivalent(t, data, 1+int(inPiece), chunkSize, 1+int(readSize))
	})
}
