package source

// No real Vault can be built here (see DESIGN.md), so the vault source is
// tested against vaultTestServer: a loopback server speaking Vault's
// documented snapshot API (GET /v1/sys/storage/raft/snapshot, POST
// .../snapshot and .../snapshot-force, X-Vault-Token, X-Vault-Namespace,
// JSON {"errors": [...]} bodies) and serving archives in Vault's layout.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/snapshot"
)

type vaultTestServer struct {
	t         *testing.T
	token     string
	namespace string // required X-Vault-Namespace when non-empty

	mu       sync.Mutex
	archive  []byte
	restored []string // paths that accepted a restore
}

func (v *vaultTestServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	vaultError := func(status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string][]string{"errors": {msg}})
	}
	if r.Header.Get("X-Vault-Token") != v.token {
		vaultError(http.StatusForbidden, "permission denied")
		return
	}
	if v.namespace != "" && r.Header.Get("X-Vault-Namespace") != v.namespace {
		vaultError(http.StatusForbidden, "permission denied")
		return
	}
	if ua := r.Header.Get("User-Agent"); ua != "raftsnap" && !strings.HasPrefix(ua, "raftsnap/") {
		vaultError(http.StatusBadRequest, "unexpected User-Agent "+ua)
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/sys/storage/raft/snapshot":
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(v.archive) // Vault streams without Content-Length
	case r.Method == http.MethodPost && (r.URL.Path == "/v1/sys/storage/raft/snapshot" || r.URL.Path == "/v1/sys/storage/raft/snapshot-force"):
		if r.ContentLength <= 0 {
			vaultError(http.StatusBadRequest, "missing Content-Length")
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			vaultError(http.StatusBadRequest, err.Error())
			return
		}
		if _, err := snapshot.Verify(r.Context(), bytes.NewReader(body), snapshot.VerifyOptions{RequireSealed: true}); err != nil {
			vaultError(http.StatusBadRequest, "invalid snapshot: "+err.Error())
			return
		}
		v.archive = body
		v.restored = append(v.restored, r.URL.Path)
		w.WriteHeader(http.StatusNoContent)
	default:
		vaultError(http.StatusMethodNotAllowed, "unsupported operation")
	}
}

func startVault(t *testing.T, namespace string) (*vaultTestServer, string) {
	v := &vaultTestServer{t: t, token: testToken, namespace: namespace}
	v.archive = writeVaultArchive(t, raft.SnapshotMeta{ID: "2-10-1700000000000", Index: 10, Term: 2, Version: 1}, []byte("vault state v1"))
	srv := httptest.NewServer(v)
	t.Cleanup(srv.Close)
	return v, srv.URL
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
	if got := strings.Join(vault.restored, ","); got != "/v1/sys/storage/raft/snapshot,/v1/sys/storage/raft/snapshot-force" {
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
