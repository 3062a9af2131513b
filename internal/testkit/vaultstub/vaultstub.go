// Package vaultstub is a loopback stand-in for HashiCorp Vault, for the
// tests of the vault source: no real Vault builds from the module proxy
// (see DESIGN.md), so the tests talk to this server instead. It speaks the
// parts of Vault's documented HTTP API that raftsnap uses:
//
//   - the raft snapshot API: GET /v1/sys/storage/raft/snapshot (streamed
//     without Content-Length), POST .../snapshot and .../snapshot-force
//     (verified as a sealed archive, answered 204);
//   - AppRole login: POST /v1/auth/<mount>/login with {"role_id",
//     "secret_id"}, answered with auth.client_token, auth.lease_duration
//     (seconds) and auth.renewable; a wrong role or secret ID is 400
//     "invalid role or secret ID", an unknown mount 404;
//   - token renewal: POST /v1/auth/token/renew-self with X-Vault-Token,
//     extending the token by the role's TTL up to its max TTL (with Vault's
//     warning when capped); a non-renewable token is 400 "lease is not
//     renewable", an unknown or expired one 403 "permission denied";
//   - GET /v1/sys/leader (unauthenticated): is_self and leader_address, as
//     SetLeader says (the stub leads itself until told otherwise);
//   - X-Vault-Token and X-Vault-Namespace on every request, and JSON
//     {"errors": [...]} bodies.
//
// It is not Vault: it has no policies, no storage, no barrier. It keeps
// count of what it was asked, so that tests can check that an expired
// token was never sent and how often raftsnap logged in.
package vaultstub

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/snapshot"
)

// Role is an AppRole enabled at Mount.
type Role struct {
	Mount  string
	RoleID string
	// SecretIDs are the secret IDs the role accepts now (rotate them with
	// Server.UpdateRole).
	SecretIDs []string
	// TTL and MaxTTL are the role's token_ttl and token_max_ttl; a TTL of
	// 0 issues tokens that never expire (lease_duration 0). A MaxTTL of 0
	// does not cap renewals.
	TTL, MaxTTL time.Duration
	// NotRenewable issues tokens answered with renewable: false (batch
	// tokens, or a role whose tokens may not be renewed).
	NotRenewable bool
	// RefuseRenewal makes renew-self answer 403 permission denied (a
	// policy without auth/token/renew-self).
	RefuseRenewal bool
	// LoginStatus, when set, answers every login with this status and
	// LoginMessage (a CIDR-bound role answers 403, a sealed Vault 503).
	LoginStatus  int
	LoginMessage string
	// EchoCredentials makes a refused login quote the role and secret ID
	// it received in its error, as no real Vault does: raftsnap must
	// scrub them.
	EchoCredentials bool
}

// Options configures a Server.
type Options struct {
	// Token is a static token accepted for the snapshot API (a root
	// token); empty: only tokens issued by logins are.
	Token string
	// Namespace, when set, must come as X-Vault-Namespace with every
	// request, logins included.
	Namespace string
	// Now is the server's clock (nil: time.Now), to expire tokens in tests
	// that move a fake clock.
	Now func() time.Time
}

// Counts is what the server was asked.
type Counts struct {
	Logins, FailedLogins int
	Renewals, Refused    int // renew-self answered 200; answered otherwise
	Saves, Restores      int // snapshot requests that were served
	// ExpiredUses counts requests that carried an issued token after its
	// end: raftsnap must never send one.
	ExpiredUses int
	// Denied counts snapshot requests refused for their token.
	Denied int
}

// Server is a running stand-in.
type Server struct {
	URL string

	t    testing.TB
	opts Options
	now  func() time.Time

	mu       sync.Mutex
	roles    map[string]*Role // by mount
	tokens   map[string]*issued
	archive  []byte
	restored []string
	counts   Counts
	// follower and leaderAddress are what sys/leader answers.
	follower      bool
	leaderAddress string
}

type issued struct {
	mount     string
	expires   time.Time // zero: never
	maxEnd    time.Time // zero: no cap
	renewable bool
	revoked   bool
}

// Start starts a stand-in on 127.0.0.1, closed when the test ends. It
// serves a small sealed archive until SetArchive or a restore replaces it.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{t: t, opts: opts, now: opts.Now, roles: map[string]*Role{}, tokens: map[string]*issued{}}
	if s.now == nil {
		s.now = time.Now
	}
	s.archive = Archive(t, raft.SnapshotMeta{ID: "2-10-1700000000000", Index: 10, Term: 2, Version: 1}, []byte("vault state v1"))
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// AddRole enables r at r.Mount.
func (s *Server) AddRole(r Role) {
	s.mu.Lock()
	defer s.mu.Unlock()
	copied := r
	copied.SecretIDs = append([]string(nil), r.SecretIDs...)
	s.roles[r.Mount] = &copied
}

// UpdateRole changes the role at mount (rotate its secret IDs, change
// its TTLs or failure modes).
func (s *Server) UpdateRole(mount string, change func(*Role)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.roles[mount]
	if !ok {
		s.t.Fatalf("vaultstub: no role at %s", mount)
	}
	change(r)
}

// RevokeAll revokes every token issued so far, as `vault token revoke`
// or a lost server would.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tok := range s.tokens {
		tok.revoked = true
	}
}

// Tokens lists every token issued, for tests that check none leaked.
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for tok := range s.tokens {
		out = append(out, tok)
	}
	return out
}

// Counts returns what the server was asked so far.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// Restored lists the paths that accepted a restore, in order.
func (s *Server) Restored() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.restored...)
}

// SetArchive replaces the archive the server serves.
func (s *Server) SetArchive(archive []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.archive = archive
}

// CurrentArchive is the archive the server serves (the last one restored).
func (s *Server) CurrentArchive() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.archive
}

func vaultError(w http.ResponseWriter, status int, msgs ...string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string][]string{"errors": msgs})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ua := r.Header.Get("User-Agent"); ua != "raftsnap" && !strings.HasPrefix(ua, "raftsnap/") {
		vaultError(w, http.StatusBadRequest, "unexpected User-Agent "+ua)
		return
	}
	if s.opts.Namespace != "" && r.Header.Get("X-Vault-Namespace") != s.opts.Namespace {
		vaultError(w, http.StatusForbidden, "permission denied")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && path == "/v1/auth/token/renew-self":
		s.renewSelf(w, r)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/v1/auth/") && strings.HasSuffix(path, "/login"):
		s.login(w, r, strings.TrimSuffix(strings.TrimPrefix(path, "/v1/auth/"), "/login"))
	case r.Method == http.MethodGet && path == "/v1/sys/leader":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"ha_enabled": true, "is_self": !s.follower, "leader_address": s.leaderAddress})
	case path == "/v1/sys/storage/raft/snapshot" || path == "/v1/sys/storage/raft/snapshot-force":
		if !s.authorized(r.Header.Get("X-Vault-Token")) {
			s.counts.Denied++
			vaultError(w, http.StatusForbidden, "permission denied")
			return
		}
		s.snapshot(w, r)
	default:
		vaultError(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", strings.TrimPrefix(path, "/v1/")))
	}
}

// SetLeader sets what sys/leader answers: whether this node leads, and the
// leader's address.
func (s *Server) SetLeader(isSelf bool, address string) {
	s.mu.Lock()
	s.follower, s.leaderAddress = !isSelf, address
	s.mu.Unlock()
}

// authorized checks a token for the snapshot API; s.mu is held.
func (s *Server) authorized(token string) bool {
	if token == "" {
		return false
	}
	if s.opts.Token != "" && token == s.opts.Token {
		return true
	}
	tok, ok := s.tokens[token]
	if !ok || tok.revoked {
		return false
	}
	if !tok.expires.IsZero() && !s.now().Before(tok.expires) {
		s.counts.ExpiredUses++
		return false
	}
	return true
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, mount string) {
	role, ok := s.roles[mount]
	if !ok {
		vaultError(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", "auth/"+mount+"/login"))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		vaultError(w, http.StatusBadRequest, "unexpected Content-Type "+ct)
		return
	}
	var creds struct {
		RoleID   string `json:"role_id"`
		SecretID string `json:"secret_id"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&creds); err != nil {
		vaultError(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	if role.LoginStatus != 0 {
		s.counts.FailedLogins++
		vaultError(w, role.LoginStatus, role.LoginMessage)
		return
	}
	switch {
	case creds.RoleID == "":
		s.counts.FailedLogins++
		vaultError(w, http.StatusBadRequest, "missing role_id")
		return
	case creds.RoleID != role.RoleID || !contains(role.SecretIDs, creds.SecretID):
		s.counts.FailedLogins++
		msg := "invalid role or secret ID"
		if role.EchoCredentials {
			msg += fmt.Sprintf(" (got role_id=%s secret_id=%s)", creds.RoleID, creds.SecretID)
		}
		vaultError(w, http.StatusBadRequest, msg)
		return
	}
	s.counts.Logins++
	now := s.now()
	token := "hvs." + randomHex(s.t, 12)
	tok := &issued{mount: mount, renewable: !role.NotRenewable}
	if role.TTL > 0 {
		tok.expires = now.Add(role.TTL)
		if role.MaxTTL > 0 {
			tok.maxEnd = now.Add(role.MaxTTL)
		}
	}
	s.tokens[token] = tok
	writeAuth(w, token, role.TTL, tok.renewable && role.TTL > 0, nil)
}

func (s *Server) renewSelf(w http.ResponseWriter, r *http.Request) {
	token := r.Header.Get("X-Vault-Token")
	tok, ok := s.tokens[token]
	now := s.now()
	switch {
	case !ok || tok.revoked:
		s.counts.Refused++
		vaultError(w, http.StatusForbidden, "permission denied")
		return
	case !tok.expires.IsZero() && !now.Before(tok.expires):
		s.counts.ExpiredUses++
		s.counts.Refused++
		vaultError(w, http.StatusForbidden, "permission denied")
		return
	}
	role := s.roles[tok.mount]
	switch {
	case role.RefuseRenewal:
		s.counts.Refused++
		vaultError(w, http.StatusForbidden, "permission denied")
		return
	case !tok.renewable || tok.expires.IsZero():
		s.counts.Refused++
		vaultError(w, http.StatusBadRequest, "lease is not renewable")
		return
	}
	s.counts.Renewals++
	end := now.Add(role.TTL)
	var warnings []string
	if !tok.maxEnd.IsZero() && end.After(tok.maxEnd) {
		end = tok.maxEnd
		warnings = append(warnings, "TTL of \""+role.TTL.String()+"\" exceeded the effective max_ttl of \""+
			tok.maxEnd.Sub(now).Truncate(time.Second).String()+"\"; TTL value is capped accordingly")
	}
	tok.expires = end
	writeAuth(w, token, end.Sub(now), true, warnings)
}

func writeAuth(w http.ResponseWriter, token string, lease time.Duration, renewable bool, warnings []string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"request_id":     "00000000-0000-0000-0000-000000000000",
		"lease_id":       "",
		"renewable":      false,
		"lease_duration": 0,
		"data":           nil,
		"warnings":       warnings,
		"auth": map[string]any{
			"client_token":   token,
			"accessor":       "stub-accessor",
			"policies":       []string{"default", "raftsnap"},
			"token_policies": []string{"default", "raftsnap"},
			"metadata":       map[string]string{"role_name": "raftsnap"},
			"lease_duration": int64(lease / time.Second),
			"renewable":      renewable,
			"token_type":     "service",
			"orphan":         true,
		},
	})
}

// snapshot serves the raft snapshot API; s.mu is held.
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		if r.URL.Path != "/v1/sys/storage/raft/snapshot" {
			vaultError(w, http.StatusMethodNotAllowed, "unsupported operation")
			return
		}
		s.counts.Saves++
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(s.archive) // Vault streams without Content-Length
	case http.MethodPost:
		if r.ContentLength <= 0 {
			vaultError(w, http.StatusBadRequest, "missing Content-Length")
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			vaultError(w, http.StatusBadRequest, err.Error())
			return
		}
		if _, err := snapshot.Verify(r.Context(), bytes.NewReader(body), snapshot.VerifyOptions{RequireSealed: true}); err != nil {
			vaultError(w, http.StatusBadRequest, "invalid snapshot: "+err.Error())
			return
		}
		s.counts.Restores++
		s.archive = body
		s.restored = append(s.restored, r.URL.Path)
		w.WriteHeader(http.StatusNoContent)
	default:
		vaultError(w, http.StatusMethodNotAllowed, "unsupported operation")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s && s != "" {
			return true
		}
	}
	return false
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Archive builds an archive in Vault's layout: snapshot.Write's meta.json,
// state.bin and SHA256SUMS, repacked with a fourth member
// SHA256SUMS.sealed. Real Vault seals the SUMS with its barrier key; the
// content here is a stand-in, which raftsnap does not (cannot) decrypt.
func Archive(t testing.TB, meta raft.SnapshotMeta, state []byte) []byte {
	t.Helper()
	meta.Size = int64(len(state))
	var plain bytes.Buffer
	if _, err := snapshot.Write(&plain, &meta, bytes.NewReader(state)); err != nil {
		t.Fatalf("snapshot.Write: %v", err)
	}
	var out bytes.Buffer
	gzw := gzip.NewWriter(&out)
	tw := tar.NewWriter(gzw)
	var sums []byte
	for _, m := range testkit.GzipTarMembers(t, plain.Bytes()) {
		if m.Header.Name == snapshot.SumsName {
			sums = m.Body
		}
		if err := tw.WriteHeader(m.Header); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.Body); err != nil {
			t.Fatal(err)
		}
	}
	sealed := append([]byte("test-barrier-sealed:"), sums...)
	if err := tw.WriteHeader(&tar.Header{Name: snapshot.SealedSumsName, Mode: 0o600, Size: int64(len(sealed))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(sealed); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gzw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
