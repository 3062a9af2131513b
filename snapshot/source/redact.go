package source

import (
	"bytes"
	"errors"
)

// MinTokenFragment is the shortest run of a token's bytes that scrubbing
// removes wherever it appears in what a server sent: a server may echo the
// token whole, cut, or in pieces, and a run this long is the token's, not
// chance. Tokens shorter than this are removed whole.
const MinTokenFragment = 6

// minCutPrefix is the shortest token prefix removed at the very end of a
// text, where a read limit may have cut the token.
const minCutPrefix = 4

// scrubToken is the one place that makes bytes received from a server safe
// to quote in an error, a log line, a record or the status: every run of
// at least MinTokenFragment bytes of a secret of the request (its token;
// for a login, the role and secret IDs), wherever it appears, and a
// secret's prefix of at least minCutPrefix bytes at the very end, become
// "[redacted]". Run it on the raw bytes, before any cut, so that a cut
// cannot hide part of a secret from it.
func scrubToken(text []byte, secrets ...Secret) []byte {
	if len(text) == 0 {
		return text
	}
	var covered []bool
	for _, secret := range secrets {
		covered = markSecret(text, []byte(secret.Reveal()), covered)
	}
	if covered == nil {
		return text
	}
	out := make([]byte, 0, len(text))
	for i := 0; i < len(text); {
		if !covered[i] {
			out = append(out, text[i])
			i++
			continue
		}
		out = append(out, redacted...)
		for i < len(text) && covered[i] {
			i++
		}
	}
	return out
}

// markSecret marks in covered (allocated on the first find; nil while
// nothing was found) the bytes of text that belong to a run of t.
func markSecret(text, t []byte, covered []bool) []bool {
	if len(t) == 0 {
		return covered
	}
	mark := func(from, to int) {
		if covered == nil {
			covered = make([]bool, len(text))
		}
		for j := from; j < to; j++ {
			covered[j] = true
		}
	}
	n := min(MinTokenFragment, len(t))
	fragments := make(map[string]struct{}, len(t)-n+1)
	for i := 0; i+n <= len(t); i++ {
		fragments[string(t[i:i+n])] = struct{}{}
	}
	// Every n-byte window that is part of the secret marks its bytes; a
	// longer run of the secret is a chain of such windows.
	for i := 0; i+n <= len(text); i++ {
		if _, ok := fragments[string(text[i:i+n])]; ok {
			mark(i, i+n)
		}
	}
	for k := min(n-1, len(text)); k >= minCutPrefix; k-- {
		if bytes.HasSuffix(text, t[:k]) {
			mark(len(text)-k, len(text))
			break
		}
	}
	return covered
}

// quoteServer prepares bytes a server sent (a header value, the start of a
// page) for quoting: the secrets scrubbed, then one line of at most
// maxServerMessage bytes.
func quoteServer(b []byte, secrets ...Secret) string {
	return capText(string(scrubToken(b, secrets...)))
}

// redactedError is an error whose text went through scrubToken; it
// unwraps to the original, so errors.Is and errors.As still classify it.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactError scrubs secrets from err's text: in place for an *Error
// (whose Message is all of its text that a server could have shaped),
// by wrapping otherwise.
func redactError(err error, secrets ...Secret) error {
	if err == nil || !anySet(secrets) {
		return err
	}
	var e *Error
	if errors.As(err, &e) && e == err {
		e.Message = string(scrubToken([]byte(e.Message), secrets...))
		return err
	}
	msg := err.Error()
	if scrubbed := string(scrubToken([]byte(msg), secrets...)); scrubbed != msg {
		return &redactedError{msg: scrubbed, err: err}
	}
	return err
}

func anySet(secrets []Secret) bool {
	for _, s := range secrets {
		if s.IsSet() {
			return true
		}
	}
	return false
}

// Redact removes src's token, and any fragment of it, from err's text:
// for errors a caller builds from what src sent, such as the verification
// error of an archive src served (which quotes its first bytes). Errors
// returned by src's own methods are already redacted. Sources without a
// token return err as it is.
func Redact(src Source, err error) error {
	if s, ok := src.(interface{ token() Secret }); ok {
		return redactError(err, s.token())
	}
	return err
}

// Scrub returns text with every piece of token that scrubbing finds
// removed: for output of programs that were given the token (hooks).
func Scrub(text string, token Secret) string {
	if !token.IsSet() {
		return text
	}
	return string(scrubToken([]byte(text), token))
}
