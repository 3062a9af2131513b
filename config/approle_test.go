package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestAppRoleFilesWarnAtLoad: role and secret ID files follow the
// token-file rules. One that is not there yet fails that job's runs, not
// the daemon, so it is a warning at load naming file:line:col; so is a
// file others could read. A relative path is an error.
func TestAppRoleFilesWarnAtLoad(t *testing.T) {
	dir := t.TempDir()
	roleFile := filepath.Join(dir, "vault-role-id")
	if err := os.WriteFile(roleFile, []byte("role\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(roleFile, 0o644); err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(dir, "missing", "vault-secret-id")
	yml := `jobs:
  - name: v
    type: snapshot
    source:
      type: vault
      address: https://127.0.0.1:8200
      approle: {role_id_file: ` + roleFile + `, secret_id_file: ` + secretFile + `, mount: raftsnap/approle}
    interval: 1h
    store: {path: /var/lib/raftsnap/v}
    pruning: {keep: [{last_n: {count: 3}}]}
`
	cfg, err := ParseWith([]byte(yml), "v.yml", Options{SkipDirChecks: true})
	if err != nil {
		t.Fatalf("missing AppRole files stop the configuration: %v", err)
	}
	want := []string{
		"v.yml:7:31: jobs[0].source.approle.role_id_file: " + roleFile + ": mode 0644 lets every user on this host at it",
		"v.yml:7:" + col(yml, secretFile) + ": jobs[0].source.approle.secret_id_file: cannot use " + secretFile + " (no such file or directory): this job's runs fail until it can be read",
	}
	if len(cfg.Warnings) != len(want) {
		t.Fatalf("warnings %q, want %d", cfg.Warnings, len(want))
	}
	for i, w := range want {
		if !strings.Contains(cfg.Warnings[i], w) {
			t.Errorf("warning %q\nwant it to hold %q", cfg.Warnings[i], w)
		}
	}
	if got := cfg.Jobs[0].Source.AppRole; got.RoleIDFile != roleFile || got.SecretIDFile != secretFile || got.Mount != "raftsnap/approle" {
		t.Fatalf("decoded %+v", got)
	}
}

// col is the 1-based column of the first occurrence of s in yml's line.
func col(yml, s string) string {
	for _, line := range strings.Split(yml, "\n") {
		if i := strings.Index(line, s); i >= 0 {
			return strconv.Itoa(i + 1)
		}
	}
	return "?"
}
