package source

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
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
// file readable by group or others is used but logged as a WARN (naming
// the file and its mode, never the token).
func loadTokenFile(file string, logger *slog.Logger) (Secret, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("reading token file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("reading token file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("token file %s is not a regular file", file)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		logger.Warn("token file is readable by group or others; chmod 600 it",
			"file", file, "mode", fmt.Sprintf("%#o", perm))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFileSize+1))
	if err != nil {
		return "", fmt.Errorf("reading token file %s: %w", file, err)
	}
	if len(data) > maxTokenFileSize {
		return "", fmt.Errorf("token file %s is larger than %d KiB: not a token file", file, maxTokenFileSize>>10)
	}
	value := strings.TrimSpace(string(data))
	if value == "" {
		return "", fmt.Errorf("token file %s is empty", file)
	}
	if err := checkTokenChars(value); err != nil {
		return "", fmt.Errorf("token file %s: %w", file, err)
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
