package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/snapshot/agecrypt"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// ageKey is a fresh age identity written to an identity file (mode 0600),
// and its recipient's fingerprint as records keep it.
func ageKey(t *testing.T) (file, fingerprint string, recipients *agecrypt.Recipients) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(file, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	recipients, err = agecrypt.NewRecipients([]string{id.Recipient().String()}, "")
	if err != nil {
		t.Fatal(err)
	}
	return file, recipients.Fingerprints()[0], recipients
}

// putEncrypted writes an archive into the store at loc through agecrypt,
// as an agent with an encrypt block does, and returns its name and the
// plaintext archive.
func putEncrypted(t *testing.T, loc string, recipients *agecrypt.Recipients) (string, []byte) {
	t.Helper()
	cs, err := config.ParseStoreLocation(loc)
	if err != nil {
		t.Fatal(err)
	}
	var inner store.Store
	if cs.IsRemote() {
		inner, err = bucket.Open(cs.BucketConfig(), bucket.Options{}, nil)
	} else {
		inner, err = store.Open(cs.Path, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	st, err := agecrypt.Wrap(inner, recipients, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, rep := storetest.Archive(t, "consul-main", 2, 300, 64<<10)
	created := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	e := storetest.EntryFor(rep, created)
	e.RaftID = "2-300"
	return storetest.CommitData(t, st, "consul-main", data, e).Name, data
}

// encryptedStoreStory: an encrypted snapshot lists with its recipient, is
// fetched decrypted and verified with the right key only (nothing written
// otherwise), and verifies in full with the key, as ciphertext without.
func encryptedStoreStory(t *testing.T, loc string) (name string, data []byte, keyFile string) {
	keyFile, fp, recipients := ageKey(t)
	wrongKey, wrongFP, _ := ageKey(t)
	name, data = putEncrypted(t, loc, recipients)
	c := &storeCLI{t: t, loc: loc}

	l := c.list()
	if len(l.Snapshots) != 1 || l.Snapshots[0].Name != name || l.Snapshots[0].Encryption == nil ||
		l.Snapshots[0].Encryption.Format != store.EncryptionAge || strings.Join(l.Snapshots[0].Encryption.Recipients, ",") != fp ||
		len(l.Snapshots[0].Copies) != 1 || l.Snapshots[0].Copies[0].Encryption == nil {
		t.Fatalf("list: want %s encrypted for %s, got %+v", name, fp, l.Snapshots)
	}
	if r := c.mustStore("list"); !strings.Contains(r.Stdout, "ENCRYPTED") || !strings.Contains(r.Stdout, "age: "+fp) {
		t.Fatalf("list does not show the recipient: %s", r)
	}

	out := filepath.Join(t.TempDir(), "restored.snap")
	nothingWritten := func(what string) {
		t.Helper()
		for _, p := range []string{out, out + ".part"} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Fatalf("%s: %s was written (%v)", what, p, err)
			}
		}
	}
	r := c.store("get", "latest", out)
	if r.Code == ExitOK || !strings.Contains(r.Stderr, "--identity-file") || !strings.Contains(r.Stderr, fp) {
		t.Fatalf("get without a key: want an error naming --identity-file and %s: %s", fp, r)
	}
	nothingWritten("get without a key")
	r = c.store("get", "--identity-file", wrongKey, name, out)
	if r.Code == ExitOK || !strings.Contains(r.Stderr, "none of the identity file's keys opens it") || !strings.Contains(r.Stderr, fp) ||
		strings.Contains(r.Stderr, wrongFP) {
		t.Fatalf("get with the wrong key: %s", r)
	}
	nothingWritten("get with the wrong key")
	r = c.mustStore("get", "--identity-file", keyFile, "latest", out)
	if !strings.Contains(r.Stdout, "Fetched "+name) || !strings.Contains(r.Stdout, "verified") {
		t.Fatalf("get output: %s", r)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get wrote %d bytes (%v), not the %d-byte plaintext archive", len(got), err, len(data))
	}

	r = c.mustStore("verify", name)
	if !strings.Contains(r.Stdout, "OK    "+name) || !strings.Contains(r.Stdout, "ciphertext only") || !strings.Contains(r.Stdout, fp) {
		t.Fatalf("verify without a key: %s", r)
	}
	r = c.mustStore("verify", "--identity-file", keyFile, "--format", "json", name)
	var results []storeVerifyResult
	if err := json.Unmarshal([]byte(r.Stdout), &results); err != nil {
		t.Fatal(err, r)
	}
	if len(results) != 1 || !results[0].OK || results[0].CiphertextOnly || results[0].Bytes != int64(len(data)) || results[0].Index != 300 {
		t.Fatalf("verify with the key: %s", r)
	}
	if r := c.store("verify", "--identity-file", wrongKey, name); r.Code == ExitOK || !strings.Contains(r.Stdout, "FAIL") {
		t.Fatalf("verify with the wrong key: %s", r)
	}
	return name, data, keyFile
}

func TestStoreEncryptedLocal(t *testing.T) {
	dir := t.TempDir()
	name, data, keyFile := encryptedStoreStory(t, dir)

	// The age CLI opens what raftsnap stored with the same key.
	cli := testkit.FindAgeCLI(t)
	plain, err := exec.Command(cli.Age, "-d", "-i", keyFile, filepath.Join(dir, name+store.EncryptedSuffix)).Output()
	if err != nil || !bytes.Equal(plain, data) {
		t.Fatalf("age -d: %v (%d bytes, want %d)", err, len(plain), len(data))
	}
}

func TestStoreEncryptedS3(t *testing.T) {
	gw := versityBackups(t)
	encryptedStoreStory(t, "s3://backups/consul-main/?endpoint="+gw.Endpoint+"&region=us-east-1&use_path_style=true")
}

// TestStoreEncryptedConfig: with --config, a put into a store with an
// encrypt block encrypts as the agent would, and a restore job's
// identity_file decrypts get and verify as the daemon's restore would; an
// archive encrypted by hand is no archive to put.
func TestStoreEncryptedConfig(t *testing.T) {
	dir := t.TempDir()
	keyFile, fp, _ := ageKey(t)
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(key)))
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(dir, "store")
	cfg := writeConsulMainConfig(t, dir, fmt.Sprintf("store: {path: %s, encrypt: {recipients: [%s]}}", local, id.Recipient()),
		"{last_n: {count: 3}}", fmt.Sprintf(`  - name: back
    type: restore
    from_job: consul-main
    target: {type: consul, address: http://127.0.0.1:9500}
    identity_file: %s
`, keyFile))
	a, aData := writeStoreArchive(t, dir, "a.snap", "consul-main", 100, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	if r := raftsnap(t, "store", "put", "--config", cfg, "--job", "consul-main", a); r.Code != ExitOK {
		t.Fatalf("put: %s", r)
	}
	name := "consul-main-20261201T100000Z-100.snap"
	if _, err := os.Stat(filepath.Join(local, name+store.EncryptedSuffix)); err != nil {
		t.Fatalf("put with an encrypt block did not encrypt: %v", err)
	}
	if r := raftsnap(t, "store", "list", "--store", local); !strings.Contains(r.Stdout, "age: "+fp) {
		t.Fatalf("list: %s", r)
	}
	// The snapshot job has no key: get fails; the restore job's opens it.
	out := filepath.Join(dir, "out.snap")
	if r := raftsnap(t, "store", "get", "--config", cfg, "--job", "consul-main", "latest", out); r.Code == ExitOK || !strings.Contains(r.Stderr, "--identity-file") {
		t.Fatalf("get without a key: %s", r)
	}
	if r := raftsnap(t, "store", "get", "--config", cfg, "--job", "back", "latest", out); r.Code != ExitOK {
		t.Fatalf("get with the restore job's identity_file: %s", r)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, aData) {
		t.Fatalf("get wrote %d bytes (%v), want the %d-byte archive", len(got), err, len(aData))
	}
	if r := raftsnap(t, "store", "verify", "--config", cfg, "--job", "back", name); r.Code != ExitOK || strings.Contains(r.Stdout, "ciphertext only") {
		t.Fatalf("verify with the restore job's identity_file: %s", r)
	}

}

// TestStorePutHandEncrypted: an archive encrypted by hand with the age CLI
// is adopted by put as it is, once the key given opens it and the archive
// inside verifies; without a key, with a wrong one or tampered with, it is
// refused and nothing is stored.
func TestStorePutHandEncrypted(t *testing.T) {
	cli := testkit.FindAgeCLI(t)
	dir := t.TempDir()
	keyFile, recipient := cli.NewKey(t, dir, "key.txt")
	wrongKey, _ := cli.NewKey(t, dir, "wrong.txt")
	plainFile, plain := writeStoreArchive(t, dir, "b.snap", "consul-main", 200, time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC))
	enc := filepath.Join(dir, "b.snap.age")
	cli.Run(t, cli.Age, "-r", recipient, "-o", enc, plainFile)
	at := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC) // names the snapshot
	if err := os.Chtimes(enc, at, at); err != nil {
		t.Fatal(err)
	}
	encData, err := os.ReadFile(enc)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(dir, "tampered.snap.age")
	bad := bytes.Clone(encData)
	bad[len(bad)-100] ^= 0x40
	if err := os.WriteFile(tampered, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	// A store whose own encrypt block names another key: the file is
	// stored as it is, not encrypted twice.
	_, _, storeRecipients := ageKey(t)
	local := filepath.Join(dir, "store")
	cfg := writeConsulMainConfig(t, dir, fmt.Sprintf("store: {path: %s, encrypt: {recipients: [%s]}}", local, storeRecipients.Fingerprints()[0]),
		"{last_n: {count: 3}}", "")
	put := func(args ...string) cliResult {
		return raftsnap(t, append([]string{"store", "put", "--config", cfg, "--job", "consul-main"}, args...)...)
	}
	for _, c := range []struct {
		why  string
		args []string
		code int
		want string
	}{
		{"no key", []string{enc}, ExitUsage, "give --identity-file"},
		{"wrong key", []string{"--identity-file", wrongKey, enc}, ExitError, "none of the identity file's keys opens it"},
		{"tampered", []string{"--identity-file", keyFile, tampered}, ExitInvalid, "fails authentication"},
	} {
		if r := put(c.args...); r.Code != c.code || !strings.Contains(r.Stderr, c.want) {
			t.Fatalf("put, %s: %s (want exit %d and %q)", c.why, r, c.code, c.want)
		}
		if names, _ := filepath.Glob(filepath.Join(local, "*")); len(names) > 0 {
			t.Fatalf("put, %s, left %v in the store", c.why, names)
		}
	}
	if r := put("--identity-file", keyFile, enc); r.Code != ExitOK {
		t.Fatalf("put: %s", r)
	}
	name := "consul-main-20261201T110000Z-200.snap"
	stored, err := os.ReadFile(filepath.Join(local, name+store.EncryptedSuffix))
	if err != nil || !bytes.Equal(stored, encData) {
		t.Fatalf("the store holds %d bytes (%v), want the age file's %d unchanged", len(stored), err, len(encData))
	}
	if r := raftsnap(t, "store", "list", "--store", local); !strings.Contains(r.Stdout, "age: "+recipient) {
		t.Fatalf("list does not name the key that opened it: %s", r)
	}
	if r := put("--identity-file", keyFile, enc); r.Code != ExitOK || !strings.Contains(r.Stdout, "Already in") {
		t.Fatalf("a second put: %s", r)
	}
	// Without the key, scrub-style verification checks the ciphertext;
	// with it, get gives the archive.
	if r := raftsnap(t, "store", "verify", "--store", local, name); r.Code != ExitOK {
		t.Fatalf("verify without a key: %s", r)
	}
	out := filepath.Join(dir, "out.snap")
	if r := raftsnap(t, "store", "get", "--store", local, name, out); r.Code != ExitUsage || !strings.Contains(r.Stderr, "give --identity-file") {
		t.Fatalf("get without a key: %s", r)
	}
	if r := raftsnap(t, "store", "get", "--store", local, "--identity-file", keyFile, name, out); r.Code != ExitOK {
		t.Fatalf("get: %s", r)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("get wrote %d bytes (%v), want the %d-byte archive", len(got), err, len(plain))
	}

	// The same into a bucket, by URL.
	gw := versityBackups(t)
	url := "s3://backups/consul-main/?endpoint=" + gw.Endpoint + "&region=us-east-1&use_path_style=true"
	if r := raftsnap(t, "store", "put", "--store", url, "--job", "consul-main", "--identity-file", keyFile, enc); r.Code != ExitOK {
		t.Fatalf("put into a bucket: %s", r)
	}
	if r := raftsnap(t, "store", "list", "--store", url); !strings.Contains(r.Stdout, "age: "+recipient) {
		t.Fatalf("list of the bucket: %s", r)
	}
	os.Remove(out)
	if r := raftsnap(t, "store", "get", "--store", url, "--identity-file", keyFile, name, out); r.Code != ExitOK {
		t.Fatalf("get from the bucket: %s", r)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("get from the bucket wrote %d bytes (%v), want the %d-byte archive", len(got), err, len(plain))
	}
}
