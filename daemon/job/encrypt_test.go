package job

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/daemon/drill"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/agecrypt"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// ageKey writes a fresh age identity file (0600) into dir and returns its
// path and the recipients encrypting to it.
func ageKey(t *testing.T, dir, name string) (string, *agecrypt.Recipients, *age.X25519Identity) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name)
	testkit.WriteFile(t, file, "# "+id.Recipient().String()+"\n"+id.String()+"\n", 0o600)
	r, err := agecrypt.NewRecipients([]string{id.Recipient().String()}, "")
	if err != nil {
		t.Fatal(err)
	}
	return file, r, id
}

func mustWrap(t *testing.T, inner store.Store, r *agecrypt.Recipients, identityFile string) store.Store {
	t.Helper()
	st, err := agecrypt.WrapIdentityFile(inner, r, identityFile)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestEncryptedRoundTrip is issue 15's round trip, from a real raft
// cluster through a snapshot job into an encrypted local store and an
// encrypted versitygw bucket: saved (verified as plaintext while it
// streamed), pruned, scrubbed without the key (ciphertext against
// record), restored by a restore job that reads its identity file only
// when it runs. No stored byte shows a KV value; a key rotation leaves
// old snapshots readable with the old identity only.
func TestEncryptedRoundTrip(t *testing.T) {
	ctx := context.Background()
	c, leader := startCluster(t, 1)
	const marker = "kv-marker-b6e2f0-never-at-rest"
	raftcluster.Put(t, c, "secret", marker)
	raftcluster.Fill(t, c, 2)

	s3 := servers.StartVersity(t)
	s3.SetEnv(t)
	s3.CreateBucket(t, "enc")
	remote, err := bucket.Open(bucket.Config{Provider: bucket.S3, Bucket: "enc", Prefix: "dev/", Endpoint: s3.Endpoint,
		PathStyle: true, PartSize: bucket.MinPartSize, Concurrency: 2}, bucket.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { remote.Close() })
	local := storetest.Local(t)
	keys := t.TempDir()
	oldKey, oldR, _ := ageKey(t, keys, "old.txt")

	// Three runs with last_n 2 in each store: the first is pruned.
	stores := []JobStore{{Store: mustWrap(t, local, oldR, ""), Type: "local"}, {Store: mustWrap(t, remote, oldR, ""), Type: "s3"}}
	j, err := NewSnapshotJob(SnapshotOptions{Name: "dev", Source: raftSource(t, leader.HTTPAddr), Stores: stores,
		Interval: time.Hour, Policy: lastN(t, 2)})
	if err != nil {
		t.Fatal(err)
	}
	stop := startJob(t, j)
	if rep := awaitFirstRun(t, j); rep.Result != controlapi.ResultSuccess {
		t.Fatalf("first run: %+v", rep)
	}
	for range 2 {
		if rep := wakeAndWait(t, j); rep.Result != controlapi.ResultSuccess {
			t.Fatalf("run: %+v", rep)
		}
	}
	stop()
	for _, js := range stores {
		entries, foreign, err := js.Store.List(ctx)
		if err != nil || len(entries) != 2 || len(foreign) != 0 {
			t.Fatalf("%s lists %d snapshots, %v foreign, %v", js.Store, len(entries), foreign, err)
		}
		for _, e := range entries {
			if e.Encryption == nil || e.Object != e.Name+store.EncryptedSuffix || !e.Verified {
				t.Fatalf("%s: %s is not recorded encrypted and verified: %+v", js.Store, e.Name, e)
			}
			// Scrub, without the key.
			if got, rep, err := store.Verify(ctx, js.Store, e.Name, snapshot.VerifyOptions{}, nil); err != nil || rep != nil || !got.Verified {
				t.Fatalf("scrub of %s in %s: %v", e.Name, js.Store, err)
			}
		}
	}
	if sum := j.Status().Store; sum == nil || sum.Encrypted != 2 {
		t.Fatalf("status does not count the encrypted snapshots: %+v", sum)
	}
	for _, dir := range []string{local.Dir(), filepath.Join(s3.Dir, "data")} {
		if hits, n := testkit.MarkerHits(t, dir, marker); n < 4 || len(hits) > 0 {
			t.Fatalf("scanned %d files under %s; the marker is in %v", n, dir, hits)
		}
	}

	// Key rotation: new recipients for the next snapshot.
	newKey, newR, _ := ageKey(t, keys, "new.txt")
	rotated, err := NewSnapshotJob(SnapshotOptions{Name: "dev", Source: raftSource(t, leader.HTTPAddr), Store: mustWrap(t, local, newR, ""),
		Interval: time.Hour, Policy: lastN(t, 2)})
	if err != nil {
		t.Fatal(err)
	}
	stop = startJob(t, rotated)
	rep := wakeAndWait(t, rotated)
	stop()
	newest := rep.Snapshot
	if rep.Result != controlapi.ResultSuccess || newest == "" {
		t.Fatalf("run after the rotation: %+v", rep)
	}

	// Restore jobs: each from the bucket or the directory, into the
	// cluster whose value changed since.
	restore := func(st store.Store, snap, identityFile string) controlapi.RunReport {
		t.Helper()
		raftcluster.Put(t, c, "secret", "changed")
		rj, err := NewRestoreJob(RestoreOptions{Name: "back", Store: mustWrap(t, st, nil, identityFile), Snapshot: snap,
			FromJob: "dev", Target: raftSource(t, leader.HTTPAddr)})
		if err != nil {
			t.Fatal(err)
		}
		startJob(t, rj)
		return wakeAndWait(t, rj)
	}
	value := func() string {
		v, _, _ := c.Get(ctx, "secret")
		return v
	}
	older, _, _ := remote.List(ctx)
	if rep := restore(remote, older[0].Name, oldKey); rep.Result != controlapi.ResultSuccess || value() != marker {
		t.Fatalf("restore from the bucket with the old key: %+v, secret = %q", rep, value())
	}
	if rep := restore(local, newest, oldKey); rep.Result != controlapi.ResultFailure ||
		!strings.Contains(rep.Error, "none of the identity file's keys opens it") || value() != "changed" {
		t.Fatalf("restore of a rotated snapshot with the old key: %+v, secret = %q", rep, value())
	}
	if rep := restore(local, newest, newKey); rep.Result != controlapi.ResultSuccess || value() != marker {
		t.Fatalf("restore of a rotated snapshot with the new key: %+v, secret = %q", rep, value())
	}
	if rep := restore(local, older[0].Name, newKey); rep.Result != controlapi.ResultFailure || value() != "changed" {
		t.Fatalf("restore of an old snapshot with the new key: %+v", rep)
	}
	// Without an identity: refused, naming the recipient, nothing sent.
	if rep := restore(local, newest, ""); rep.Result != controlapi.ResultFailure ||
		!strings.Contains(rep.Error, "is encrypted") || !strings.Contains(rep.Error, newR.Fingerprints()[0]) || value() != "changed" {
		t.Fatalf("restore without the key: %+v", rep)
	}
	// An identity file others can read is refused when the job runs.
	os.Chmod(newKey, 0o644)
	if rep := restore(local, newest, newKey); rep.Result != controlapi.ResultFailure || !strings.Contains(rep.Error, "chmod 600") || value() != "changed" {
		t.Fatalf("restore with an identity file readable by all: %+v", rep)
	}
}

// TestDrillEncryptedConsul: a drill job with identity_file drills an
// encrypted snapshot of a real Consul (decrypted twice as it streams: for
// the counts, then into the throwaway server); without one it fails,
// saying the snapshot is encrypted, and records nothing.
func TestDrillEncryptedConsul(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	bin := servers.Binary(t, "consul")
	for _, k := range []string{"drill/a", "drill/b"} {
		consul.PutKV(t, k, "value of "+k)
	}
	src, err := source.New(source.Config{Kind: source.Consul, Address: consul.Addr})
	if err != nil {
		t.Fatal(err)
	}
	local := storetest.Local(t)
	identity, r, _ := ageKey(t, t.TempDir(), "key.txt")
	takeSnapshots(t, "consul-main", src, mustWrap(t, local, r, ""), 1)
	taken := storedEntry(t, local)
	if taken.Encryption == nil {
		t.Fatalf("not stored encrypted: %+v", taken)
	}

	j, tmp := newDrill(t, mustWrap(t, local, nil, identity), bin, func(o *DrillOptions) { o.FromJob = "consul-main" })
	startJob(t, j)
	rep := wakeAndWait(t, j)
	if rep.Result != controlapi.ResultSuccess || rep.Drill.Outcome != controlapi.DrillOK {
		t.Fatalf("drill of an encrypted snapshot: %+v (drill %+v)", rep, rep.Drill)
	}
	if c := checkOf(t, rep, drill.CheckKVKeys); c.Result != controlapi.CheckMatch || c.Archive != 2 || c.Server != 2 {
		t.Errorf("KV keys: %+v", c)
	}
	assertNothingLeft(t, tmp)

	j2, tmp2 := newDrill(t, local, bin, func(o *DrillOptions) { o.Name = "drill-nokey"; o.FromJob = "consul-main" })
	startJob(t, j2)
	rep = wakeAndWait(t, j2)
	if rep.Result != controlapi.ResultFailure || !strings.Contains(rep.Error, "is encrypted") {
		t.Fatalf("drill without the key: %+v", rep)
	}
	if rec, err := local.Get(context.Background(), taken.Name); err != nil || !rec.Verified || rec.Drill == nil || rec.Drill.Result != store.DrillOK {
		t.Fatalf("record after the drill without the key: %+v (%v)", rec, err)
	}
	assertNothingLeft(t, tmp2)
}
