package testkit

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// MarkerHits names the files under dir (a store's directory, an object
// server's data directory) holding marker, in their raw bytes or, for gzip
// files (snapshot archives), in their decompressed bytes: a marker in a
// compressed archive is invisible to a raw scan, so a scan that did not
// inflate would prove nothing.
func MarkerHits(t testing.TB, dir, marker string) (hits []string, scanned int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		scanned++
		if BytesHoldMarker(t, path, marker) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits, scanned
}

// BytesHoldMarker says whether the file at path holds marker, raw or
// gunzipped.
func BytesHoldMarker(t testing.TB, path, marker string) bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(marker)) {
		return true
	}
	if zr, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
		plain, _ := io.ReadAll(zr)
		return bytes.Contains(plain, []byte(marker))
	}
	return false
}
