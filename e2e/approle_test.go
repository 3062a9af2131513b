package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit/vaultstub"
	"github.com/raftsnap/raftsnap/snapshot/source"
)

// TestVaultAppRole: the daemon and the CLI log in to Vault with AppRole,
// against the test kit's Vault stand-in (no real Vault builds here; see
// docs/sources.md). From the configuration file to the stand-in: a secret
// ID file not deployed yet is a warning for configcheck and the job's
// problem in the daemon, not a failure of the daemon; once written, the
// next run reads it; each job logs in once and keeps its token; a restore
// job logs in as a snapshot job does; the CLI takes the same settings as
// flags. No role ID, secret ID or token reaches the log, the status, the
// metrics or the CLI's output.
func TestVaultAppRole(t *testing.T) {
	const (
		roleID   = "3f2e1d0c-9b8a-4766-a554-433221100fed"
		secretID = "c0ffee11-2233-4455-8667-78899aabbccd"
		wrongID  = "deadbeef-0011-4223-8445-566778899aab"
	)
	vault := vaultstub.Start(t, vaultstub.Options{})
	vault.AddRole(vaultstub.Role{Mount: "raftsnap", RoleID: roleID, SecretIDs: []string{secretID}, TTL: time.Hour, MaxTTL: 24 * time.Hour})
	dir := shortTempDir(t)
	roleFile, secretFile := filepath.Join(dir, "vault-role-id"), filepath.Join(dir, "vault-secret-id")
	writeFile(t, roleFile, roleID+"\n", 0o600)
	approle := `approle: {role_id_file: %[3]s, secret_id_file: %[4]s, mount: raftsnap}`
	config := writeConfig(t, dir, controlAndMetrics, []string{
		`{name: vault, type: snapshot, source: {type: vault, address: %[2]s, ` + approle + `}, interval: 1h, retries: {max: 0}, store: {path: %[1]s/store}, pruning: {keep: [{last_n: {count: 5}}]}}`,
		`{name: vault-restore, type: restore, from_job: vault, allow_overwrite: true, target: {type: vault, address: %[2]s, ` + approle + `}}`,
	}, vault.URL, roleFile, secretFile)
	var outputs []string
	keep := func(r cliResult) cliResult { outputs = append(outputs, r.Stdout, r.Stderr); return r }

	if r := keep(rs(t, "configcheck", "--config", config)); r.Code != 0 || !strings.Contains(r.Stderr, "approle.secret_id_file: cannot use "+secretFile) {
		t.Fatalf("configcheck without the secret ID file: want OK with a warning, got %s", r)
	}
	d := startDaemon(t, config)
	snap := awaitStatus(t, d.Sock, "vault", "the start-up run", func(j controlapi.JobStatus) bool { return j.LastRun != nil })
	if snap.LastRun.Result != controlapi.ResultFailure || !strings.Contains(snap.LastRun.Error, secretFile) || !strings.Contains(snap.Problem, secretFile) {
		t.Fatalf("start-up run without the secret ID file: %+v, problem %q", snap.LastRun, snap.Problem)
	}
	if v := scrapeMetric(t, d, "raftsnap_job_source_ready", map[string]string{"job_name": "vault-restore"}); v != 0 {
		t.Errorf("source_ready of the restore job = %v, want 0", v)
	}
	if c := vault.Counts(); c.Logins+c.FailedLogins != 0 {
		t.Fatalf("a login was tried without the secret ID: %+v", c)
	}

	// The secret ID is deployed: the next runs log in, once per job.
	writeFile(t, secretFile, secretID+"\n", 0o600)
	for _, job := range []string{"vault", "vault", "vault-restore"} {
		if r := keep(rs(t, "signal", "wakeup", job, "--wait", "--socket", d.Sock)); r.Code != 0 || !strings.Contains(r.Stdout, "OK") {
			t.Fatalf("wakeup %s: %s", job, r)
		}
	}
	if c := vault.Counts(); c.Logins != 2 || c.Saves != 2 || c.Restores != 1 || c.ExpiredUses != 0 {
		t.Fatalf("want one login per job, two saves and a restore: %+v", c)
	}
	if got := vault.Restored(); len(got) != 1 || got[0] != "/v1/sys/storage/raft/snapshot" {
		t.Fatalf("restored at %v", got)
	}
	for _, job := range []string{"vault", "vault-restore"} {
		if v := scrapeMetric(t, d, "raftsnap_job_source_ready", map[string]string{"job_name": job}); v != 1 {
			t.Errorf("source_ready{job_name=%s} = %v, want 1", job, v)
		}
	}
	if !strings.Contains(d.Output(), "logged in to vault with AppRole") {
		t.Errorf("the daemon does not log its logins:\n%s", d.Output())
	}

	// The CLI, with the same settings as flags.
	cli := func(secretFile, file string) cliResult {
		return keep(rs(t, "snapshot", "save", "--source", "vault", "--address", vault.URL,
			"--role-id-file", roleFile, "--secret-id-file", secretFile, "--approle-mount", "raftsnap", filepath.Join(dir, file)))
	}
	if r := cli(secretFile, "cli.snap"); r.Code != 0 || !strings.Contains(r.Stdout, "Saved ") {
		t.Fatalf("snapshot save with AppRole: %s", r)
	}
	wrongFile := filepath.Join(dir, "wrong-secret-id")
	writeFile(t, wrongFile, wrongID+"\n", 0o600)
	if r := cli(wrongFile, "wrong.snap"); r.Code != 1 || !strings.Contains(r.Stderr, "vault AppRole login at auth/raftsnap failed: 400 from vault at "+vault.URL+"/v1/auth/raftsnap/login: invalid role or secret ID") {
		t.Fatalf("snapshot save with a wrong secret ID: want exit 1 and the refusal, got %s", r)
	}
	if r := cli(filepath.Join(dir, "nonexistent"), "missing.snap"); r.Code != 2 || !strings.Contains(r.Stderr, "approle.secret_id_file") {
		t.Fatalf("snapshot save without its secret ID file: want exit 2 naming the file, got %s", r)
	}

	keep(mustRS(t, "status", "--mode", "dump", "--socket", d.Sock))
	keep(mustRS(t, "status", "--mode", "raw", "--socket", d.Sock))
	texts := append(outputs, d.Output(), string(d.Metrics(t)))
	for _, sidecar := range readFiles(t, filepath.Join(dir, "store", "*.json")) {
		texts = append(texts, sidecar)
	}
	for _, text := range texts {
		for _, secret := range append(vault.Tokens(), roleID, secretID, wrongID) {
			for i := 0; i+source.MinTokenFragment <= len(secret); i++ {
				if frag := secret[i : i+source.MinTokenFragment]; strings.Contains(text, frag) {
					t.Fatalf("a piece of a secret (%q) was output:\n%s", frag, text)
				}
			}
		}
	}
}
