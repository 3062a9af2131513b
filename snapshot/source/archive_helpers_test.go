package source

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/snapshot"
)

// verifyArchive runs snapshot.Verify and fails the test when it rejects the
// archive.
func verifyArchive(t testing.TB, archive []byte, opts snapshot.VerifyOptions) *snapshot.Report {
	t.Helper()
	report, err := snapshot.Verify(t.Context(), bytes.NewReader(archive), opts)
	if err != nil {
		t.Fatalf("archive of %d bytes does not verify: %v", len(archive), err)
	}
	return report
}

// writeVaultArchive builds an archive in Vault's layout: snapshot.Write's
// meta.json, state.bin and SHA256SUMS, repacked with a fourth member
// SHA256SUMS.sealed. Real Vault seals the SUMS with its barrier key; the
// content here is a stand-in, which raftsnap does not (cannot) decrypt.
func writeVaultArchive(t testing.TB, meta raft.SnapshotMeta, state []byte) []byte {
	t.Helper()
	meta.Size = int64(len(state))
	var plain bytes.Buffer
	if _, err := snapshot.Write(&plain, &meta, bytes.NewReader(state)); err != nil {
		t.Fatalf("snapshot.Write: %v", err)
	}
	gzr, err := gzip.NewReader(&plain)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gzr)
	var out bytes.Buffer
	gzw := gzip.NewWriter(&out)
	tw := tar.NewWriter(gzw)
	var sums []byte
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == snapshot.SumsName {
			sums = body
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	sealed := append([]byte("test-barrier-sealed:"), sums...)
	if err := tw.WriteHeader(&tar.Header{Name: snapshot.SealedSumsName, Mode: 0o600, Size: int64(len(sealed))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(sealed); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gzw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
