package source

// No real Vault can be built here (see DESIGN.md), so the vault source is
// tested against the test kit's vaultstub: a loopback server speaking
// Vault's documented snapshot API (GET /v1/sys/storage/raft/snapshot, POST
// .../snapshot and .../snapshot-force, X-Vault-Token, X-Vault-Namespace,
// JSON {"errors": [...]} bodies), AppRole login and token renewal, and
// serving archives in Vault's layout.

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/internal/testkit/vaultstub"
	"github.com/raftsnap/raftsnap/snapshot"
)

func startVault(t *testing.T, namespace string) (*vaultstub.Server, string) {
	v := vaultstub.Start(t, vaultstub.Options{Token: testToken, Namespace: namespace})
	return v, v.URL
}

func TestVaultSaveRestore(t *testing.T) {
	vault, addr := startVault(t, "team-a")
	ctx := testContext(t)
	src := mustNew(t, Config{Kind: Vault, Address: addr, Token: testToken, Namespace: "team-a"})

	var archive bytes.Buffer
	res, err := src.Save(ctx, &archive)
	if err != nil {
		t.Fatalf("save: %v", err)
	}
	if res.Bytes != int64(archive.Len()) || res.Digest != "" {
		t.Fatalf("result %+v for %d bytes", res, archive.Len())
	}
	if !src.VerifyOptions().RequireSealed {
		t.Fatal("vault archives must be verified as sealed")
	}
	report := verifyArchive(t, archive.Bytes(), src.VerifyOptions())
	if !report.Sealed || report.Meta.Index != 10 {
		t.Fatalf("report: sealed %v index %d", report.Sealed, report.Meta.Index)
	}

	// An archive without SHA256SUMS.sealed fails verification for vault.
	var plain bytes.Buffer
	meta := raft.SnapshotMeta{ID: "x", Index: 1, Term: 1, Size: 1}
	if _, err := snapshot.Write(&plain, &meta, strings.NewReader("s")); err != nil {
		t.Fatal(err)
	}
	if _, err := snapshot.Verify(t.Context(), bytes.NewReader(plain.Bytes()), src.VerifyOptions()); err == nil {
		t.Fatal("an unsealed archive verified as a vault archive")
	}

	newer := writeVaultArchive(t, raft.SnapshotMeta{ID: "3-20-1", Index: 20, Term: 3, Version: 1}, []byte("vault state v2"))
	if err := src.Restore(ctx, bytes.NewReader(newer), int64(len(newer))); err != nil {
		t.Fatalf("restore: %v", err)
	}
	force := mustNew(t, Config{Kind: Vault, Address: addr, Token: testToken, Namespace: "team-a", ForceRestore: true})
	if err := force.Restore(ctx, bytes.NewReader(archive.Bytes()), int64(archive.Len())); err != nil {
		t.Fatalf("force restore: %v", err)
	}
	if got := strings.Join(vault.Restored(), ","); got != "/v1/sys/storage/raft/snapshot,/v1/sys/storage/raft/snapshot-force" {
		t.Fatalf("restores went to %s", got)
	}

	// The server's own rejection comes back with its message.
	err = src.Restore(ctx, bytes.NewReader(plain.Bytes()), int64(plain.Len()))
	assertStatusError(t, err, http.StatusBadRequest, true, "400 from vault at "+addr+"/v1/sys/storage/raft/snapshot: invalid snapshot: ")
}

func TestVaultPermissionDenied(t *testing.T) {
	_, addr := startVault(t, "")
	ctx := testContext(t)
	wrong := Secret("hvs.wrong-token-value")
	src := mustNew(t, Config{Kind: Vault, Address: addr, Token: wrong})
	var buf bytes.Buffer
	_, err := src.Save(ctx, &buf)
	assertStatusError(t, err, http.StatusForbidden, true, "403 from vault at "+addr+"/v1/sys/storage/raft/snapshot: permission denied")
	if strings.Contains(err.Error(), wrong.Reveal()) || strings.Contains(err.Error(), testToken) || buf.Len() != 0 {
		t.Fatalf("leak or bytes written: %v (%d bytes)", err, buf.Len())
	}
}
