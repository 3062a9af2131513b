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
// at least MinTokenFragment bytes of the request's token, wherever it
// appears, and a token prefix of at least minCutPrefix bytes at the very
// end, become "[redacted]". Run it on the raw bytes, before any cut, so
// that a cut cannot hide part of the token from it.
func scrubToken(text []byte, token Secret) []byte {
	t := []byte(token.Reveal())
	if len(t) == 0 || len(text) == 0 {
		return text
	}
	n := min(MinTokenFragment, len(t))
	fragments := make(map[string]struct{}, len(t)-n+1)
	for i := 0; i+n <= len(t); i++ {
		fragments[string(t[i:i+n])] = struct{}{}
	}
	// Every n-byte window that is part of the token marks its bytes; a
	// longer run of the token is a chain of such windows.
	covered := make([]bool, len(text))
	found := false
	for i := 0; i+n <= len(text); i++ {
		if _, ok := fragments[string(text[i:i+n])]; ok {
			for j := i; j < i+n; j++ {
				covered[j] = true
			}
			found = true
		}
	}
	for k := min(n-1, len(text)); k >= minCutPrefix; k-- {
		if bytes.HasSuffix(text, t[:k]) {
			for j := len(text) - k; j < len(text); j++ {
				covered[j] = true
			}
			found = true
			break
		}
	}
	if !found {
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

// quoteServer prepares bytes a server sent (a header value, the start of a
// page) for quoting: the token scrubbed, then one line of at most
// maxServerMessage bytes.
func quoteServer(b []byte, token Secret) string {
	return capText(string(scrubToken(b, token)))
}

// redactedError is an error whose text went through scrubToken; it
// unwraps to the original, so errors.Is and errors.As still classify it.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactError scrubs token from err's text: in place for an *Error
// (whose Message is all of its text that a server could have shaped),
// by wrapping otherwise.
func redactError(err error, token Secret) error {
	if err == nil || !token.IsSet() {
		return err
	}
	var e *Error
	if errors.As(err, &e) && e == err {
		e.Message = string(scrubToken([]byte(e.Message), token))
		return err
	}
	msg := err.Error()
	if scrubbed := string(scrubToken([]byte(msg), token)); scrubbed != msg {
		return &redactedError{msg: scrubbed, err: err}
	}
	return err
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
