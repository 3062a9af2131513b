package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket"
)

// TestDaemonEncryptedStores is issue 15 end to end, from the YAML: a real
// Consul's snapshots go encrypted into a directory (recipients_file) and a
// versitygw bucket (inline recipient); pruned, scrubbed without the key,
// shown encrypted in status, restored by a restore job with identity_file
// into another Consul; the age CLI decrypts what is stored; no stored byte
// shows the KV value; the identity is in no output.
func TestDaemonEncryptedStores(t *testing.T) {
	ageCLI := testkit.FindAgeCLI(t)
	s3 := servers.StartVersity(t)
	s3.SetEnv(t)
	s3.CreateBucket(t, "sealed")
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	other := servers.StartConsul(t, servers.ConsulOptions{})
	const marker = "e2e-marker-91c4-at-rest-never"
	consul.PutKV(t, "app/secret", marker)

	dir := shortTempDir(t)
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	identity, recipient := ageCLI.NewKey(t, keys, "restore.key")
	recipients := filepath.Join(dir, "recipients.txt")
	testkit.WriteFile(t, recipients, "# the restore key\n"+recipient+"\n", 0o644)
	offsite := s3Block("offsite", "sealed", "consul-main/", s3.Endpoint, `, encrypt: {recipients: [`+recipient+`]}`)
	config := writeConfig(t, dir, `{control: {sockpath: %[1]s/control/sock}, monitoring: {listen: "127.0.0.1:0"}}`, []string{
		`{name: consul-main, type: snapshot, source: {type: consul, address: %[2]s}, interval: 1h, pruning: {keep: [{last_n: {count: 2}}]},
      stores: [{name: disk, path: %[1]s/store, encrypt: {recipients_file: ` + recipients + `}}, ` + offsite + `]}`,
		`{name: scrub, type: scrub, interval: 24h, from_job: consul-main}`,
		`{name: restore-other, type: restore, store: ` + offsite + `, target: {type: consul, address: %[3]s}, identity_file: ` + identity + `}`,
	}, consul.Addr, other.Addr)
	mustRS(t, "configcheck", "--config", config)
	d := startDaemon(t, config)
	d.AwaitJob(t, "consul-main", "the start-up snapshot", func(j controlapi.JobStatus) bool { return j.LastRun != nil })
	for i := 0; i < 2; i++ {
		if rep := d.Signal(t, "consul-main", controlapi.OpWakeup, true).Run; rep.Result != controlapi.ResultSuccess {
			t.Fatalf("snapshot: %+v", rep)
		}
	}

	remote, foreign := listBucket(t, bucket.Config{Provider: bucket.S3, Bucket: "sealed", Prefix: "consul-main/", Endpoint: s3.Endpoint, PathStyle: true})
	local := storedSnapshots(t, filepath.Join(dir, "store"))
	if len(remote) != 2 || len(foreign) != 0 || len(local) != 2 {
		t.Fatalf("bucket %d snapshots (%v other), directory %d; want 2, none and 2", len(remote), foreign, len(local))
	}
	allVerified(t, "the bucket", remote)
	for _, e := range append(remote, local...) {
		if e.Encryption == nil || len(e.Encryption.Recipients) != 1 || e.Encryption.Recipients[0] != recipient || e.Object != e.Name+store.EncryptedSuffix {
			t.Fatalf("%s is not recorded as encrypted to the key: %+v", e.Name, e)
		}
	}
	for _, where := range []string{filepath.Join(dir, "store"), filepath.Join(s3.Dir, "data")} {
		if hits, n := testkit.MarkerHits(t, where, marker); n < 4 || len(hits) > 0 {
			t.Fatalf("scanned %d files under %s; the KV value is in %v", n, where, hits)
		}
	}

	// Without the key: the scrub checks every copy's ciphertext.
	if rep := d.Signal(t, "scrub", controlapi.OpWakeup, true).Run; rep.Result != controlapi.ResultSuccess || rep.Scrub == nil || rep.Scrub.Checked != 4 || rep.Scrub.Failed != 0 {
		t.Fatalf("scrub: %+v (scrub %+v)", rep, rep.Scrub)
	}
	dump := mustRS(t, "status", "--mode", "dump", "--socket", d.Sock)
	if !strings.Contains(dump.Stdout, "(2 encrypted)") {
		t.Errorf("status does not show the encrypted snapshots:\n%s", dump.Stdout)
	}

	// The restore job decrypts with its identity_file.
	if rep := d.Signal(t, "restore-other", controlapi.OpWakeup, true).Run; rep.Result != controlapi.ResultSuccess || rep.Snapshot != remote[0].Name {
		t.Fatalf("restore from the encrypted bucket: %+v, want %s", rep, remote[0].Name)
	}
	if v, ok := other.GetKV(t, "app/secret"); !ok || v != marker {
		t.Fatalf("after the restore the other Consul has app/secret = %q (%v)", v, ok)
	}

	// The age CLI opens what the daemon stored.
	store.SortNewestFirst(local)
	plain := filepath.Join(dir, "x.snap")
	ageCLI.Run(t, ageCLI.Age, "-d", "-i", identity, "-o", plain, filepath.Join(dir, "store", local[0].Object))
	if v := mustRS(t, "snapshot", "verify", plain); !strings.Contains(v.Stdout, local[0].SHA256) {
		t.Fatalf("verify of the age-decrypted archive: %s", v)
	}
	key, _ := os.ReadFile(identity)
	secret := strings.TrimSpace(string(key[strings.Index(string(key), "AGE-SECRET-KEY-"):]))
	if out := d.Output(); strings.Contains(out, secret) || strings.Contains(dump.Stdout, secret) {
		t.Fatal("the identity is in the daemon's output or status")
	}

	// A typo in the recipients file is a config error naming FILE:LINE.
	testkit.WriteFile(t, recipients, "# the restore key\n"+recipient+"\nage1notakey\n", 0o644)
	if r := rs(t, "configcheck", "--config", config); r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, recipients+":3:") {
		t.Fatalf("configcheck with a typo in the recipients file: %s", r)
	}
}
