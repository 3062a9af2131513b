package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
)

// TestMissingCredentialFailsTheJobNotTheDaemon (issue 13): a token that is
// not there yet (the shipped configuration on a fresh install) fails that
// job's runs, visibly, while the daemon and its other jobs run. A token
// file written later, or rotated, is read by the next run: no reload.
func TestMissingCredentialFailsTheJobNotTheDaemon(t *testing.T) {
	c := startCluster(t, "s3cret-raft-token")
	putRandom(t, c, "k%d", 1, 64) // an empty state machine cannot be snapshotted
	dir := shortTempDir(t)
	tokenFile := filepath.Join(dir, "raft.token")
	config := writeConfig(t, dir, controlAndMetrics, []string{
		`{name: snap, type: snapshot, source: {type: raft, address: %[2]s, token_file: %[3]s}, interval: 1h, retries: {max: 0}, store: {path: %[1]s/store}, pruning: {keep: [{last_n: {count: 5}}]}}`,
		`{name: back, type: restore, from_job: snap, allow_overwrite: true, target: {type: raft, address: %[2]s, token_env: RAFTSNAP_TEST_UNSET_TOKEN}}`,
		pruneJob,
	}, leader(t, c).HTTPAddr, tokenFile)
	os.Unsetenv("RAFTSNAP_TEST_UNSET_TOKEN")
	if r := rs(t, "configcheck", "--config", config); r.Code != 0 || !strings.Contains(r.Stderr, "warning:") {
		t.Fatalf("configcheck of a configuration whose tokens are missing: want OK with warnings, got %s", r)
	}

	d := startDaemon(t, config)
	snap := awaitStatus(t, d.Sock, "snap", "the start-up run", func(j controlapi.JobStatus) bool { return j.LastRun != nil })
	if snap.LastRun.Result != controlapi.ResultFailure || !strings.Contains(snap.LastRun.Error, tokenFile) {
		t.Fatalf("start-up run without its token file: %+v", snap.LastRun)
	}
	st := fetchStatus(t, d.Sock)
	back := jobStatus(t, st, "back")
	if !strings.Contains(snap.Problem, tokenFile) || !strings.Contains(back.Problem, "RAFTSNAP_TEST_UNSET_TOKEN") {
		t.Fatalf("problems: snap %q, back %q", snap.Problem, back.Problem)
	}
	if jobStatus(t, st, "prune").Problem != "" {
		t.Fatal("a job with no source shows a problem")
	}
	for job, want := range map[string]float64{"snap": 0, "back": 0} {
		if v := scrapeMetric(t, d, "raftsnap_job_source_ready", map[string]string{"job_name": job}); v != want {
			t.Errorf("raftsnap_job_source_ready{job_name=%s} = %v, want %v", job, v, want)
		}
	}
	if v := scrapeMetric(t, d, "raftsnap_job_failures_total", map[string]string{"job_name": "snap", "reason": "permanent"}); v != 1 {
		t.Errorf("failures{reason=permanent} = %v, want 1", v)
	}
	dump := mustRS(t, "status", "--mode", "dump", "--socket", d.Sock).Stdout
	if !strings.Contains(dump, "problem") || !strings.Contains(dump, "RAFTSNAP_TEST_UNSET_TOKEN") {
		t.Fatalf("the dump does not show the problem:\n%s", dump)
	}

	// The token arrives: the next run reads it, no reload.
	writeFile(t, tokenFile, "s3cret-raft-token\n", 0o600)
	r := mustRS(t, "signal", "wakeup", "snap", "--wait", "--socket", d.Sock)
	if !strings.Contains(r.Stdout, "OK") {
		t.Fatalf("run after the token file appeared: %s", r)
	}
	snap = jobStatus(t, fetchStatus(t, d.Sock), "snap")
	if snap.Problem != "" || scrapeMetric(t, d, "raftsnap_job_source_ready", map[string]string{"job_name": "snap"}) != 1 {
		t.Fatalf("the problem stays after a good run: %q", snap.Problem)
	}
	// Rotated to a wrong one: the next run uses it (and fails with 401).
	writeFile(t, tokenFile, "rotated-but-wrong\n", 0o600)
	if r := rs(t, "signal", "wakeup", "snap", "--wait", "--socket", d.Sock); r.Code != 1 || !strings.Contains(r.Stdout, "401") {
		t.Fatalf("run after the token was rotated: %s", r)
	}
	for _, out := range []string{d.Output(), dump} {
		if strings.Contains(out, "s3cret-raft-token") || strings.Contains(out, "rotated-but-wrong") {
			t.Fatal("a token reached the log or the status")
		}
	}
}
