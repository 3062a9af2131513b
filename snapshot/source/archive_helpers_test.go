package source

import (
	"bytes"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/internal/testkit/vaultstub"
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

// writeVaultArchive builds an archive in Vault's layout, with a stand-in
// SHA256SUMS.sealed member (vaultstub.Archive).
func writeVaultArchive(t testing.TB, meta raft.SnapshotMeta, state []byte) []byte {
	t.Helper()
	return vaultstub.Archive(t, meta, state)
}
