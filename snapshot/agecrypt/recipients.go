package agecrypt

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

// Recipients are the public keys a store encrypts to, with their
// fingerprints as records show them.
type Recipients struct {
	list         []age.Recipient
	fingerprints []string
}

// Fingerprints name the recipients as records keep them (see Fingerprint).
func (r *Recipients) Fingerprints() []string { return append([]string(nil), r.fingerprints...) }

// Len is the number of recipients.
func (r *Recipients) Len() int { return len(r.list) }

// maxRecipientsFile bounds what is read of a recipients file: a list of
// public keys, a few KiB.
const maxRecipientsFile = 1 << 20

// RecipientError is a recipient that does not parse. Where says where it
// was given (a file and line, or "recipients[2]"); the message never
// quotes the line, which could be a private key pasted by mistake.
type RecipientError struct {
	Where string
	File  string // the recipients file, "" for an inline recipient
	Line  int    // 1-based line in File
	Err   error
}

func (e *RecipientError) Error() string { return e.Where + ": " + e.Err.Error() }
func (e *RecipientError) Unwrap() error { return e.Err }

// NewRecipients parses inline recipients and those of a recipients file
// (either may be empty, not both). A recipients file holds one public key
// per line, as the age CLI's -R takes it: blank lines and # comments are
// skipped.
func NewRecipients(inline []string, file string) (*Recipients, error) {
	r := &Recipients{}
	for i, s := range inline {
		rc, fp, err := ParseRecipient(s)
		if err != nil {
			return nil, &RecipientError{Where: fmt.Sprintf("recipients[%d]", i), Line: i + 1, Err: err}
		}
		r.add(rc, fp)
	}
	if file != "" {
		if err := r.readFile(file); err != nil {
			return nil, err
		}
	}
	if len(r.list) == 0 {
		return nil, errors.New("no recipients: give at least one public key (age1..., ssh-ed25519 ..., ssh-rsa ...)")
	}
	return r, nil
}

func (r *Recipients) add(rc age.Recipient, fp string) {
	for _, have := range r.fingerprints {
		if have == fp {
			return // the same key twice: one stanza is enough
		}
	}
	r.list, r.fingerprints = append(r.list, rc), append(r.fingerprints, fp)
}

func (r *Recipients) readFile(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("reading recipients file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxRecipientsFile)
	line, found := 0, 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		rc, fp, err := ParseRecipient(s)
		if err != nil {
			return &RecipientError{Where: fmt.Sprintf("%s:%d", file, line), File: file, Line: line, Err: err}
		}
		r.add(rc, fp)
		found++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading recipients file %s: %w", file, err)
	}
	if found == 0 {
		return &RecipientError{Where: file, File: file, Line: 1, Err: errors.New("holds no recipient (one public key per line)")}
	}
	return nil
}

// ParseRecipient reads one public key: age1... (X25519), age1pq1...
// (age's post-quantum hybrid), ssh-ed25519 or ssh-rsa (an authorized_keys
// line). fingerprint is how records name it: an age1 key itself (it is
// short and public), "age1pq1 SHA256:..." for a hybrid key (kilobytes
// long), "ssh-ed25519 SHA256:..." as ssh-keygen -l shows an SSH key.
func ParseRecipient(s string) (r age.Recipient, fingerprint string, err error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "AGE-SECRET-KEY-") || strings.Contains(s, "PRIVATE KEY"):
		// Never echo it: it is a secret in the wrong place.
		return nil, "", errors.New("this is a private key (an identity), not a recipient: give its public key (age-keygen -y, or the .pub file)")
	case strings.HasPrefix(s, "age1pq1"):
		rc, err := age.ParseHybridRecipient(s)
		if err != nil {
			return nil, "", fmt.Errorf("not a valid age post-quantum recipient: %v", err)
		}
		return rc, hybridFingerprint(s), nil
	case strings.HasPrefix(s, "age1"):
		rc, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, "", fmt.Errorf("not a valid age recipient: %v", err)
		}
		return rc, rc.String(), nil
	case strings.HasPrefix(s, "ssh-ed25519 ") || strings.HasPrefix(s, "ssh-rsa "):
		rc, err := agessh.ParseRecipient(s)
		if err != nil {
			return nil, "", fmt.Errorf("not a valid SSH public key: %v", err)
		}
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
		if err != nil {
			return nil, "", fmt.Errorf("not a valid SSH public key: %v", err)
		}
		return rc, sshFingerprint(pk), nil
	case strings.HasPrefix(s, "ssh-"), strings.HasPrefix(s, "ecdsa-"), strings.HasPrefix(s, "sk-"):
		return nil, "", errors.New("unsupported SSH key type: age encrypts to ssh-ed25519 and ssh-rsa keys only")
	}
	return nil, "", errors.New("not a recipient: want an age public key (age1...), ssh-ed25519 or ssh-rsa key")
}

// hybridFingerprint names a post-quantum recipient by its hash: the key
// itself is kilobytes long.
func hybridFingerprint(recipient string) string {
	sum := sha256.Sum256([]byte(recipient))
	return "age1pq1 SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// sshFingerprint names an SSH key as ssh-keygen -l does.
func sshFingerprint(pk ssh.PublicKey) string { return pk.Type() + " " + ssh.FingerprintSHA256(pk) }
