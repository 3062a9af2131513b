package source

import (
	"bytes"
	"context"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/internal/testkit/vaultstub"
	"github.com/raftsnap/raftsnap/snapshot"
)

// mustSaveDigested saves from src into memory and fails the test unless the
// save succeeded with the server's Digest header checked (DigestVerified)
// and the archive verifies; what names the save in failures.
func mustSaveDigested(t testing.TB, ctx context.Context, what string, src Source) (*SaveResult, []byte, *snapshot.Report) {
	t.Helper()
	var archive bytes.Buffer
	res, err := src.Save(ctx, &archive)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if res.Digest != DigestVerified {
		t.Fatalf("%s: Digest = %q, headers %v; want the server's Digest header checked", what, res.Digest, res.Headers)
	}
	return res, archive.Bytes(), verifyArchive(t, archive.Bytes(), src.VerifyOptions())
}

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

// writeVaultArchive builds an archive in Vault's layout, with a stand-in
// SHA256SUMS.sealed member (vaultstub.Archive).
func writeVaultArchive(t testing.TB, meta raft.SnapshotMeta, state []byte) []byte {
	t.Helper()
	return vaultstub.Archive(t, meta, state)
}
