package agecrypt_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/snapshot/agecrypt"
)

// Each recipient kind encrypts a snapshot that its identity file (as an
// operator keeps it) decrypts, and is recorded by a public fingerprint.
func TestRecipientKinds(t *testing.T) {
	dir := t.TempDir()
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	x, _ := key(t)
	sshLine := func(pub any) string {
		pk, err := ssh.NewPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " ops@example"
	}
	sshPEM := func(priv any) string {
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(block))
	}
	cases := []struct {
		name, recipient, identity, fingerprint string
	}{
		{"x25519", x.Recipient().String(), x.String() + "\n", "age1"},
		{"ssh-ed25519", sshLine(edPub), sshPEM(edPriv), "ssh-ed25519 SHA256:"},
		{"ssh-rsa", sshLine(&rsaKey.PublicKey), sshPEM(rsaKey), "ssh-rsa SHA256:"},
		{"post-quantum hybrid", pq.Recipient().String(), pq.String() + "\n", "age1pq1 SHA256:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := agecrypt.NewRecipients([]string{c.recipient}, "")
			if err != nil {
				t.Fatal(err)
			}
			fp := r.Fingerprints()[0]
			if !strings.HasPrefix(fp, c.fingerprint) || len(fp) > 100 {
				t.Fatalf("fingerprint %q", fp)
			}
			file := filepath.Join(dir, c.name+".key")
			testkit.WriteFile(t, file, c.identity, 0o600)
			ids, err := agecrypt.LoadIdentityFile(file)
			if err != nil {
				t.Fatal(err)
			}
			// The key names the recipient it decrypts for as records do
			// (store put of a file encrypted by hand records it).
			if got := agecrypt.Fingerprint(ids[0]); got != fp {
				t.Fatalf("the identity's fingerprint is %q, its recipient's %q", got, fp)
			}
			st := wrap(t, localStore(t, t.TempDir()), r)
			data, _ := encryptThrough(t, st)
			got, err := io.ReadAll(mustDecrypt(t, data, ids[0]))
			if err != nil || len(got) == 0 {
				t.Fatalf("decrypt: %v", err)
			}
		})
	}
}

// encryptThrough commits a small archive into st and returns its stored
// bytes.
func encryptThrough(t *testing.T, st *agecrypt.Store) ([]byte, string) {
	t.Helper()
	e := commitSmall(t, st)
	rc, _, err := st.Inner().Open(t.Context(), e)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, rc); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), e
}
