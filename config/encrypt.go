package config

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/raftsnap/raftsnap/snapshot/agecrypt"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// Encrypt is a store's encrypt block: the public keys (age recipients) its
// snapshots are encrypted to, inline or in a file (one per line, as
// `age -R` takes it). Only public keys: the identity that decrypts lives
// where restores run (identity_file), not on the agent.
type Encrypt struct {
	Recipients     []string `yaml:"recipients"`
	RecipientsFile string   `yaml:"recipients_file"`

	// loaded are the fingerprints of the recipients read at load: a
	// reload compares configurations, and a recipients file whose content
	// changed under the same path must count as a change (the jobs are
	// then rebuilt with the new keys).
	loaded []string
}

// EncryptRecipients parses the store's recipients; nil when the store is
// not encrypted.
func (s *Store) EncryptRecipients() (*agecrypt.Recipients, error) {
	if s.Encrypt == nil {
		return nil, nil
	}
	return agecrypt.NewRecipients(s.Encrypt.Recipients, s.Encrypt.RecipientsFile)
}

// validateEncrypt checks a store's encrypt block at path: recipients given
// and each a public key; a recipients file read now, a bad line reported
// as FILE:LINE at recipients_file.
func (v *validator) validateEncrypt(path string, st *Store) {
	if !v.checkable(path) || !v.isSet(path) {
		return
	}
	e := st.Encrypt
	if e == nil || len(e.Recipients) == 0 && e.RecipientsFile == "" {
		v.errorf(path, "give the public keys to encrypt to: recipients: [age1..., \"ssh-ed25519 AAAA...\"] and/or recipients_file: /etc/raftsnap/recipients.txt")
		return
	}
	filePath := path + ".recipients_file"
	if e.RecipientsFile != "" && !filepath.IsAbs(e.RecipientsFile) {
		v.errorf(filePath, "must be an absolute path, got %s", quote(e.RecipientsFile))
		return
	}
	r, err := agecrypt.NewRecipients(e.Recipients, e.RecipientsFile)
	var bad *agecrypt.RecipientError
	switch {
	case err == nil:
		e.loaded = r.Fingerprints()
	case errors.As(err, &bad) && bad.File == "":
		v.errorf(fmt.Sprintf("%s.recipients[%d]", path, bad.Line-1), "%v", bad.Err)
	case e.RecipientsFile != "":
		v.errorf(filePath, "%v", err)
	default:
		v.errorf(path+".recipients", "%v", err)
	}
}

// validateIdentityFile checks a restore or drill job's identity_file at p
// under the token-file rules (credentialFile): the file is read only when
// the job runs, where it is refused if others could read it.
func (v *validator) validateIdentityFile(p, file string) {
	if file == "" || !v.checkable(p) {
		return
	}
	v.credentialFile(p, file)
}

// EncryptedStore is st as it is used through the store block cs: wrapped
// to encrypt its writes when encrypt is set and cs has an encrypt block,
// and to decrypt its reads with the identities read from identityFile at
// each open of an encrypted snapshot (never here: a restore or drill job
// reads its identity_file only when it runs). Without either, st itself:
// listing, pruning and scrubbing an encrypted store need no key. The
// daemon and the store commands both wrap their stores with it.
func EncryptedStore(cs *Store, st store.Store, encrypt bool, identityFile string) (store.Store, error) {
	if cs == nil || (!encrypt || cs.Encrypt == nil) && identityFile == "" {
		return st, nil
	}
	var recipients *agecrypt.Recipients
	if encrypt {
		var err error
		if recipients, err = cs.EncryptRecipients(); err != nil {
			return nil, fmt.Errorf("store %s: encrypt: %w", cs.Label(), err)
		}
	}
	return agecrypt.WrapIdentityFile(st, recipients, identityFile)
}
