package testkit

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"math/rand/v2"
	"os"
	"testing"
)

// SpoilAt inverts n bytes of the file at path in place, from offset off:
// another process rewriting part of a file, for instance while raftsnap
// sends it. The file keeps its size.
func SpoilAt(t testing.TB, path string, off, n int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		t.Fatalf("spoiling %s at %d: %v", path, off, err)
	}
	for i := range buf {
		buf[i] ^= 0xff
	}
	if _, err := f.WriteAt(buf, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// WithEmptyGzipMember returns archive followed by an empty gzip member.
// Go's gzip reader, and with it Consul's, Nomad's and Vault's restore,
// reads concatenated members and accepts it: sent whole, it restores like
// archive. raftsnap's verifier refuses it (trailing data), and only finds
// out at the very end.
func WithEmptyGzipMember(archive []byte) []byte {
	var member bytes.Buffer
	zw := gzip.NewWriter(&member)
	zw.Close()
	return append(bytes.Clone(archive), member.Bytes()...)
}

// Noise is n pseudo-random bytes from seed (incompressible: an archive of
// it is about as big), beginning with header: a state.bin whose first
// bytes say its flavour, of a size a test chooses.
func Noise(header []byte, n int, seed uint64) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	copy(b, header)
	return b
}

// TarMember is one member of a tar stream: its header and its content.
type TarMember struct {
	Header *tar.Header
	Body   []byte
}

// GzipTarMembers reads every member of a gzip-compressed tar archive.
func GzipTarMembers(t testing.TB, archive []byte) []TarMember {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var members []TarMember
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return members
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, TarMember{Header: hdr, Body: body})
	}
}
