package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/raftsnap/raftsnap/snapshot"
)

// AppRoleConfig logs a vault source in with Vault's AppRole auth method
// instead of giving it a token: raftsnap reads the role ID and a secret ID
// from their files, posts them to auth/<mount>/login, and sends the client
// token Vault answers with. The files are read again at every login, so a
// secret ID rotated by automation is used by the next one. The token is
// kept from run to run and renewed while it can be (see appRole).
type AppRoleConfig struct {
	// RoleIDFile and SecretIDFile hold the role ID and a secret ID, one
	// line each, under the token-file rule (TokenFileProblem).
	RoleIDFile   string `yaml:"role_id_file"`
	SecretIDFile string `yaml:"secret_id_file"`
	// Mount is the path the AppRole auth method is enabled at, without
	// "auth/" (empty: DefaultAppRoleMount).
	Mount string `yaml:"mount"`
}

// DefaultAppRoleMount is where `vault auth enable approle` mounts AppRole.
const DefaultAppRoleMount = "approle"

// IsSet reports whether any AppRole setting is given.
func (a AppRoleConfig) IsSet() bool {
	return a.RoleIDFile != "" || a.SecretIDFile != "" || a.Mount != ""
}

// MountPath is Mount, or DefaultAppRoleMount when it is empty.
func (a AppRoleConfig) MountPath() string {
	if a.Mount == "" {
		return DefaultAppRoleMount
	}
	return a.Mount
}

// mountSegment is one segment of an auth mount path as raftsnap accepts
// it: nothing that needs escaping in a URL path.
var mountSegment = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// validateAppRole checks cfg's AppRole settings without reading their
// files (they are read at each login).
func validateAppRole(cfg Config, spec Spec) error {
	a := cfg.AppRole
	if !a.IsSet() {
		return nil
	}
	bad := func(field, reason string) error {
		return &ConfigError{Kind: cfg.Kind, Field: field, Reason: reason}
	}
	switch {
	case spec.AppRoleLoginPath == "":
		return bad("approle", "applies to "+allowedFor(func(s Spec) bool { return s.AppRoleLoginPath != "" }))
	case cfg.TokenFile != "":
		return bad("approle", "give either approle or token_file, not both: approle logs in to get its token")
	case cfg.TokenEnv != "":
		return bad("approle", "give either approle or token_env, not both: approle logs in to get its token")
	case cfg.Token.IsSet():
		return bad("approle", "give either approle or a token, not both: approle logs in to get its token")
	case a.RoleIDFile == "":
		return bad("approle.role_id_file", "missing: name the file holding the AppRole's role ID")
	case a.SecretIDFile == "":
		return bad("approle.secret_id_file", "missing: name the file holding a secret ID of the AppRole")
	}
	if a.Mount != "" {
		if rest, ok := strings.CutPrefix(a.Mount, "auth/"); ok {
			return bad("approle.mount", fmt.Sprintf("write the mount without auth/: %s", capText(strconv.Quote(rest))))
		}
		for _, seg := range strings.Split(a.Mount, "/") {
			if !mountSegment.MatchString(seg) || seg == "." || seg == ".." {
				return bad("approle.mount", fmt.Sprintf(`%s is not a mount path: letters, digits, "_", "." and "-" in segments separated by "/", e.g. approle`,
					capText(strconv.Quote(a.Mount))))
			}
		}
	}
	return nil
}

// tokenMargin is how long a kept token must stay valid beyond the end of
// the run about to use it (the run's context deadline, the job's
// timeout): clock skew and the time requests take to reach Vault.
const tokenMargin = 30 * time.Second

// maxAuthAnswer bounds a login or renewal answer: Vault's are under 2 KiB.
const maxAuthAnswer = 1 << 20

// appRole is the one place a vault source's AppRole login lives: the token
// Vault returned, when it ends, and whether it can be renewed. A Deferred
// keeps one for its whole life, so that a daemon's job keeps its token from
// run to run; New makes one per source (a CLI command logs in once).
//
// Before each request token decides, "the run" being the time until the
// request's context deadline (the job's timeout) plus tokenMargin: a kept
// token that still covers the run is used; a renewable one past half its
// lease, or not covering the run, is renewed first (renew-self); a token
// that cannot be renewed, whose renewal failed, whose lease is shorter
// than the run, or that renewal cannot stretch over the run (its max TTL
// is near) is dropped and raftsnap logs in again. An expired token is
// never sent. The role and secret ID files are read at each login only.
type appRole struct {
	cfg AppRoleConfig
	// logger hears of logins, renewals and their failures; warn of what an
	// operator should fix (loose files, short TTLs), once per message.
	logger, warn *slog.Logger
	now          func() time.Time

	mu   sync.Mutex
	held *vaultToken
}

// vaultToken is a token a login returned.
type vaultToken struct {
	secret Secret
	// endpoint is the server and namespace that issued it.
	endpoint string
	// granted is when the login or the last renewal was sent; lease is
	// the TTL Vault answered (0: the token does not expire).
	granted   time.Time
	lease     time.Duration
	renewable bool
}

func (t *vaultToken) left(now time.Time) time.Duration {
	if t.lease == 0 {
		return 1<<63 - 1
	}
	return t.granted.Add(t.lease).Sub(now)
}

func newAppRole(cfg AppRoleConfig, logger, warn *slog.Logger) *appRole {
	if logger == nil {
		logger = slog.Default()
	}
	if warn == nil {
		warn = logger
	}
	return &appRole{cfg: cfg, logger: logger, warn: warn, now: time.Now}
}

// needed is how long a token must stay valid from now for the run whose
// context is ctx.
func needed(ctx context.Context, now time.Time) time.Duration {
	need := tokenMargin
	if deadline, ok := ctx.Deadline(); ok {
		if d := deadline.Sub(now); d > 0 {
			need += d
		}
	}
	return need
}

// token returns the token for a request of s (which carries no token of
// its own), and whether it was kept from before rather than just issued.
func (a *appRole) token(ctx context.Context, s *httpSource) (Secret, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	need := needed(ctx, now)
	endpoint := s.String() + " namespace " + s.cfg.Namespace
	mount := a.cfg.MountPath()
	if t := a.held; t != nil && t.endpoint != endpoint {
		a.held = nil
	}
	if t := a.held; t != nil {
		left := t.left(now)
		switch {
		case left <= 0:
			a.logger.Info("vault token expired; logging in with AppRole again", "source", s.String(), "mount", mount)
		case t.lease >= need && t.renewable && (left < need || left < t.lease/2):
			renewed, err := a.renew(ctx, s, t)
			switch {
			case err != nil:
				a.logger.Warn("renewing the vault token failed; logging in with AppRole again", "source", s.String(), "mount", mount, "err", err)
			case renewed.left(a.now()) < need:
				a.logger.Info("the renewed vault token would expire during the run (its max TTL is near); logging in with AppRole again",
					"source", s.String(), "mount", mount, "ttl", renewed.lease)
			default:
				a.logger.Debug("vault token renewed", "source", s.String(), "mount", mount, "ttl", renewed.lease)
				a.held = renewed
				return renewed.secret, true, nil
			}
		case left >= need:
			return t.secret, true, nil
		case t.lease < need:
			// Even renewed it would not cover the run: a fresh token
			// serves it better (the warning below said so at login).
		default:
			a.logger.Info("vault token would expire during the run and cannot be renewed; logging in with AppRole again",
				"source", s.String(), "mount", mount)
		}
		a.held = nil
	}
	t, err := a.login(ctx, s, endpoint)
	if err != nil {
		return "", false, err
	}
	a.held = t
	a.logger.Info("logged in to vault with AppRole", "source", s.String(), "mount", mount, "ttl", t.lease, "renewable", t.renewable)
	if t.lease > 0 && t.lease < need {
		a.warn.Warn("the AppRole's tokens expire sooner than a run may last (the job's timeout and a 30s margin): "+
			"raftsnap logs in at every run; give the role a longer token_ttl so that its token can be kept and renewed",
			"source", s.String(), "mount", mount, "ttl", t.lease)
	}
	return t.secret, false, nil
}

// forget drops tok if it is the token held: Vault refused it (revoked,
// or its policy changed), so the next request logs in again.
func (a *appRole) forget(tok Secret) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.held != nil && a.held.secret == tok {
		a.held = nil
	}
}

// current is the token held, for Redact.
func (a *appRole) current() Secret {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.held == nil {
		return ""
	}
	return a.held.secret
}

// ready tells whether a request could be authorised now without a
// network call being refused for want of files: a token is held that
// has some life left, or both files can be read. It logs nothing in.
func (a *appRole) ready(kind Kind) error {
	a.mu.Lock()
	held := a.held
	a.mu.Unlock()
	if held != nil && held.left(a.now()) > tokenMargin {
		return nil
	}
	_, _, err := a.readFiles(kind)
	return err
}

// readFiles reads the role and secret IDs; what cannot be read is a
// *SettingsError naming the file.
func (a *appRole) readFiles(kind Kind) (roleID, secretID Secret, err error) {
	roleID, err = loadCredentialFile(a.cfg.RoleIDFile, "approle.role_id_file", "role ID", a.warn)
	if err == nil {
		secretID, err = loadCredentialFile(a.cfg.SecretIDFile, "approle.secret_id_file", "secret ID", a.warn)
	}
	if err != nil {
		return "", "", &SettingsError{Err: fmt.Errorf("%s source: %w", kind, err)}
	}
	return roleID, secretID, nil
}

// login posts the role and secret IDs to the mount's login endpoint.
func (a *appRole) login(ctx context.Context, s *httpSource, endpoint string) (*vaultToken, error) {
	roleID, secretID, err := a.readFiles(s.kind)
	if err != nil {
		return nil, err
	}
	mount := a.cfg.MountPath()
	body, err := json.Marshal(map[string]string{"role_id": roleID.Reveal(), "secret_id": secretID.Reveal()})
	if err != nil {
		return nil, err
	}
	granted := a.now()
	answer, err := a.call(ctx, s, OpLogin, fmt.Sprintf(s.spec.AppRoleLoginPath, mount), "", body, roleID, secretID)
	if err != nil {
		hint := ""
		var e *Error
		if errors.As(err, &e) && e.StatusCode >= 400 && e.StatusCode < 500 {
			hint = fmt.Sprintf(" (check the role ID in %s, the secret ID in %s, and that the role exists at auth/%s)",
				a.cfg.RoleIDFile, a.cfg.SecretIDFile, mount)
		}
		return nil, &loginError{mount: mount, hint: hint, err: err}
	}
	return &vaultToken{secret: answer.token, endpoint: endpoint, granted: granted, lease: answer.lease, renewable: answer.renewable}, nil
}

// renew asks Vault to extend t (renew-self with t itself) and returns
// the renewed token, t untouched.
func (a *appRole) renew(ctx context.Context, s *httpSource, t *vaultToken) (*vaultToken, error) {
	granted := a.now()
	answer, err := a.call(ctx, s, OpRenew, s.spec.RenewSelfPath, t.secret, []byte("{}"), t.secret)
	if err != nil {
		return nil, err
	}
	renewed := *t
	renewed.granted, renewed.lease, renewed.renewable = granted, answer.lease, answer.renewable
	return &renewed, nil
}

// authAnswer is what a login or renewal returned.
type authAnswer struct {
	token     Secret
	lease     time.Duration
	renewable bool
}

// call posts body to path (a login or a renewal) and reads Vault's auth
// answer. Every error is an *Error whose text is scrubbed of secrets.
func (a *appRole) call(ctx context.Context, s *httpSource, op, path string, token Secret, body []byte, secrets ...Secret) (answer *authAnswer, err error) {
	u := *s.addr.base
	u.Path = s.addr.base.Path + path
	rawURL, shown := u.String(), s.addr.show(&u)
	defer func() { err = redactError(err, secrets...) }()
	fail := func(msg string, permanent bool, err error) *Error {
		return &Error{Kind: s.kind, Op: op, URL: shown, Message: msg, Err: err, permanent: permanent}
	}
	req, err := s.newRequest(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return nil, fail("building request: "+err.Error(), true, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token.IsSet() {
		req.Header.Set(s.spec.TokenHeader, token.Reveal())
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, transportError(s.kind, op, shown, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(s.kind, op, shown, resp, secrets...)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAuthAnswer+1))
	if err != nil {
		cause, _ := describeTransportError(err)
		return nil, fail("reading the answer: "+cause, false, err)
	}
	if len(data) > maxAuthAnswer {
		return nil, fail(fmt.Sprintf("the answer is larger than %d KiB: not Vault's", maxAuthAnswer>>10), true, nil)
	}
	// The answer holds a token: it is never quoted, whatever its shape.
	var parsed struct {
		Auth *struct {
			ClientToken   string `json:"client_token"`
			LeaseDuration int64  `json:"lease_duration"`
			Renewable     bool   `json:"renewable"`
		} `json:"auth"`
	}
	if err := json.Unmarshal(data, &parsed); err != nil {
		return nil, fail(fmt.Sprintf("the answer (200 with Content-Type %s) is not Vault's JSON", quoteServer([]byte(resp.Header.Get("Content-Type")), secrets...)), true, nil)
	}
	auth := parsed.Auth
	if auth == nil {
		return nil, fail("the answer holds no auth block", true, nil)
	}
	got := strings.TrimSpace(auth.ClientToken)
	if op == OpRenew && got == "" {
		got = token.Reveal() // a renewal may leave out the token it renewed
	}
	switch {
	case got == "":
		return nil, fail("the answer holds no token (auth.client_token)", true, nil)
	case checkTokenChars(got) != nil:
		return nil, fail("the token in the answer cannot be sent in a header", true, nil)
	case op == OpRenew && got != token.Reveal():
		return nil, fail("the renewal answered with another token", true, nil)
	case auth.LeaseDuration < 0 || auth.LeaseDuration > int64((1<<63-1)/time.Second):
		return nil, fail(fmt.Sprintf("the answer's auth.lease_duration %d is not a number of seconds", auth.LeaseDuration), true, nil)
	}
	return &authAnswer{token: Secret(got), lease: time.Duration(auth.LeaseDuration) * time.Second, renewable: auth.Renewable}, nil
}

// loginError is a failed AppRole login: it names the mount (and, for a
// refusal, the files to check), never the IDs. It unwraps to the *Error or
// the *SettingsError underneath, which classify it.
type loginError struct {
	mount, hint string
	err         error
}

func (e *loginError) Error() string {
	return fmt.Sprintf("vault AppRole login at auth/%s failed: %v%s", e.mount, e.err, e.hint)
}

func (e *loginError) Unwrap() error { return e.err }

// loginSource is a vault source that logs in with AppRole: each Save and
// Restore first asks its appRole for a token (kept, renewed or new), then
// sends the request with it.
type loginSource struct {
	base  *httpSource // without a token
	login *appRole
}

var _ Source = (*loginSource)(nil)

func (l *loginSource) Kind() Kind     { return l.base.Kind() }
func (l *loginSource) String() string { return l.base.String() }

// Format prints String for every verb, as httpSource does.
func (l *loginSource) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, l.String()) }

func (l *loginSource) VerifyOptions() snapshot.VerifyOptions { return l.base.VerifyOptions() }

// token is what Redact scrubs: the token held now.
func (l *loginSource) token() Secret { return l.login.current() }

// authorized returns l's source with a token for one request.
func (l *loginSource) authorized(ctx context.Context) (*httpSource, bool, error) {
	tok, kept, err := l.login.token(ctx, l.base)
	if err != nil {
		return nil, false, err
	}
	s := *l.base // shares the client
	s.cfg.Token = tok
	return &s, kept, nil
}

// refused drops a kept token that Vault refused: revoked early, or the
// server lost it. The next request logs in again; this one has failed.
func (l *loginSource) refused(s *httpSource, kept bool, err error) {
	var e *Error
	if kept && errors.As(err, &e) && (e.StatusCode == http.StatusForbidden || e.StatusCode == http.StatusUnauthorized) {
		l.login.forget(s.cfg.Token)
	}
}

func (l *loginSource) Save(ctx context.Context, w io.Writer) (*SaveResult, error) {
	s, kept, err := l.authorized(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.Save(ctx, w)
	l.refused(s, kept, err)
	return res, err
}

func (l *loginSource) Restore(ctx context.Context, archive io.Reader, size int64) error {
	s, kept, err := l.authorized(ctx)
	if err != nil {
		return err
	}
	err = s.Restore(ctx, archive, size)
	l.refused(s, kept, err)
	return err
}
