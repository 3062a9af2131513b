package testkit

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/hashicorp/raft"
)

// VendorVerify checks the archive at path the way the vendors' tools do
// (consul/snapshot.Verify: compress/gzip, archive/tar, meta.json decoded,
// io.Copy of each member into a SHA-256 checked against SHA256SUMS, the
// gzip stream read to its end), plus the SHA-256 of the whole file that
// raftsnap records, computed in the same single pass. It is the plain
// standard-library reference raftsnap's verifier is measured against: by
// snapshot's benchmarks, and by `bench stdlib-verify` as a process. It
// returns the file's SHA-256.
func VendorVerify(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fileHash := sha256.New()
	zr, err := gzip.NewReader(io.TeeReader(bufio.NewReaderSize(f, 256<<10), fileHash))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	hashes := map[string]hash.Hash{}
	var sums bytes.Buffer
	var meta raft.SnapshotMeta
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		hashes[hdr.Name] = h
		switch hdr.Name {
		case "meta.json":
			if err := json.NewDecoder(io.TeeReader(tr, h)).Decode(&meta); err != nil {
				return nil, fmt.Errorf("meta.json: %w", err)
			}
			if _, err := io.Copy(h, tr); err != nil {
				return nil, err
			}
		case "state.bin":
			if _, err := io.Copy(h, tr); err != nil {
				return nil, err
			}
		case "SHA256SUMS":
			if _, err := io.Copy(&sums, tr); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unexpected file %q in the archive", hdr.Name)
		}
	}
	if extra, err := io.Copy(io.Discard, zr); err != nil || extra != 0 {
		return nil, fmt.Errorf("gzip end: %v, %d extra bytes", err, extra)
	}
	if sums.Len() == 0 {
		return nil, fmt.Errorf("no SHA256SUMS in the archive")
	}
	for _, line := range bytes.Split(bytes.TrimSpace(sums.Bytes()), []byte("\n")) {
		digest, name, ok := bytes.Cut(line, []byte("  "))
		if !ok {
			return nil, fmt.Errorf("bad SHA256SUMS line %q", line)
		}
		h, ok := hashes[string(name)]
		if !ok || hex.EncodeToString(h.Sum(nil)) != string(digest) {
			return nil, fmt.Errorf("hash check failed for %q", name)
		}
	}
	return fileHash.Sum(nil), nil
}
