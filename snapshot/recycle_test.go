package snapshot

import (
	"bytes"
	"errors"
	"runtime"
	"testing"
)

// TestVerifyRecyclesBuffers: verifications one after another reuse the
// pipeline's buffers (chunks, the inflater's reader and decoder, the
// walker's buffer) instead of allocating them each time, and a reused
// buffer carries nothing over: damaged, truncated and aborted archives
// in between do not change the verdict or the digests of good ones.
func TestVerifyRecyclesBuffers(t *testing.T) {
	small := syntheticState(64<<10, 7)
	big := syntheticState(3*chunkSize+17, 8) // more than one chunk per stage
	smallArchive, smallWant := writeTestArchive(t, small)
	bigArchive, bigWant := writeTestArchive(t, big)
	flipped := bytes.Clone(bigArchive)
	flipped[len(flipped)/2] ^= 0x40
	cut := bigArchive[:len(bigArchive)*2/3]

	check := func(archive []byte, want *Report, state []byte) {
		t.Helper()
		var got bytes.Buffer
		rep, err := Verify(t.Context(), bytes.NewReader(archive), VerifyOptions{State: &got})
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if rep.ArchiveSHA256 != want.ArchiveSHA256 || rep.Members[1].SHA256 != want.Members[1].SHA256 || !bytes.Equal(got.Bytes(), state) {
			t.Fatalf("after reuse: report %+v, want %+v (state %d bytes, want %d)", rep, want, got.Len(), len(state))
		}
	}
	for range 5 {
		check(smallArchive, smallWant, small)
		check(bigArchive, bigWant, big)
		if _, err := Verify(t.Context(), bytes.NewReader(flipped), VerifyOptions{}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("bit flip: got %v, want ErrCorrupt", err)
		}
		if _, err := Verify(t.Context(), bytes.NewReader(cut), VerifyOptions{}); !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut archive: got %v, want ErrTruncated", err)
		}
		v := NewVerifier(t.Context(), VerifyOptions{})
		v.Write(bigArchive[:len(bigArchive)/2])
		v.Abort()
		if _, err := v.Close(); !errors.Is(err, ErrAborted) {
			t.Fatalf("aborted: got %v, want ErrAborted", err)
		}
	}

	if raceEnabled {
		t.Skip("the race detector drops a quarter of sync.Pool's Puts on purpose: allocations not checked")
	}
	// Allocated bytes per verification of a small archive: 1.5 MiB when
	// each one allocated its buffers; a few KiB now. A garbage collection
	// can empty the pools (two in a row do), so the bound is an average
	// with room for that.
	const runs = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		if _, err := Verify(t.Context(), bytes.NewReader(smallArchive), VerifyOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 256<<10 {
		t.Fatalf("each verification of a %d KiB archive allocated %d KiB on average; its buffers are not being reused", len(smallArchive)>>10, per>>10)
	}
}
