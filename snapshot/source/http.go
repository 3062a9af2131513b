package source

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/iotrack"
)

// DigestStatus says what became of the server's Digest header (Nomad and
// the raft handler send one).
type DigestStatus string

const (
	// DigestVerified: the SHA-256 in the Digest header matched the bytes
	// received.
	DigestVerified DigestStatus = "verified"
	// DigestAbsent: the server sent no sha-256 digest, so nothing was
	// checked beyond the transfer itself (older servers do this).
	DigestAbsent DigestStatus = "absent"
)

// defaultUserAgent is sent when Config.UserAgent is empty; raftsnap's own
// callers send "raftsnap/<version>".
const defaultUserAgent = "raftsnap"

// copyBufferSize keeps syscalls per GiB low without holding much memory.
const copyBufferSize = 256 << 10

// copyBuffers recycles the download buffers: a daemon saving snapshots
// often should not allocate 256 KiB for each.
var copyBuffers = sync.Pool{New: func() any { return new([copyBufferSize]byte) }}

type httpSource struct {
	kind   Kind
	spec   Spec
	cfg    Config
	addr   address
	client *http.Client
}

// New validates cfg and builds the Source for cfg.Kind. Every problem is a
// *ConfigError naming the field. A vault source with AppRole settings logs
// in at its first request and keeps the token for the next ones; it logs
// its logins and the problems of its files through slog.Default.
func New(cfg Config) (Source, error) {
	return newSource(cfg, nil, nil)
}

// NewWithLogger is New, logging AppRole logins, renewals and loose
// credential files through logger.
func NewWithLogger(cfg Config, logger *slog.Logger) (Source, error) {
	return newSource(cfg, nil, logger)
}

// newSource builds the Source; a vault source with AppRole settings uses
// login (a Deferred's, kept for its life), or a new one.
func newSource(cfg Config, login *appRole, logger *slog.Logger) (Source, error) {
	addr, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	if spec, _ := Lookup(cfg.Kind); spec.open != nil {
		return spec.open(cfg)
	}
	client, err := newHTTPClient(cfg, addr.socket)
	if err != nil {
		var cfgErr *ConfigError
		if errors.As(err, &cfgErr) {
			cfgErr.Kind = cfg.Kind
		}
		return nil, err
	}
	spec, _ := Lookup(cfg.Kind) // validate checked it
	s := &httpSource{kind: cfg.Kind, spec: spec, cfg: cfg, addr: addr, client: client}
	if !cfg.AppRole.IsSet() {
		return s, nil
	}
	if login == nil {
		login = newAppRole(cfg.AppRole, logger, nil)
	}
	return &loginSource{base: s, login: login}, nil
}

func validate(cfg Config) (address, error) {
	bad := func(field, reason string) error {
		return &ConfigError{Kind: cfg.Kind, Field: field, Reason: reason}
	}
	spec, err := lookupKind(cfg.Kind)
	if err != nil {
		return address{}, err
	}
	tlsSet := cfg.TLS.CAFile != "" || cfg.TLS.CertFile != "" || cfg.TLS.KeyFile != "" ||
		cfg.TLS.ServerName != "" || cfg.TLS.InsecureSkipVerify
	var addr address
	if spec.Directory {
		// Nothing of HTTP applies (connect_timeout is not checked: the
		// configuration fills its default for every source).
		httpOnly := "applies to " + allowedFor(func(s Spec) bool { return !s.Directory }) +
			"; " + string(cfg.Kind) + " reads files (path)"
		for _, f := range []struct {
			field string
			set   bool
		}{
			{"address", cfg.Address != ""}, {"token_file", cfg.TokenFile != ""}, {"token_env", cfg.TokenEnv != ""},
			{"token", cfg.Token.IsSet()}, {"tls", tlsSet}, {"max_size", cfg.MaxSize != 0},
		} {
			if f.set {
				return address{}, bad(f.field, httpOnly)
			}
		}
		if cfg.Path == "" {
			return address{}, bad("path", "is empty: give the server's raft directory or its data_dir")
		}
	} else {
		if cfg.Path != "" {
			return address{}, bad("path", "applies to "+allowedFor(func(s Spec) bool { return s.Directory })+"; give an address")
		}
		if addr, err = parseAddress(spec, cfg.Address); err != nil {
			return address{}, bad("address", err.Error())
		}
		if err := checkTokenChars(cfg.Token.Reveal()); err != nil {
			return address{}, bad("token", err.Error())
		}
		if tlsSet && addr.base.Scheme != "https" {
			return address{}, bad("tls", "TLS settings need an https:// address")
		}
		if cfg.ConnectTimeout < 0 {
			return address{}, bad("connect_timeout", "must not be negative")
		}
	}
	if cfg.Timeout < 0 {
		return address{}, bad("timeout", "must not be negative")
	}
	if cfg.Datacenter != "" && spec.DatacenterParam == "" {
		return address{}, bad("datacenter", "applies to "+allowedFor(func(s Spec) bool { return s.DatacenterParam != "" }))
	}
	if cfg.Region != "" && spec.RegionParam == "" {
		return address{}, bad("region", "applies to "+allowedFor(func(s Spec) bool { return s.RegionParam != "" }))
	}
	if cfg.Namespace != "" {
		if spec.NamespaceHeader == "" {
			return address{}, bad("namespace", "applies to "+allowedFor(func(s Spec) bool { return s.NamespaceHeader != "" }))
		}
		if err := checkTokenChars(cfg.Namespace); err != nil {
			return address{}, bad("namespace", strings.Replace(err.Error(), "token", "namespace", 1))
		}
	}
	if cfg.ForceRestore && spec.ForceRestorePath == "" {
		return address{}, bad("force_restore", "applies to "+allowedFor(func(s Spec) bool { return s.ForceRestorePath != "" }))
	}
	noStale := fmt.Sprintf("%s has no stale mode (%s)", cfg.Kind, spec.NoStaleReason)
	if cfg.Stale && spec.StaleQuery == "" {
		return address{}, bad("stale", noStale)
	}
	if cfg.StaleFallback && spec.StaleQuery == "" {
		return address{}, bad("stale_fallback", noStale)
	}
	if cfg.StaleFallback && cfg.Stale {
		return address{}, bad("stale_fallback", "has no effect when stale is set: every save is already stale")
	}
	if cfg.MaxSize < 0 {
		return address{}, bad("max_size", "must not be negative")
	}
	if err := validateAppRole(cfg, spec); err != nil {
		return address{}, err
	}
	return addr, nil
}

func (s *httpSource) Kind() Kind { return s.kind }

func (s *httpSource) String() string { return fmt.Sprintf("%s at %s", s.kind, s.addr) }

// Format prints String for every verb: %#v would otherwise dump the
// unexported config, token included, since fmt cannot call Secret's methods
// on unexported fields.
func (s *httpSource) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

func (s *httpSource) VerifyOptions() snapshot.VerifyOptions {
	return snapshot.VerifyOptions{RequireSealed: s.spec.RequireSealed}
}

// StaleFallback and SaveStale implement StaleFallbackSource.
func (s *httpSource) StaleFallback() bool { return s.cfg.StaleFallback }

func (s *httpSource) SaveStale(ctx context.Context, w io.Writer) (*SaveResult, error) {
	if s.spec.StaleQuery == "" {
		_, shown := s.endpoint(OpSave, false)
		return nil, &Error{Kind: s.kind, Op: OpSave, URL: shown, Message: "this source has no stale mode", permanent: true}
	}
	return s.save(ctx, w, true)
}

// endpoint builds the request URL, and how errors show it (they differ for
// a unix socket); neither holds a secret.
func (s *httpSource) endpoint(op string, stale bool) (requestURL, shown string) {
	u := *s.addr.base
	path := s.spec.Path
	if op == OpRestore && s.cfg.ForceRestore && s.spec.ForceRestorePath != "" {
		path = s.spec.ForceRestorePath
	}
	u.Path = s.addr.base.Path + path
	query := url.Values{}
	if s.spec.DatacenterParam != "" && s.cfg.Datacenter != "" {
		query.Set(s.spec.DatacenterParam, s.cfg.Datacenter)
	}
	if s.spec.RegionParam != "" && s.cfg.Region != "" {
		query.Set(s.spec.RegionParam, s.cfg.Region)
	}
	encoded := query.Encode()
	if op == OpSave && stale && s.spec.StaleQuery != "" {
		if encoded != "" {
			encoded += "&"
		}
		encoded += s.spec.StaleQuery
	}
	u.RawQuery = encoded
	return u.String(), s.addr.show(&u)
}

func (s *httpSource) newRequest(ctx context.Context, method, rawURL string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, err
	}
	userAgent := s.cfg.UserAgent
	if userAgent == "" {
		userAgent = defaultUserAgent
	}
	req.Header.Set("User-Agent", userAgent)
	if s.cfg.Token.IsSet() {
		req.Header.Set(s.spec.TokenHeader, s.cfg.Token.Reveal())
	}
	if s.spec.NamespaceHeader != "" && s.cfg.Namespace != "" {
		req.Header.Set(s.spec.NamespaceHeader, s.cfg.Namespace)
	}
	return req, nil
}

// Save streams the archive into w as it arrives. It checks the transfer
// (Content-Length, a body cut short, the Digest header where the server
// sends one); verifying the archive is the caller's job.
//
// A failure to write into w is returned wrapped as is (not as *Error) so the
// caller can tell its own disk errors (ENOSPC...) from the source's.
func (s *httpSource) Save(ctx context.Context, w io.Writer) (*SaveResult, error) {
	return s.save(ctx, w, s.cfg.Stale)
}

// token is what Redact scrubs from errors quoting this source's answers.
func (s *httpSource) token() Secret { return s.cfg.Token }

func (s *httpSource) save(ctx context.Context, w io.Writer, stale bool) (res *SaveResult, err error) {
	// Last line of defence: whatever the paths below quote (transport
	// errors, the writer's verification errors), nothing of the token
	// leaves this function.
	defer func() { err = redactError(err, s.cfg.Token) }()
	reqURL, rawURL := s.endpoint(OpSave, stale)
	fail := func(msg string, permanent bool, err error) *Error {
		return &Error{Kind: s.kind, Op: OpSave, URL: rawURL, Message: msg, Err: err, permanent: permanent}
	}
	req, err := s.newRequest(ctx, http.MethodGet, reqURL, nil)
	if err != nil {
		return nil, fail("building request: "+err.Error(), true, err)
	}
	req.Header.Set("Accept", "application/x-gzip, application/octet-stream")
	progress, _ := w.(Progress)
	if progress != nil {
		// Servers take a while to produce a snapshot before they answer:
		// tell the caller the connection is up and they are waiting.
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { progress.Sent() },
		}))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, transportError(s.kind, OpSave, rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e := statusError(s.kind, OpSave, rawURL, resp, s.cfg.Token)
		if !stale && s.spec.StaleQuery != "" && NeedsLeader(e) {
			how := s.cfg.StaleHint
			if how == "" {
				how = "Stale"
			}
			e.Hint = "ask the leader, or let any server answer with " + how + " (its snapshot may lag the leader's state)"
		}
		return nil, e
	}
	if progress != nil && resp.ContentLength > 0 {
		progress.Expect(resp.ContentLength)
	}

	if max := s.cfg.MaxSize; max > 0 && resp.ContentLength > max {
		return nil, fail(fmt.Sprintf("snapshot is %d bytes (Content-Length), over max_size %s; nothing was downloaded (raise max_size if it really is this big)",
			resp.ContentLength, formatBytes(max)), true, ErrTooLarge)
	}
	// A page type alone is not damning (some servers label everything
	// JSON); a page type on a body that does not start like gzip is.
	peeked := bufio.NewReaderSize(resp.Body, 512)
	if notArchiveType(resp.Header.Get("Content-Type")) {
		if magic, _ := peeked.Peek(2); !bytes.Equal(magic, []byte{0x1f, 0x8b}) {
			page, _ := io.ReadAll(io.LimitReader(peeked, maxServerMessage*4))
			return nil, fail(fmt.Sprintf("%s (200 with Content-Type %s): %s", ErrNotArchive,
				quoteServer([]byte(resp.Header.Get("Content-Type")), s.cfg.Token), serverMessage(scrubToken(page, s.cfg.Token))), true, ErrNotArchive)
		}
	}

	result := &SaveResult{Headers: map[string]string{}, Stale: stale}
	for _, name := range s.spec.RecordHeaders {
		if value := resp.Header.Get(name); value != "" {
			// Recorded in the sidecar and shown in status: scrubbed like
			// any other server text.
			result.Headers[name] = quoteServer([]byte(value), s.cfg.Token)
		}
	}
	var (
		wantDigest []byte
		hasher     hash.Hash
	)
	if s.spec.CheckDigest {
		wantDigest, err = parseSHA256Digest(resp.Header.Values("Digest"), s.cfg.Token)
		if err != nil {
			return nil, fail(err.Error(), true, err)
		}
		if wantDigest != nil {
			hasher = sha256.New()
		}
	}

	body := &iotrack.Reader{R: peeked}
	var src io.Reader = body
	if s.cfg.MaxSize > 0 {
		// One byte past the cap tells "exactly max" from "more".
		src = io.LimitReader(src, s.cfg.MaxSize+1)
	}
	if hasher != nil {
		src = io.TeeReader(src, hasher)
	}
	buf := copyBuffers.Get().(*[copyBufferSize]byte)
	n, err := io.CopyBuffer(onlyWriter{w}, src, buf[:])
	copyBuffers.Put(buf) // the writers have returned; none may keep it
	result.Bytes = n
	if max := s.cfg.MaxSize; max > 0 && n > max && err == nil {
		return nil, fail(fmt.Sprintf("snapshot passed max_size %s; download aborted after %d bytes (raise max_size if it really is this big)",
			formatBytes(max), n), true, ErrTooLarge)
	}
	if err != nil {
		if body.Err == nil || !errors.Is(err, body.Err) {
			return nil, fmt.Errorf("saving snapshot from %s: writing after %d bytes: %w", s, n, err)
		}
		return nil, s.cutShort(rawURL, n, resp.ContentLength, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return nil, s.cutShort(rawURL, n, resp.ContentLength, io.ErrUnexpectedEOF)
	}
	if s.spec.CheckDigest {
		if hasher == nil {
			result.Digest = DigestAbsent
		} else {
			got := hasher.Sum(nil)
			if subtle.ConstantTimeCompare(got, wantDigest) != 1 {
				return nil, fail(fmt.Sprintf("Digest header mismatch: server announced sha-256=%s, received %d bytes hashing to sha-256=%s",
					base64.StdEncoding.EncodeToString(wantDigest), n, base64.StdEncoding.EncodeToString(got)), false, nil)
			}
			result.Digest = DigestVerified
		}
	}
	return result, nil
}

// cutShort describes a body that stopped before its end.
func (s *httpSource) cutShort(rawURL string, got, want int64, err error) *Error {
	e := &Error{Kind: s.kind, Op: OpSave, URL: rawURL, Err: err}
	switch {
	case errors.Is(err, context.Canceled):
		e.Message = fmt.Sprintf("canceled after %d bytes", got)
		return e
	case want >= 0:
		e.Message = fmt.Sprintf("response body cut short after %d of %d bytes", got, want)
	default:
		e.Message = fmt.Sprintf("response body cut short after %d bytes", got)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		cause, _ := describeTransportError(err)
		e.Message += ": " + cause
	}
	return e
}

// Restore streams size bytes of archive to the server with Content-Length
// set. It never sends more than size bytes; an archive shorter than size is
// a permanent error.
func (s *httpSource) Restore(ctx context.Context, archive io.Reader, size int64) (err error) {
	defer func() { err = redactError(err, s.cfg.Token) }()
	reqURL, rawURL := s.endpoint(OpRestore, false)
	fail := func(msg string, permanent bool, err error) *Error {
		return &Error{Kind: s.kind, Op: OpRestore, URL: rawURL, Message: msg, Err: err, permanent: permanent}
	}
	if archive == nil {
		return fail("no archive to restore", true, nil)
	}
	if size <= 0 {
		return fail(fmt.Sprintf("archive size %d is not positive", size), true, nil)
	}
	// LimitReader also hides any Close method: the caller owns the archive.
	body := &iotrack.Reader{R: io.LimitReader(archive, size)}
	req, err := s.newRequest(ctx, s.spec.RestoreMethod, reqURL, body)
	if err != nil {
		return fail("building request: "+err.Error(), true, err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := s.client.Do(req)
	if err != nil {
		if body.EOF && body.N < size {
			return fail(fmt.Sprintf("archive ended after %d of %d bytes", body.N, size), true, err)
		}
		if body.Err != nil && !errors.Is(body.Err, io.EOF) {
			return fail(fmt.Sprintf("reading archive after %d bytes: %v", body.N, body.Err), true, body.Err)
		}
		return transportError(s.kind, OpRestore, rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError(s.kind, OpRestore, rawURL, resp, s.cfg.Token)
	}
	// Drain a little so the connection can be reused; the body is a short
	// acknowledgement at most.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return nil
}

// parseSHA256Digest picks the sha-256 value out of Digest headers (RFC 3230:
// comma-separated algorithm=base64 pairs). nil, nil means none was sent.
func parseSHA256Digest(values []string, token Secret) ([]byte, error) {
	for _, value := range values {
		for _, part := range strings.Split(value, ",") {
			algo, encoded, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(algo), "sha-256") {
				continue
			}
			sum, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
			if err != nil || len(sum) != sha256.Size {
				return nil, fmt.Errorf("server sent a malformed Digest header %q: want sha-256=<base64 of 32 bytes>", quoteServer([]byte(value), token))
			}
			return sum, nil
		}
	}
	return nil, nil
}

// onlyWriter hides ReadFrom so io.CopyBuffer uses our buffer and every read
// goes through the tracking reader.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

// formatBytes writes n in the largest binary unit dividing it exactly, as
// max_size is usually written ("10GiB"), else in bytes.
func formatBytes(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// notArchiveType reports whether a Content-Type names a page rather than
// binary data. Servers send archives as application/x-gzip,
// application/octet-stream or without a type; proxies and login pages
// answer text/html or JSON.
func notArchiveType(contentType string) bool {
	if contentType == "" {
		return false
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mediaType, "text/") || mediaType == "application/json" ||
		strings.HasSuffix(mediaType, "+json") || strings.HasSuffix(mediaType, "+xml") || mediaType == "application/xml"
}
