package agecrypt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"

	"github.com/raftsnap/raftsnap/snapshot/smallfile"
	"github.com/raftsnap/raftsnap/snapshot/source"
)

// maxIdentityFile bounds what is read of an identity file: a few keys.
const maxIdentityFile = 1 << 20

// LoadIdentityFile reads the private keys that decrypt snapshots: an age
// identity file (age-keygen's output: AGE-SECRET-KEY-1... lines, #
// comments) or an unencrypted OpenSSH private key (ed25519 or RSA). The
// file must be safe as a token file is (source.TokenFileProblem: mode
// 0600, or 0640 with our group, owned by root or us); unlike a token file,
// an unsafe one is refused, not warned about: a leaked identity opens every
// snapshot ever taken. Errors name the file, never its content.
func LoadIdentityFile(path string) ([]age.Identity, error) {
	file := smallfile.Spec{What: "identity file", Kind: "an identity file", Max: maxIdentityFile}
	file.Check = func(info os.FileInfo) error {
		if problem := source.TokenFileProblem(info); problem != "" {
			return fmt.Errorf("identity file %s: %s", path, problem)
		}
		return nil
	}
	data, err := file.Read(path)
	if err != nil {
		return nil, err
	}
	ids, err := ParseIdentities(data)
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w", path, err)
	}
	return ids, nil
}

// ParseIdentities reads identities as LoadIdentityFile does, from memory.
// Errors never quote the data.
func ParseIdentities(data []byte) ([]age.Identity, error) {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		id, err := agessh.ParseIdentity(data)
		var missing *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &missing):
			return nil, errors.New("the SSH private key is protected by a passphrase, which raftsnap cannot ask for: give an age identity (age-keygen) instead, or a copy of the key without passphrase")
		case err != nil:
			return nil, fmt.Errorf("not a usable SSH private key (ed25519 or RSA): %s", scrubErr(err))
		}
		// The key's public half names it in records (Fingerprint).
		signer, err := ssh.ParsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("not a usable SSH private key (ed25519 or RSA): %s", scrubErr(err))
		}
		return []age.Identity{&sshIdentity{Identity: id, fingerprint: sshFingerprint(signer.PublicKey())}}, nil
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("not an age identity file (AGE-SECRET-KEY-1... lines, from age-keygen): %s", scrubErr(err))
	}
	return ids, nil
}

// scrubErr is err's message cut at its first colon: age's parse errors
// may quote the line they failed on, which is a secret.
func scrubErr(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ":"); i > 0 {
		msg = msg[:i]
	}
	return msg
}

// sshIdentity is an SSH private key with the fingerprint of its public
// key, which agessh's identities do not expose.
type sshIdentity struct {
	age.Identity
	fingerprint string
}

// Fingerprint names the recipient that id decrypts for, as records name
// recipients (ParseRecipient): "" for a kind of identity it cannot tell.
func Fingerprint(id age.Identity) string {
	switch id := id.(type) {
	case *age.X25519Identity:
		return id.Recipient().String()
	case *age.HybridIdentity:
		return hybridFingerprint(id.Recipient().String())
	case *sshIdentity:
		return id.fingerprint
	case *usedIdentity:
		return Fingerprint(id.Identity)
	}
	return ""
}

// usedIdentity records whether its identity opened a file: age headers do
// not say whom a file is for, but the key that opened it is one of them.
type usedIdentity struct {
	age.Identity
	used bool
}

func (u *usedIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	key, err := u.Identity.Unwrap(stanzas)
	u.used = u.used || err == nil
	return key, err
}
