package client

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/agecrypt"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// TestCLIAgeInterop: what an encrypted store keeps is plain age, which the
// age CLI decrypts into an archive consul and raftsnap accept; an archive
// encrypted by hand with the age CLI is verified, inspected and restored
// by raftsnap with --identity-file; the stored bytes hold no trace of a
// KV value; a wrong key and tampered ciphertext are refused, and nothing
// is restored.
func TestCLIAgeInterop(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	consulBin := servers.Binary(t, "consul")
	ageCLI := testkit.FindAgeCLI(t)
	env := []string{"CONSUL_HTTP_ADDR=" + consul.Addr}
	dir := t.TempDir()
	const marker = "kv-secret-4d1c9e-do-not-store"
	consul.PutKV(t, "app/password", marker)
	plain := filepath.Join(dir, "plain.snap")
	data := mustSave(t, "consul", consul.Addr, plain)
	if !testkit.BytesHoldMarker(t, plain, marker) {
		t.Fatal("the plain archive does not show the marker: the scan below would prove nothing")
	}
	key, recipient := ageCLI.NewKey(t, dir, "key.txt")
	otherKey, _ := ageCLI.NewKey(t, dir, "other.txt")

	// raftsnap → age: through an encrypting store, as a job writes.
	storeDir := filepath.Join(dir, "store")
	name := encryptIntoStore(t, storeDir, recipient, data)
	if hits, n := testkit.MarkerHits(t, storeDir, marker); n == 0 || len(hits) > 0 {
		t.Fatalf("scanned %d files, the marker is in %v", n, hits)
	}
	decrypted := filepath.Join(dir, "x.snap")
	ageCLI.Run(t, ageCLI.Age, "-d", "-i", key, "-o", decrypted, filepath.Join(storeDir, name+store.EncryptedSuffix))
	if got, _ := os.ReadFile(decrypted); !bytes.Equal(got, data) {
		t.Fatal("age -d does not give back the archive")
	}
	mustRaftsnap(t, "snapshot", "verify", decrypted)
	vendor(t, consulBin, env, "snapshot", "inspect", decrypted)

	// age → raftsnap: encrypted by hand.
	hand := filepath.Join(dir, "hand.snap.age")
	ageCLI.Run(t, ageCLI.Age, "-r", recipient, "-o", hand, plain)
	v := mustRaftsnap(t, "snapshot", "verify", "--identity-file", key, hand)
	if !strings.HasPrefix(v.Stdout, "OK    "+hand) {
		t.Fatalf("verify --identity-file: %s", v)
	}
	if ins := mustRaftsnap(t, "snapshot", "inspect", "--identity-file", key, hand); !strings.Contains(ins.Stdout, "consul") {
		t.Fatalf("inspect --identity-file: %s", ins)
	}
	if r := raftsnap(t, "snapshot", "verify", hand); r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "give --identity-file") {
		t.Fatalf("verify without the key: %s", r)
	}
	if r := raftsnap(t, "snapshot", "verify", "--identity-file", otherKey, hand); r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "none of the identity file's keys") {
		t.Fatalf("verify with another key: %s", r)
	}

	// Restore: a tampered copy is cut off, nothing restored; the good one
	// restores.
	consul.PutKV(t, "app/password", "changed-after-save")
	tampered := filepath.Join(dir, "tampered.snap.age")
	orig, _ := os.ReadFile(hand)
	testkit.WriteFile(t, tampered, string(orig), 0o600)
	testkit.FlipByte(t, tampered, int64(len(orig))-100)
	for _, bad := range []struct{ file, key, want string }{
		{tampered, key, "failed verification"},
		{hand, otherKey, "none of the identity file's keys"},
	} {
		r := raftsnap(t, "snapshot", "restore", "--source", "consul", "--address", consul.Addr, "--yes", "--identity-file", bad.key, bad.file)
		if r.Code == 0 || strings.Contains(r.Stdout, "Restored") || !strings.Contains(r.Stderr, bad.want) {
			t.Fatalf("restore of %s with %s: %s", bad.file, bad.key, r)
		}
		if v, _ := consul.GetKV(t, "app/password"); v != "changed-after-save" {
			t.Fatalf("the cluster changed: %q", v)
		}
	}
	mustRaftsnap(t, "snapshot", "restore", "--source", "consul", "--address", consul.Addr, "--yes", "--identity-file", key, hand)
	if v, _ := consul.GetKV(t, "app/password"); v != marker {
		t.Fatalf("after the restore app/password = %q", v)
	}
}

// encryptIntoStore commits data (a verified archive) into the local store
// at dir encrypted to recipient, as a snapshot job does, and returns its
// name.
func encryptIntoStore(t *testing.T, dir, recipient string, data []byte) string {
	t.Helper()
	ctx := context.Background()
	rep, err := snapshot.Verify(ctx, bytes.NewReader(data), snapshot.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	local, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	rs, err := agecrypt.NewRecipients([]string{recipient}, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := agecrypt.Wrap(local, rs, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC()
	name := store.NewName("consul-main", at, rep.Meta.Index, 1)
	storetest.Put(t, st, "consul-main", name, data, store.Entry{CreatedAt: at, Size: rep.ArchiveBytes, SHA256: rep.ArchiveSHA256,
		Index: rep.Meta.Index, Term: rep.Meta.Term, Verified: true, VerifiedAt: at})
	return name
}
