//go:build isal && cgo

package snapshot

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

// residentBytes reads this process's resident set size, which includes the
// C heap that Go's memory statistics do not see.
func residentBytes(t *testing.T) int64 {
	t.Helper()
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(statm))
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// TestISALStateFreed verifies good and damaged archives thousands of
// times: each allocates ISA-L's 85 KiB C state, so a missing free would
// grow the resident set by hundreds of MiB.
func TestISALStateFreed(t *testing.T) {
	good, _ := writeTestArchive(t, syntheticState(64<<10, 9))
	damaged := append([]byte(nil), good...)
	damaged[len(damaged)/2] ^= 0x10
	verify := func(data []byte) {
		if _, err := Verify(t.Context(), bytes.NewReader(data), VerifyOptions{}); err != nil && bytes.Equal(data, good) {
			t.Fatal(err)
		}
	}
	for range 200 { // warm up the allocators
		verify(good)
		verify(damaged)
	}
	before := residentBytes(t)
	const rounds = 4000
	for range rounds {
		verify(good)
		verify(damaged)
	}
	grew := residentBytes(t) - before
	t.Logf("resident set grew %d KiB over %d verifications", grew>>10, 2*rounds)
	if grew > 64<<20 {
		t.Fatalf("resident set grew %d MiB over %d verifications: ISA-L state leaked?", grew>>20, 2*rounds)
	}
}
