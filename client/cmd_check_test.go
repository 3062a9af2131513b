package client

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/fakejobs"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// checkDaemon serves a daemon whose one hourly snapshot job last succeeded
// ago before the daemon's now (never, when ago is 0), its last run failed
// or not.
func checkDaemon(t *testing.T, ago time.Duration, lastFailed bool, problem string) string {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := controlapi.JobStatus{Name: "consul-main", Type: "snapshot", State: controlapi.StateWaiting, IntervalSeconds: 3600, Problem: problem,
		History: []controlapi.RunReport{}}
	if ago > 0 {
		t := t0.Add(-ago)
		st.LastSuccessAt = &t
	}
	if lastFailed {
		st.LastRun = &controlapi.RunReport{ID: "9", Result: controlapi.ResultFailure, Error: "403 from consul: ACL not found"}
	}
	restore := controlapi.JobStatus{Name: "back", Type: "restore", State: controlapi.StateIdle, History: []controlapi.RunReport{}}
	jobs := &scriptedJobs{Header: controlapi.DaemonStatus{Schema: 1, StartedAt: t0.Add(-24 * time.Hour), Now: t0},
		Jobs: []*scriptedJob{{Base: fakejobs.Base{JobName: "consul-main", JobType: "snapshot"}, status: st},
			{Base: fakejobs.Base{JobName: "back", JobType: "restore"}, status: restore}}}
	return startControlServer(t, jobs)
}

// TestCheckExitCodes: the monitoring-plugins convention, one line with
// performance data, from the daemon's socket.
func TestCheckExitCodes(t *testing.T) {
	for _, c := range []struct {
		name       string
		ago        time.Duration
		failed     bool
		problem    string
		args       []string
		code       int
		wantStdout string
	}{
		{"fresh", 20 * time.Minute, false, "", nil, 0, "RAFTSNAP OK - 1 jobs fresh | 'consul-main_age'=1200s;5400;7200;0\n"},
		{"warning by age", 100 * time.Minute, false, "", nil, 1, "RAFTSNAP WARNING - consul-main last succeeded 1h40m0s ago (warn 1h30m0s) | 'consul-main_age'=6000s;5400;7200;0\n"},
		{"critical by age", 3 * time.Hour, false, "", nil, 2, "RAFTSNAP CRITICAL - consul-main last succeeded 3h0m0s ago (crit 2h0m0s)"},
		{"never", 0, false, "", nil, 2, "RAFTSNAP CRITICAL - consul-main never succeeded\n"},
		{"last run failed", 20 * time.Minute, true, "", nil, 1, "RAFTSNAP WARNING - consul-main last run failed: 403 from consul: ACL not found"},
		{"problem", 20 * time.Minute, false, "cannot read its token file", nil, 1, "RAFTSNAP WARNING - consul-main: cannot read its token file"},
		{"thresholds given", 20 * time.Minute, false, "", []string{"--warn", "10m", "--crit", "15m"}, 2, "crit 15m0s"},
		{"unknown job", 20 * time.Minute, false, "", []string{"--job", "nope"}, 3, "RAFTSNAP UNKNOWN - no scheduled job named nope (jobs: consul-main)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sock := checkDaemon(t, c.ago, c.failed, c.problem)
			r := raftsnap(t, append([]string{"check", "--socket", sock}, c.args...)...)
			wantResult(t, r, c.code, c.wantStdout, "")
		})
	}
	r := raftsnap(t, "check", "--socket", filepath.Join(t.TempDir(), "none"))
	wantResult(t, r, 3, "RAFTSNAP UNKNOWN - no raftsnap daemon is listening on", "")
}

// TestCheckFromStore: with the daemon down, a monitoring host checks the
// store itself.
func TestCheckFromStore(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "store"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := filepath.Join(dir, "raftsnap.yml")
	testkit.WriteFile(t, cfg, `jobs:
  - name: consul-main
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8500}
    interval: 1h
    store: {path: `+filepath.Join(dir, "store")+`}
    pruning: {keep: [{last_n: {count: 3}}]}
`, 0o600)
	wantResult(t, raftsnap(t, "check", "--from-store", "--config", cfg), 2, "RAFTSNAP CRITICAL - consul-main never succeeded", "")
	storetest.Commit(t, st, "consul-main", 2, 10, time.Now().Add(-3*time.Hour))
	storetest.Commit(t, st, "other-job", 2, 99, time.Now())
	wantResult(t, raftsnap(t, "check", "--from-store", "--config", cfg), 2, "consul-main last succeeded 3h0m0s ago (crit 2h0m0s)", "")
	storetest.Commit(t, st, "consul-main", 2, 11, time.Now().Add(-5*time.Minute))
	wantResult(t, raftsnap(t, "check", "--from-store", "--config", cfg), 0, "RAFTSNAP OK - 1 jobs fresh | 'consul-main_age'=300s;5400;7200;0", "")
}
