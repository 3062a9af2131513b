package source

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"

	"github.com/raftsnap/raftsnap/snapshot/smallfile"
)

const redacted = "[redacted]"

// maxTokenFileSize bounds what LoadToken reads: tokens are tens of bytes, so
// anything larger is the wrong file, not a token.
const maxTokenFileSize = 64 << 10

// Reveal returns the token itself, for the one place that needs it: the
// request header.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether a token is present, without revealing it.
func (s Secret) IsSet() bool { return s != "" }

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v).
func (s Secret) GoString() string { return `"` + redacted + `"` }

// Format implements fmt.Formatter so that every verb (%s, %v, %q, %x, %d...)
// prints the placeholder instead of the bytes of the token.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'q', verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, `"`+redacted+`"`)
	default:
		_, _ = io.WriteString(f, redacted)
	}
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (also used by yaml.v3).
// encoding/json writes string-kinded map keys verbatim without asking, so
// never use a Secret as a map key.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// tokenFromEnv reads a token from the variable name; unset or blank is no
// token.
func tokenFromEnv(name string, lookupEnv func(string) (string, bool)) (Secret, error) {
	raw, _ := lookupEnv(name)
	value := strings.TrimSpace(raw)
	if value == "" {
		return "", nil
	}
	if err := checkTokenChars(value); err != nil {
		return "", fmt.Errorf("token from environment variable %s: %w", name, err)
	}
	return Secret(value), nil
}

// loadTokenFile reads a token file: its content with surrounding whitespace
// trimmed. A missing, unreadable, empty or multi-line file is an error. A
// file others could read or change (see TokenFileProblem) is used but
// logged as a WARN (naming the file and its mode, never the token).
func loadTokenFile(file string, logger *slog.Logger) (Secret, error) {
	return loadCredentialFile(file, "token file", "token", logger)
}

// loadCredentialFile reads a file holding one credential (a token, an
// AppRole role or secret ID) under the token-file rules of loadTokenFile.
// what names the file in messages ("token file", "approle.secret_id_file"),
// noun what it holds ("token", "secret ID").
func loadCredentialFile(file, what, noun string, logger *slog.Logger) (Secret, error) {
	spec := smallfile.Spec{What: what, Kind: "a " + noun + " file", Max: maxTokenFileSize}
	spec.Check = func(info os.FileInfo) error {
		if problem := TokenFileProblem(info); problem != "" {
			logger.Warn(what+": "+problem, "file", file)
		}
		return nil
	}
	data, err := spec.Read(file)
	if err != nil {
		return "", err
	}
	value := strings.TrimSpace(string(data))
	if value == "" {
		return "", fmt.Errorf("%s %s is empty", what, file)
	}
	if err := checkTokenChars(value); err != nil {
		return "", fmt.Errorf("%s %s: %s", what, file, strings.Replace(err.Error(), "token", noun, 1))
	}
	return Secret(value), nil
}

// checkTokenChars rejects values that cannot be sent as an HTTP header; the
// error never quotes the value.
func checkTokenChars(value string) error {
	for _, r := range value {
		if r == '\n' || r == '\r' {
			return errors.New("token spans more than one line")
		}
		if r < 0x20 || r == 0x7f {
			return errors.New("token contains control characters")
		}
	}
	return nil
}

// TokenFileProblem says what is unsafe about a token file, or "". The rule,
// which configcheck and the daemon both apply and docs/security.md states:
// a token file is mode 0600, or 0640 with a group this process is in, and
// is owned by root or by this process's user. Anything else lets another
// user read the token, or replace it with one of theirs.
func TokenFileProblem(info os.FileInfo) string {
	perm := info.Mode().Perm()
	st, _ := info.Sys().(*syscall.Stat_t)
	switch {
	case perm&0o007 != 0:
		return fmt.Sprintf("mode %04o lets every user on this host at it: chmod 600 it (or 640 with the daemon's group)", perm)
	case perm&0o020 != 0:
		return fmt.Sprintf("mode %04o lets its group change it: chmod 600 it (or 640 with the daemon's group)", perm)
	case st == nil:
		return ""
	case st.Uid != 0 && int(st.Uid) != os.Geteuid():
		return fmt.Sprintf("it is owned by uid %d, neither root nor this process's user (uid %d), who could replace the token: chown it", st.Uid, os.Geteuid())
	case perm&0o040 != 0 && !inGroup(int(st.Gid)):
		return fmt.Sprintf("mode %04o lets group %d read it, a group this process is not in: chmod 600 it, or chgrp it to the daemon's group", perm, st.Gid)
	}
	return ""
}

func inGroup(gid int) bool {
	if gid == os.Getegid() {
		return true
	}
	groups, _ := os.Getgroups()
	for _, g := range groups {
		if g == gid {
			return true
		}
	}
	return false
}
