package source

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// Operations named in Error.Op.
const (
	OpSave    = "save"
	OpRestore = "restore"
	// OpLogin and OpRenew are a vault source's AppRole login and the
	// renewal of the token it returned.
	OpLogin = "login"
	OpRenew = "renew"
)

// maxServerMessage caps the server's error text kept in an Error: enough for
// any real message, too little for a page of HTML to flood a log.
const maxServerMessage = 512

// Error is a failed save or restore. Its message has one of these shapes:
//
//	403 from consul at https://127.0.0.1:8501/v1/snapshot: Permission denied
//	consul at http://127.0.0.1:8500/v1/snapshot: connection refused
//	consul at http://127.0.0.1:8500/v1/snapshot: response body cut short after 12345 of 67890 bytes
//
// URL never carries a token or userinfo (New rejects userinfo, tokens travel
// only in headers).
type Error struct {
	Kind Kind
	Op   string // OpSave, OpRestore, OpLogin or OpRenew
	URL  string
	// StatusCode is the HTTP status, 0 when no response arrived or the
	// failure came after a 200 (a cut body, a digest mismatch).
	StatusCode int
	// Message is the server's message (trimmed, at most 512 bytes) for HTTP
	// errors, or what went wrong on the wire.
	Message string
	// RetryAfter is the server's Retry-After, 0 when it sent none.
	RetryAfter time.Duration
	// Err is the underlying error, if any (for errors.Is/As).
	Err error
	// Hint, when set, says what the user can do about it (raftsnap's
	// words, not the server's).
	Hint string

	permanent bool
}

func (e *Error) Error() string {
	if e.StatusCode != 0 {
		msg := e.Message
		if msg == "" {
			msg = http.StatusText(e.StatusCode)
		}
		if e.Hint != "" {
			msg += "; " + e.Hint
		}
		return fmt.Sprintf("%d from %s at %s: %s", e.StatusCode, e.Kind, e.URL, msg)
	}
	return fmt.Sprintf("%s at %s: %s", e.Kind, e.URL, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether retrying the same request cannot help: 400, 401,
// 403, 404 and other 4xx (except 408 and 429), redirects, TLS certificate and
// protocol failures. Server errors (5xx), 408, 429, connection failures,
// timeouts and bodies cut short are transient.
func (e *Error) Permanent() bool { return e.permanent }

// ErrTooLarge is wrapped by the Error of a save whose snapshot is bigger
// than Config.MaxSize.
var ErrTooLarge = errors.New("snapshot larger than the configured max_size")

// ErrNotArchive is wrapped by the Error of a save answered 200 with a body
// that is plainly not a snapshot archive (an HTML or JSON page: a proxy's
// login or error page, a wrong address).
var ErrNotArchive = errors.New("the server answered with a page, not a snapshot archive")

// noLeaderPhrases are how the servers say they know no leader: Consul and
// Nomad answer 500 "No cluster leader"; the raft handler answers 503 "no
// leader is known" or "cannot confirm leadership".
var noLeaderPhrases = []string{"no cluster leader", "no leader is known", "cannot confirm leadership", "leadership lost"}

// IsNoLeader reports whether err is a server error saying the cluster has
// no leader (lost quorum, or an election in progress), the case where a
// stale save from a follower can still succeed.
func IsNoLeader(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.StatusCode < 500 {
		return false
	}
	msg := strings.ToLower(e.Message)
	for _, phrase := range noLeaderPhrases {
		if strings.Contains(msg, phrase) {
			return true
		}
	}
	return false
}

// notLeaderPhrase is how the raft handler says the node asked is not the
// leader (503); Consul and Nomad forward to their leader instead.
const notLeaderPhrase = "not the leader"

// NeedsLeader reports whether err is a server saying it is not the leader,
// or that the cluster has none: the answers to a consistent save that a
// stale one (any server answering) gets past.
func NeedsLeader(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.StatusCode < 500 {
		return false
	}
	return IsNoLeader(err) || strings.Contains(strings.ToLower(e.Message), notLeaderPhrase)
}

// ConfigError is an invalid Config given to New. It is always permanent.
type ConfigError struct {
	Kind Kind
	// Field is the setting's key in a configuration file's source block
	// (Config's yaml tag), e.g. "address" or "tls.ca_file".
	Field string
	// Reason says what is wrong; it never quotes a token.
	Reason string
	Err    error
}

func (e *ConfigError) Error() string {
	kind := string(e.Kind)
	if kind == "" {
		kind = "source"
	}
	return fmt.Sprintf("invalid %s source configuration: %s: %s", kind, e.Field, e.Reason)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// Permanent is always true: a configuration does not fix itself.
func (e *ConfigError) Permanent() bool { return true }

// SettingsError is a source whose settings cannot be read now: its token
// file is missing, the variable its token_env names is not set, a TLS file
// named by the environment is not there. Unlike a ConfigError it may pass
// (someone deploys the file), but retrying a run will not make it pass.
type SettingsError struct{ Err error }

func (e *SettingsError) Error() string { return e.Err.Error() }
func (e *SettingsError) Unwrap() error { return e.Err }

// Permanent is true: the run cannot succeed before someone acts.
func (e *SettingsError) Permanent() bool { return true }

// statusError builds the Error for a non-2xx response, reading at most
// maxServerMessage bytes of its body, scrubbed of the request's secrets.
func statusError(kind Kind, op, rawURL string, resp *http.Response, secrets ...Secret) *Error {
	e := &Error{Kind: kind, Op: op, URL: rawURL, StatusCode: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxServerMessage*4))
	e.Message = serverMessage(scrubToken(body, secrets...))
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		// Redirects are not followed: the token would go to another host.
		if loc := resp.Header.Get("Location"); loc != "" {
			e.Message = strings.TrimSpace(e.Message + " (redirected to " + quoteServer([]byte(loc), secrets...) + "; point the source at that address instead)")
		}
	}
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
		e.permanent = false
	case resp.StatusCode >= 500:
		e.permanent = false
	default:
		e.permanent = true
	}
	return e
}

// serverMessage turns an error body into one line: Vault's JSON
// {"errors":[...]} is joined, anything else is trimmed, whitespace-collapsed
// and capped.
func serverMessage(body []byte) string {
	var vaultErr struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(body, &vaultErr) == nil && len(vaultErr.Errors) > 0 {
		return capText(strings.Join(vaultErr.Errors, "; "))
	}
	return capText(string(body))
}

func capText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= maxServerMessage {
		return s
	}
	cut := maxServerMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// parseRetryAfter reads delay-seconds or an HTTP date; junk yields 0.
func parseRetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(value, 10, 64); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if when, err := http.ParseTime(value); err == nil {
		if d := when.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// transportError builds the Error for a request that got no response.
func transportError(kind Kind, op, rawURL string, err error) *Error {
	msg, permanent := describeTransportError(err)
	return &Error{Kind: kind, Op: op, URL: rawURL, Message: msg, Err: err, permanent: permanent}
}

// describeTransportError names what went wrong in words an operator knows,
// and whether trying again can help.
func describeTransportError(err error) (string, bool) {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		// url.Error repeats the method and URL, which Error already shows.
		err = urlErr.Err
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostnameErr      x509.HostnameError
		invalidCert      x509.CertificateInvalidError
		verifyErr        *tls.CertificateVerificationError
		recordHeaderErr  tls.RecordHeaderError
		alertErr         tls.AlertError
	)
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled", false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timed out: " + err.Error(), false
	case errors.As(err, &unknownAuthority), errors.As(err, &hostnameErr), errors.As(err, &invalidCert),
		errors.As(err, &verifyErr):
		return "TLS certificate not trusted: " + err.Error() + " (check tls.ca_file and tls.server_name)", true
	case errors.As(err, &recordHeaderErr):
		return "TLS handshake failed: the server does not speak TLS (use an http:// address?)", true
	case errors.As(err, &alertErr), isRemoteTLSAlert(err):
		return "TLS handshake rejected by the server: " + err.Error() + " (client certificate missing or not accepted?)", true
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", false
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer", false
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "the server speaks plain HTTP, not HTTPS (use an http:// address?)", true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return "timed out: " + err.Error(), false
	}
	return err.Error(), false
}

// isRemoteTLSAlert spots alerts the peer sent ("remote error: tls: bad
// certificate"), which crypto/tls returns as an unexported type.
func isRemoteTLSAlert(err error) bool {
	return strings.Contains(err.Error(), "remote error: tls:")
}
