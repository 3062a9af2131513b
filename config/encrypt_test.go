package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/raftsnap/raftsnap/internal/testkit"
)

// TestEncryptBlock: a store's encrypt block loads with inline recipients
// and a recipients file, and each mistake is an error at its key (a
// recipients file's at FILE:LINE), never echoing a private key.
func TestEncryptBlock(t *testing.T) {
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	pub := id.Recipient().String()
	good := filepath.Join(dir, "recipients.txt")
	testkit.WriteFile(t, good, "# ops team\n"+pub+"\n", 0o644)
	typo := filepath.Join(dir, "typo.txt")
	testkit.WriteFile(t, typo, pub+"\n\nage1qqqq-typo\n", 0o644)
	identity := filepath.Join(dir, "key.txt")
	testkit.WriteFile(t, identity, id.String()+"\n", 0o600)
	config := func(encrypt, restoreExtra string) string {
		return fmt.Sprintf(`jobs:
  - name: main
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8500}
    interval: 1h
    store: {path: %s, encrypt: %s}
    pruning: {keep: [{last_n: {count: 3}}]}
  - name: back
    type: restore
    from_job: main
    target: {type: consul, address: http://127.0.0.1:9500}
%s`, filepath.Join(dir, "store"), encrypt, restoreExtra)
	}
	ok := []string{
		fmt.Sprintf("{recipients: [%s]}", pub),
		fmt.Sprintf("{recipients_file: %s}", good),
		fmt.Sprintf("{recipients: [%s], recipients_file: %s}", pub, good),
	}
	for _, enc := range ok {
		cfg, err := ParseWith([]byte(config(enc, "    identity_file: "+identity+"\n")), "c.yml", Options{SkipDirChecks: true})
		if err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		if r, err := cfg.Jobs[0].Store.EncryptRecipients(); err != nil || r.Len() != 1 {
			t.Fatalf("%s: %v", enc, err)
		}
		if cfg.Jobs[1].IdentityFile != identity || cfg.Jobs[1].Store.Encrypt == nil {
			t.Fatalf("restore job: %+v", cfg.Jobs[1])
		}
	}
	bad := []struct{ encrypt, extra, want string }{
		{"{}", "", "jobs[0].store.encrypt: give the public keys to encrypt to"},
		{fmt.Sprintf("{recipients_file: %s}", typo), "", "jobs[0].store.encrypt.recipients_file: " + typo + ":3: not a valid age recipient"},
		{"{recipients: [ssh-dss AAAA]}", "", "jobs[0].store.encrypt.recipients[0]: unsupported SSH key type"},
		{fmt.Sprintf("{recipients: [%s]}", id.String()), "", "jobs[0].store.encrypt.recipients[0]: this is a private key"},
		{"{recipients_file: relative.txt}", "", "jobs[0].store.encrypt.recipients_file: must be an absolute path"},
		{fmt.Sprintf("{recipients_file: %s}", filepath.Join(dir, "missing")), "", "no such file or directory"},
		{fmt.Sprintf("{recipients: [%s]}", pub), "    identity_file: key.txt\n", "jobs[1].identity_file: must be an absolute path"},
	}
	for _, c := range bad {
		_, err := ParseWith([]byte(config(c.encrypt, c.extra)), "c.yml", Options{SkipDirChecks: true})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want %q, got %v", c.encrypt, c.want, err)
		}
		if err != nil && strings.Contains(err.Error(), "AGE-SECRET-KEY") {
			t.Errorf("%s: an identity in the error: %v", c.encrypt, err)
		}
	}
	// identity_file belongs to jobs that read snapshots.
	_, err = ParseWith([]byte(strings.Replace(config(ok[0], ""), "    interval: 1h\n", "    interval: 1h\n    identity_file: "+identity+"\n", 1)), "c.yml", Options{SkipDirChecks: true})
	if err == nil || !strings.Contains(err.Error(), "jobs[0].identity_file: does not apply to snapshot jobs") {
		t.Errorf("identity_file on a snapshot job: %v", err)
	}
}

// TestEncryptReloadSeesRecipientsFile: the same configuration with a
// recipients file whose content changed is another configuration (a
// reload rebuilds the jobs with the new keys).
func TestEncryptReloadSeesRecipientsFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "recipients.txt")
	load := func(key string) *Config {
		t.Helper()
		testkit.WriteFile(t, file, key+"\n", 0o644)
		cfg, err := ParseWith([]byte(fmt.Sprintf(`jobs:
  - name: main
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8500}
    interval: 1h
    store: {path: %s, encrypt: {recipients_file: %s}}
    pruning: {keep: [{last_n: {count: 3}}]}
`, filepath.Join(dir, "store"), file)), "c.yml", Options{SkipDirChecks: true})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	one, _ := age.GenerateX25519Identity()
	two, _ := age.GenerateX25519Identity()
	a, b, c := load(one.Recipient().String()), load(one.Recipient().String()), load(two.Recipient().String())
	if !reflect.DeepEqual(a.Jobs[0], b.Jobs[0]) || reflect.DeepEqual(a.Jobs[0], c.Jobs[0]) {
		t.Fatal("a recipients file's content does not decide whether the job changed")
	}
}
