package source

// AppRole login and token renewal, against the test kit's Vault stand-in
// (no real Vault builds here: see DESIGN.md). The stand-in and the
// source's login share a fake clock, so TTLs of hours pass in microseconds
// and the stand-in can tell whether an expired token was ever sent.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/vaultstub"
)

const (
	testRoleID    = "5e1f0c3a-9d2b-4e7f-a1c8-6b3d2f4e9a10"
	testSecretID  = "b7c4e2f1-8a9d-4c3b-9e6f-0d1a2b3c4d5e"
	testSecretID2 = "0f9e8d7c-6b5a-4493-a281-7f6e5d4c3b2a"
)

// approleFixture is a vault stand-in with one role, the role and secret ID
// files, and a Deferred logging in with them, all on one fake clock.
type approleFixture struct {
	vault                *vaultstub.Server
	clock                *testkit.FakeClock
	roleFile, secretFile string
	logs                 *testkit.Output
	d                    *Deferred
}

func newAppRoleFixture(t *testing.T, role vaultstub.Role, edit func(*Config)) *approleFixture {
	t.Helper()
	f := &approleFixture{clock: testkit.NewFakeClock(time.Now()), logs: testkit.NewOutput()}
	f.vault = vaultstub.Start(t, vaultstub.Options{Now: f.clock.Now})
	if role.Mount == "" {
		role.Mount = "approle"
	}
	if role.RoleID == "" {
		role.RoleID = testRoleID
	}
	if role.SecretIDs == nil {
		role.SecretIDs = []string{testSecretID}
	}
	f.vault.AddRole(role)
	dir := t.TempDir()
	f.roleFile, f.secretFile = filepath.Join(dir, "role-id"), filepath.Join(dir, "secret-id")
	writeSecretFile(t, f.roleFile, testRoleID+"\n")
	writeSecretFile(t, f.secretFile, testSecretID+"\n")
	cfg := Config{Kind: Vault, Address: f.vault.URL, AppRole: AppRoleConfig{RoleIDFile: f.roleFile, SecretIDFile: f.secretFile}}
	if edit != nil {
		edit(&cfg)
	}
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := NewDeferred(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	d.login.now = f.clock.Now
	f.d = d
	t.Cleanup(func() { f.assertNoSecrets(t, "the log", f.logs.String()) })
	return f
}

func writeSecretFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// save runs one Save as a job's run would and fails the test on an error.
func (f *approleFixture) save(t *testing.T, ctx context.Context) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := f.d.Save(ctx, &buf); err != nil {
		t.Fatalf("save: %v", err)
	}
	verifyArchive(t, buf.Bytes(), f.d.VerifyOptions())
}

// want checks the stand-in's counts of logins and renewals, and that no
// expired token ever reached it.
func (f *approleFixture) want(t *testing.T, logins, renewals int) {
	t.Helper()
	c := f.vault.Counts()
	if c.Logins != logins || c.Renewals != renewals || c.ExpiredUses != 0 {
		t.Fatalf("logins %d, renewals %d, expired tokens sent %d; want %d, %d, 0 (%+v)\nlog:\n%s",
			c.Logins, c.Renewals, c.ExpiredUses, logins, renewals, c, f.logs.String())
	}
}

// assertNoSecrets fails when text holds a piece of the role ID, a secret
// ID or any token the stand-in issued.
func (f *approleFixture) assertNoSecrets(t *testing.T, where, text string) {
	t.Helper()
	assertNoSecret(t, where, text, append(f.vault.Tokens(), testRoleID, testSecretID, testSecretID2)...)
}

func assertNoSecret(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		for i := 0; i+MinTokenFragment <= len(secret); i++ {
			if frag := secret[i : i+MinTokenFragment]; strings.Contains(text, frag) {
				t.Errorf("%s holds %q, a piece of a secret:\n%s", where, frag, text)
				return
			}
		}
	}
}

// TestAppRoleKeepsAndRenewsItsToken: one login serves run after run; a
// renewable token is renewed once half its lease is gone, and when the
// role's max TTL stops renewals from covering a run, raftsnap logs in
// again. No expired token is ever sent.
func TestAppRoleKeepsAndRenewsItsToken(t *testing.T) {
	f := newAppRoleFixture(t, vaultstub.Role{TTL: time.Hour, MaxTTL: 2 * time.Hour}, nil)
	ctx := testContext(t)

	f.save(t, ctx)
	f.want(t, 1, 0)
	f.clock.Advance(20 * time.Minute) // 40m left of 1h: kept as is
	f.save(t, ctx)
	f.want(t, 1, 0)
	f.clock.Advance(15 * time.Minute) // 25m left: renewed, to 1h
	f.save(t, ctx)
	f.want(t, 1, 1)
	if !strings.Contains(f.logs.String(), "vault token renewed") {
		t.Errorf("no renewal in the log:\n%s", f.logs.String())
	}
	f.clock.Advance(40 * time.Minute) // 1h15m in, 20m left: renewed, capped at the max TTL (45m)
	f.save(t, ctx)
	f.want(t, 1, 2)
	f.clock.Advance(44*time.Minute + 40*time.Second) // 20s left, renewal cannot help: a new login
	f.save(t, ctx)
	f.want(t, 2, 3)
	if !strings.Contains(f.logs.String(), "max TTL is near") {
		t.Errorf("the log does not say why it logged in again:\n%s", f.logs.String())
	}

	// A run whose deadline is beyond the token's end renews it first.
	f.clock.Advance(10 * time.Minute) // 50m left
	deadline, cancel := context.WithDeadline(context.Background(), f.clock.Now().Add(55*time.Minute))
	defer cancel()
	f.save(t, deadline)
	f.want(t, 2, 4)
}

// TestAppRoleNonRenewableToken: a token Vault says is not renewable is
// used while it covers the run, then replaced by a new login; renew-self
// is never tried.
func TestAppRoleNonRenewableToken(t *testing.T) {
	f := newAppRoleFixture(t, vaultstub.Role{TTL: 10 * time.Minute, NotRenewable: true}, nil)
	ctx := testContext(t)
	f.save(t, ctx)
	f.clock.Advance(9 * time.Minute) // 1m left, more than the 30s margin
	f.save(t, ctx)
	f.want(t, 1, 0)
	f.clock.Advance(50 * time.Second) // 10s left
	f.save(t, ctx)
	f.want(t, 2, 0)
	if c := f.vault.Counts(); c.Refused != 0 {
		t.Fatalf("renew-self was tried on a non-renewable token: %+v", c)
	}
}

// TestAppRoleExpiredTokenIsNeverSent: a token kept past its end (the job
// ran less often than its TTL) is dropped without a request; the run logs
// in again.
func TestAppRoleExpiredTokenIsNeverSent(t *testing.T) {
	f := newAppRoleFixture(t, vaultstub.Role{TTL: 10 * time.Minute}, nil)
	ctx := testContext(t)
	f.save(t, ctx)
	f.clock.Advance(time.Hour)
	f.save(t, ctx)
	f.want(t, 2, 0)
	if c := f.vault.Counts(); c.Refused != 0 || c.Denied != 0 {
		t.Fatalf("the expired token was sent: %+v", c)
	}
}

// TestAppRoleRenewalRefused: a renewal Vault refuses (a policy without
// auth/token/renew-self) is logged, and the run logs in again instead.
func TestAppRoleRenewalRefused(t *testing.T) {
	f := newAppRoleFixture(t, vaultstub.Role{TTL: time.Hour, RefuseRenewal: true}, nil)
	ctx := testContext(t)
	f.save(t, ctx)
	f.clock.Advance(40 * time.Minute)
	f.save(t, ctx)
	f.want(t, 2, 0)
	if c := f.vault.Counts(); c.Refused != 1 {
		t.Fatalf("want one refused renewal: %+v", c)
	}
	if log := f.logs.String(); !strings.Contains(log, "renewing the vault token failed") || !strings.Contains(log, "403") {
		t.Errorf("the refused renewal is not in the log:\n%s", log)
	}
}

// TestAppRoleShortTTL: tokens that live less than a run may last are used
// fresh, one login per run, with one warning telling the operator what to
// change.
func TestAppRoleShortTTL(t *testing.T) {
	f := newAppRoleFixture(t, vaultstub.Role{TTL: 10 * time.Second}, nil)
	ctx := context.Background() // no deadline: a run needs 30s of the token
	for range 3 {
		f.save(t, ctx)
		f.clock.Advance(time.Second)
	}
	f.want(t, 3, 0)
	if n := strings.Count(f.logs.String(), "expire sooner than a run may last"); n != 1 {
		t.Errorf("want one warning about the short TTL, got %d:\n%s", n, f.logs.String())
	}
}

// TestAppRoleRotatedSecretID: the secret ID file is read at each login,
// not before: while the token is kept, the file may change or go (some
// automation removes it after use); the next login uses what is there.
func TestAppRoleRotatedSecretID(t *testing.T) {
	f := newAppRoleFixture(t, vaultstub.Role{TTL: 10 * time.Minute, NotRenewable: true}, nil)
	ctx := testContext(t)
	f.save(t, ctx)

	if err := os.Remove(f.secretFile); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	if err := f.d.Check(); err != nil {
		t.Fatalf("Check with a token held but no secret ID file: %v", err)
	}
	f.save(t, ctx) // the kept token, no file needed
	f.want(t, 1, 0)

	f.vault.UpdateRole("approle", func(r *vaultstub.Role) { r.SecretIDs = []string{testSecretID2} })
	writeSecretFile(t, f.secretFile, testSecretID2+"\n")
	f.clock.Advance(time.Hour)
	f.save(t, ctx)
	f.want(t, 2, 0)
}

// TestAppRoleFilesMissing: a role or secret ID file that cannot be read
// fails the run with a *SettingsError naming the file, and shows in Check,
// before any request.
func TestAppRoleFilesMissing(t *testing.T) {
	for _, which := range []string{"role", "secret"} {
		t.Run(which, func(t *testing.T) {
			f := newAppRoleFixture(t, vaultstub.Role{TTL: time.Hour}, nil)
			file, key := f.roleFile, "approle.role_id_file"
			if which == "secret" {
				file, key = f.secretFile, "approle.secret_id_file"
			}
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
			for name, err := range map[string]error{
				"Check": f.d.Check(),
				"Save":  func() error { _, err := f.d.Save(testContext(t), io.Discard); return err }(),
			} {
				var setErr *SettingsError
				if !errors.As(err, &setErr) || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), file) {
					t.Errorf("%s: want a *SettingsError naming %s %s, got %T %v", name, key, file, err, err)
				}
			}
			if c := f.vault.Counts(); c != (vaultstub.Counts{}) {
				t.Fatalf("requests were sent: %+v", c)
			}
		})
	}
}

// TestAppRoleLoginRefused: every way a login fails comes back as a clear
// error naming the mount and the files to check, permanent for a refusal,
// transient for a server error, and without the IDs even when the server
// quotes them.
func TestAppRoleLoginRefused(t *testing.T) {
	for _, tc := range []struct {
		name      string
		role      vaultstub.Role
		secret    string // the secret ID file's content
		mount     string
		status    int
		permanent bool
		want      string
	}{
		{"wrong secret ID", vaultstub.Role{}, testSecretID2, "", 400, true, "400 from vault at %s/v1/auth/approle/login: invalid role or secret ID"},
		{"server quotes the IDs", vaultstub.Role{EchoCredentials: true}, testSecretID2, "", 400, true, "invalid role or secret ID (got role_id=[redacted] secret_id=[redacted])"},
		{"refused (403)", vaultstub.Role{LoginStatus: 403, LoginMessage: "permission denied"}, testSecretID, "", 403, true, "403 from vault at %s/v1/auth/approle/login: permission denied"},
		{"no such mount", vaultstub.Role{}, testSecretID, "team/approle", 404, true, `404 from vault at %s/v1/auth/team/approle/login: no handler for route "auth/team/approle/login"`},
		{"sealed", vaultstub.Role{LoginStatus: 503, LoginMessage: "Vault is sealed"}, testSecretID, "", 503, false, "503 from vault at %s/v1/auth/approle/login: Vault is sealed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAppRoleFixture(t, tc.role, func(c *Config) { c.AppRole.Mount = tc.mount })
			writeSecretFile(t, f.secretFile, tc.secret)
			mount := tc.mount
			if mount == "" {
				mount = "approle"
			}
			_, err := f.d.Save(testContext(t), io.Discard)
			var e *Error
			if !errors.As(err, &e) || e.StatusCode != tc.status || e.Permanent() != tc.permanent || e.Op != OpLogin {
				t.Fatalf("want a %d login error (permanent %v), got %T %v", tc.status, tc.permanent, err, err)
			}
			msg := err.Error()
			wantPrefix := "vault AppRole login at auth/" + mount + " failed: "
			if !strings.HasPrefix(msg, wantPrefix) || !strings.Contains(msg, strings.Replace(tc.want, "%s", f.vault.URL, 1)) {
				t.Fatalf("error %q\nwant it to start %q and hold %q", msg, wantPrefix, tc.want)
			}
			if tc.permanent && !strings.Contains(msg, "check the role ID in "+f.roleFile+", the secret ID in "+f.secretFile) {
				t.Errorf("a refused login does not say what to check: %s", msg)
			}
			f.assertNoSecrets(t, "the error", msg)
			if c := f.vault.Counts(); c.Saves != 0 {
				t.Fatalf("a snapshot was requested without a login: %+v", c)
			}
		})
	}
}

// TestAppRoleRevokedToken: a kept token Vault no longer knows (revoked,
// or a rebuilt server) fails that request with Vault's 403 and is dropped:
// the next run logs in again.
func TestAppRoleRevokedToken(t *testing.T) {
	f := newAppRoleFixture(t, vaultstub.Role{TTL: time.Hour}, nil)
	ctx := testContext(t)
	f.save(t, ctx)
	f.vault.RevokeAll()
	_, err := f.d.Save(ctx, io.Discard)
	assertStatusError(t, err, http.StatusForbidden, true, "403 from vault at "+f.vault.URL+"/v1/sys/storage/raft/snapshot: permission denied")
	f.save(t, ctx)
	f.want(t, 2, 0)
}

// TestAppRoleNamespaceAndRestore: the namespace header goes with the
// login, the renewal and the snapshot requests; a restore logs in as a
// save does, and force_restore still picks its endpoint.
func TestAppRoleNamespaceAndRestore(t *testing.T) {
	clock := testkit.NewFakeClock(time.Now())
	vault := vaultstub.Start(t, vaultstub.Options{Namespace: "team-a", Now: clock.Now})
	vault.AddRole(vaultstub.Role{Mount: "raftsnap/approle", RoleID: testRoleID, SecretIDs: []string{testSecretID}, TTL: time.Hour})
	dir := t.TempDir()
	roleFile, secretFile := filepath.Join(dir, "role"), filepath.Join(dir, "secret")
	writeSecretFile(t, roleFile, testRoleID)
	writeSecretFile(t, secretFile, testSecretID)
	logs := testkit.NewOutput()
	src, err := NewWithLogger(Config{Kind: Vault, Address: vault.URL, Namespace: "team-a", ForceRestore: true,
		AppRole: AppRoleConfig{RoleIDFile: roleFile, SecretIDFile: secretFile, Mount: "raftsnap/approle"}},
		slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	src.(*loginSource).login.now = clock.Now
	ctx := testContext(t)
	archive := writeVaultArchive(t, raft.SnapshotMeta{ID: "3-20-1", Index: 20, Term: 3, Version: 1}, []byte("vault state v2"))
	if err := src.Restore(ctx, bytes.NewReader(archive), int64(len(archive))); err != nil {
		t.Fatalf("restore: %v", err)
	}
	clock.Advance(40 * time.Minute)
	var saved bytes.Buffer
	if _, err := src.Save(ctx, &saved); err != nil {
		t.Fatalf("save after the restore: %v", err)
	}
	if !bytes.Equal(saved.Bytes(), archive) {
		t.Fatal("the save did not return the restored archive")
	}
	if got := strings.Join(vault.Restored(), ","); got != "/v1/sys/storage/raft/snapshot-force" {
		t.Fatalf("restored at %s", got)
	}
	if c := vault.Counts(); c.Logins != 1 || c.Renewals != 1 || c.ExpiredUses != 0 {
		t.Fatalf("counts %+v", c)
	}
	if !strings.Contains(logs.String(), "logged in to vault with AppRole") || !strings.Contains(logs.String(), "mount=raftsnap/approle") {
		t.Errorf("the login is not in the log:\n%s", logs.String())
	}
	assertNoSecret(t, "the log", logs.String(), append(vault.Tokens(), testRoleID, testSecretID)...)
	// Redact scrubs the token in use from errors built from its answers.
	tok := vault.Tokens()[0]
	if got := Redact(src, errors.New("archive starts with "+tok)).Error(); strings.Contains(got, tok[4:10]) {
		t.Fatalf("Redact left the token in %q", got)
	}
}

// TestAppRoleIgnoresEnvironmentTokens: with AppRole settings, VAULT_TOKEN
// and ~/.vault-token are not read: the token comes from the login.
func TestAppRoleIgnoresEnvironmentTokens(t *testing.T) {
	home := t.TempDir()
	writeSecretFile(t, filepath.Join(home, ".vault-token"), "from-home-file")
	cfg := Config{Kind: Vault, Address: "http://127.0.0.1:8200", AppRole: AppRoleConfig{RoleIDFile: "/r", SecretIDFile: "/s"}}
	got, err := cfg.Resolve(envOf(map[string]string{"VAULT_TOKEN": "from-env", "HOME": home}), nil)
	if err != nil || got.Token.IsSet() {
		t.Fatalf("Resolve = token set %v, %v", got.Token.IsSet(), err)
	}
}

// TestDeferredRedactsItsToken: errors a caller builds from a Deferred
// source's answers (an archive check quoting the body) are scrubbed of the
// token its last run sent, as for a source built by New.
func TestDeferredRedactsItsToken(t *testing.T) {
	file := writeTokenFile(t, testToken+"\n", 0o600)
	d, err := NewDeferred(Config{Kind: Vault, Address: "http://127.0.0.1:8200", TokenFile: file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Resolve(); err != nil {
		t.Fatal(err)
	}
	if got := Redact(d, errors.New("body starts with "+testToken)).Error(); strings.Contains(got, testToken[:MinTokenFragment]) {
		t.Fatalf("Redact(Deferred) left the token in %q", got)
	}
}
