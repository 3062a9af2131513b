package job

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/vaultstub"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// TestSnapshotAndRestoreThroughAppRole: a vault snapshot job and a restore
// job whose sources log in with AppRole (as the daemon builds them: one
// source.Deferred per job for its life), against the test kit's Vault
// stand-in (no real Vault builds here). The token is kept between runs; a
// token too short-lived to cover a run is replaced by a new login, never
// sent expired; a rotated secret ID file is used by the next login; a
// refused login fails the run at once (not retried) naming the mount; a
// missing file is the job's problem. No role ID, secret ID or token
// reaches the log, the run reports or the status.
func TestSnapshotAndRestoreThroughAppRole(t *testing.T) {
	const (
		roleID  = "8c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e"
		secret1 = "e4d3c2b1-a098-4f7e-8d6c-5b4a39281706"
		secret2 = "71625344-3526-4718-9a0b-c1d2e3f40516"
	)
	vault := vaultstub.Start(t, vaultstub.Options{})
	vault.AddRole(vaultstub.Role{Mount: "approle", RoleID: roleID, SecretIDs: []string{secret1}, TTL: time.Hour})
	dir := t.TempDir()
	roleFile, secretFile := filepath.Join(dir, "vault-role-id"), filepath.Join(dir, "vault-secret-id")
	write := func(path, content string) { testkit.WriteFile(t, path, content+"\n", 0o600) }
	write(roleFile, roleID)
	write(secretFile, secret1)

	logs := testkit.NewOutput()
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	newSource := func() *source.Deferred {
		d, err := source.NewDeferred(source.Config{Kind: source.Vault, Address: vault.URL,
			AppRole: source.AppRoleConfig{RoleIDFile: roleFile, SecretIDFile: secretFile}}, logger)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	st := storetest.Local(t)
	metrics := &recorder{}
	snap, err := NewSnapshotJob(SnapshotOptions{Name: "vault", Source: newSource(), Store: st, Interval: time.Hour,
		Timeout: time.Minute, Retries: RetryPolicy{Max: 2, Initial: time.Millisecond, MaxBackoff: time.Millisecond},
		Logger: logger, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	startJob(t, snap)
	var reports []controlapi.RunReport
	ok := func(rep controlapi.RunReport, what string) {
		t.Helper()
		reports = append(reports, rep)
		if rep.Result != controlapi.ResultSuccess {
			t.Fatalf("%s: %+v\nlog:\n%s", what, rep, logs.String())
		}
	}
	ok(awaitFirstRun(t, snap), "the start-up run")
	ok(wakeAndWait(t, snap), "a second run")
	if c := vault.Counts(); c.Logins != 1 || c.Saves != 2 {
		t.Fatalf("want one login for two runs: %+v", c)
	}

	// Tokens that live 1s: each run logs in, none is sent expired.
	vault.UpdateRole("approle", func(r *vaultstub.Role) { r.TTL, r.NotRenewable = time.Second, true })
	vault.RevokeAll() // the hour-long token goes; its refusal fails one run
	if rep := wakeAndWait(t, snap); rep.Result != controlapi.ResultFailure || !strings.Contains(rep.Error, "403") {
		t.Fatalf("a run with a revoked token: %+v", rep)
	}
	for i := range 2 {
		ok(wakeAndWait(t, snap), "a run with short-lived tokens")
		if i == 0 {
			time.Sleep(1100 * time.Millisecond) // past the token's end
		}
	}
	if c := vault.Counts(); c.Logins != 3 || c.ExpiredUses != 0 {
		t.Fatalf("want a login per run with short-lived tokens, no expired token sent: %+v", c)
	}

	// The secret ID is rotated: Vault takes only the new one, which the
	// next login reads from the file.
	vault.UpdateRole("approle", func(r *vaultstub.Role) { r.SecretIDs = []string{secret2} })
	write(secretFile, secret2)
	ok(wakeAndWait(t, snap), "the run after the secret ID was rotated")

	// A wrong secret ID: a permanent failure, not retried, naming the
	// mount and the files, never the IDs.
	write(secretFile, secret1)
	rep := wakeAndWait(t, snap)
	reports = append(reports, rep)
	if rep.Result != controlapi.ResultFailure || rep.Attempts != 1 ||
		!strings.Contains(rep.Error, "vault AppRole login at auth/approle failed: 400 from vault at "+vault.URL+"/v1/auth/approle/login: invalid role or secret ID") ||
		!strings.Contains(rep.Error, secretFile) {
		t.Fatalf("a run with a wrong secret ID: %+v", rep)
	}
	if got := metrics.results(); !strings.HasSuffix(got, "failure/http_4xx") {
		t.Fatalf("results %s: want the refused login classified http_4xx", got)
	}

	// The secret ID file is gone: that run fails and the job shows why.
	if err := os.Remove(secretFile); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	rep = wakeAndWait(t, snap)
	reports = append(reports, rep)
	if rep.Result != controlapi.ResultFailure || rep.Attempts != 1 || !strings.Contains(rep.Error, "approle.secret_id_file") {
		t.Fatalf("a run without the secret ID file: %+v", rep)
	}
	if p := snap.Status().Problem; !strings.Contains(p, secretFile) {
		t.Fatalf("status problem %q does not name %s", p, secretFile)
	}
	write(secretFile, secret2)

	// Restore the newest snapshot through a job of its own, logging in
	// with the same files.
	saved := vault.CurrentArchive() // what every run stored
	vault.SetArchive(vaultstub.Archive(t, raft.SnapshotMeta{ID: "9-90-1", Index: 90, Term: 9, Version: 1}, []byte("other state")))
	restore, err := NewRestoreJob(RestoreOptions{Name: "vault-restore", Store: st, FromJob: "vault", Target: newSource(),
		Timeout: time.Minute, Logger: logger, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	startJob(t, restore)
	ok(wakeAndWait(t, restore), "the restore")
	if got := vault.Restored(); len(got) != 1 || got[0] != "/v1/sys/storage/raft/snapshot" {
		t.Fatalf("restores reached %v", got)
	}
	if !bytes.Equal(vault.CurrentArchive(), saved) {
		t.Fatal("the stand-in does not hold the stored snapshot after the restore")
	}

	// Nothing secret anywhere.
	var texts []string
	for _, j := range []Job{snap, restore} {
		status, err := json.Marshal(j.Status())
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(status))
	}
	for _, r := range reports {
		texts = append(texts, r.Error)
	}
	texts = append(texts, logs.String())
	secrets := append(vault.Tokens(), roleID, secret1, secret2)
	for _, text := range texts {
		for _, s := range secrets {
			for i := 0; i+source.MinTokenFragment <= len(s); i++ {
				if frag := s[i : i+source.MinTokenFragment]; strings.Contains(text, frag) {
					t.Fatalf("a piece of a secret (%q) was output:\n%s", frag, text)
				}
			}
		}
	}
	if !strings.Contains(logs.String(), "logged in to vault with AppRole") {
		t.Errorf("logins are not logged:\n%s", logs.String())
	}
}
