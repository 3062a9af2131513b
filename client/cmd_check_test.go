package client

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
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
		{"unknown job", 20 * time.Minute, false, "", []string{"--job", "nope"}, 3, "RAFTSNAP UNKNOWN - no scheduled or drill job named nope (jobs: consul-main)"},
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

// checkStore opens a local store in a temporary directory and writes a
// configuration beside it: an hourly consul-main snapshot job into that
// store keeping keep (a YAML list body), followed by the jobs in more.
// It returns the store (closed at the test's end) and the configuration.
func checkStore(t *testing.T, keep, more string) (*store.Local, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "store"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, writeConsulMainConfig(t, dir, "store: {path: "+filepath.Join(dir, "store")+"}", keep, more)
}

// TestCheckFromStore: with the daemon down, a monitoring host checks the
// store itself.
func TestCheckFromStore(t *testing.T) {
	st, cfg := checkStore(t, `{last_n: {count: 3}}`, "")
	wantResult(t, raftsnap(t, "check", "--from-store", "--config", cfg), 2, "RAFTSNAP CRITICAL - consul-main never succeeded", "")
	storetest.Commit(t, st, "consul-main", 2, 10, time.Now().Add(-3*time.Hour))
	storetest.Commit(t, st, "other-job", 2, 99, time.Now())
	wantResult(t, raftsnap(t, "check", "--from-store", "--config", cfg), 2, "consul-main last succeeded 3h0m0s ago (crit 2h0m0s)", "")
	storetest.Commit(t, st, "consul-main", 2, 11, time.Now().Add(-5*time.Minute))
	wantResult(t, raftsnap(t, "check", "--from-store", "--config", cfg), 0, "RAFTSNAP OK - 1 jobs fresh | 'consul-main_age'=300s;5400;7200;0", "")
}

// drillDaemon serves a daemon (up a day) whose daily drill job's last
// conclusive drill is last (none when nil), whose last ok drill was okAgo
// before its now (never when 0), and whose last run is run (none when nil).
func drillDaemon(t *testing.T, last *controlapi.DrillOutcome, okAgo time.Duration, run *controlapi.RunReport) string {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := controlapi.JobStatus{Name: "consul-drill", Type: "drill", State: controlapi.StateWaiting, IntervalSeconds: 86400,
		History: []controlapi.RunReport{}, LastDrill: last, LastRun: run}
	if okAgo > 0 {
		ok := t0.Add(-okAgo)
		st.LastSuccessAt = &ok
	}
	fresh := t0.Add(-10 * time.Minute)
	snap := controlapi.JobStatus{Name: "consul-main", Type: "snapshot", State: controlapi.StateWaiting, IntervalSeconds: 3600,
		LastSuccessAt: &fresh, History: []controlapi.RunReport{}}
	jobs := &scriptedJobs{Header: controlapi.DaemonStatus{Schema: 1, StartedAt: t0.Add(-72 * time.Hour), Now: t0},
		Jobs: []*scriptedJob{{Base: fakejobs.Base{JobName: "consul-main", JobType: "snapshot"}, status: snap},
			{Base: fakejobs.Base{JobName: "consul-drill", JobType: "drill"}, status: st}}}
	return startControlServer(t, jobs)
}

// TestCheckDrills: the last drill's outcome and age, from the socket.
func TestCheckDrills(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ok := &controlapi.DrillOutcome{Snapshot: "consul-main-1.snap", Result: controlapi.DrillOK, At: t0.Add(-2 * time.Hour)}
	failed := &controlapi.DrillOutcome{Snapshot: "consul-main-2.snap", Result: controlapi.DrillFailed, At: t0.Add(-time.Hour),
		Reason: "KV keys: 3 in the archive, 2 on the restored server"}
	couldNot := &controlapi.RunReport{ID: "7", Result: controlapi.ResultFailure, Error: "cannot drill consul-main-3.snap: binary /usr/bin/consul does not exist",
		Drill: &controlapi.DrillReport{Outcome: controlapi.DrillError}}
	for _, c := range []struct {
		name       string
		last       *controlapi.DrillOutcome
		okAgo      time.Duration
		run        *controlapi.RunReport
		args       []string
		code       int
		wantStdout string
	}{
		{"ok", ok, 2 * time.Hour, nil, nil, 0, "RAFTSNAP OK - 1 jobs fresh, 1 drills ok | 'consul-main_age'=600s;5400;7200;0 'consul-drill_drill_age'=7200s;129600;172800;0\n"},
		{"failed", failed, 26 * time.Hour, nil, nil, 2, "RAFTSNAP CRITICAL - drill consul-drill failed on consul-main-2.snap 1h0m0s ago: KV keys: 3 in the archive, 2 on the restored server |"},
		{"old", ok, 40 * time.Hour, nil, nil, 1, "RAFTSNAP WARNING - drill consul-drill last proved a snapshot restorable 40h0m0s ago (warn 36h0m0s)"},
		{"too old", ok, 50 * time.Hour, nil, nil, 2, "(crit 48h0m0s)"},
		{"never", nil, 0, nil, nil, 2, "RAFTSNAP CRITICAL - drill consul-drill has proven no snapshot restorable yet"},
		{"could not run", ok, 2 * time.Hour, couldNot, nil, 1, "RAFTSNAP WARNING - drill consul-drill could not run: cannot drill consul-main-3.snap: binary /usr/bin/consul does not exist"},
		{"thresholds", ok, 2 * time.Hour, nil, []string{"--job", "consul-drill", "--drill-warn", "30m", "--drill-crit", "1h"}, 2, "RAFTSNAP CRITICAL - drill consul-drill last proved a snapshot restorable 2h0m0s ago (crit 1h0m0s) | 'consul-drill_drill_age'=7200s;1800;3600;0\n"},
		{"one snapshot job", failed, 0, nil, []string{"--job", "consul-main"}, 0, "RAFTSNAP OK - 1 jobs fresh |"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sock := drillDaemon(t, c.last, c.okAgo, c.run)
			r := raftsnap(t, append([]string{"check", "--socket", sock}, c.args...)...)
			wantResult(t, r, c.code, c.wantStdout, "")
		})
	}
}

// TestCheckDrillsFromStore: with the daemon down, the drill outcomes come
// from the snapshots' records.
func TestCheckDrillsFromStore(t *testing.T) {
	st, cfg := checkStore(t, `{last_n: {count: 3}}, {last_drilled: {count: 1}}`, `  - name: consul-drill
    type: drill
    from_job: consul-main
    binary: /usr/bin/consul
`)
	older := storetest.Commit(t, st, "consul-main", 2, 10, time.Now().Add(-3*time.Hour))
	newest := storetest.Commit(t, st, "consul-main", 2, 11, time.Now().Add(-5*time.Minute))
	wantResult(t, raftsnap(t, "check", "--from-store", "--config", cfg), 2, "RAFTSNAP CRITICAL - drill consul-drill has proven no snapshot restorable yet", "")

	record := func(e store.Entry, result, reason string, ago time.Duration) {
		t.Helper()
		e.Drill = &store.DrillRecord{Job: "consul-drill", Result: result, Reason: reason, At: time.Now().Add(-ago), Duration: 3}
		if err := st.Update(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	record(older, store.DrillOK, "", 3*24*time.Hour)
	wantResult(t, raftsnap(t, "check", "--from-store", "--config", cfg), 0,
		"RAFTSNAP OK - 1 jobs fresh, 1 drills ok | 'consul-main_age'=300s;5400;7200;0 'consul-drill_drill_age'=259200s;907200;1209600;0\n", "")
	record(newest, store.DrillFailed, "jobs: 4 in the archive, 3 on the restored server", time.Minute)
	r := raftsnap(t, "check", "--from-store", "--config", cfg)
	wantResult(t, r, 2, "RAFTSNAP CRITICAL - drill consul-drill failed on "+newest.Name+" 1m0s ago: jobs: 4 in the archive, 3 on the restored server", "")
	wantResult(t, raftsnap(t, "check", "--from-store", "--config", cfg, "--drill-crit", "48h"), 2, "failed on", "")
}

// TestCheckStoreLocation: a monitoring host with only a bucket's
// credentials checks it by URL, without any configuration (versitygw).
func TestCheckStoreLocation(t *testing.T) {
	gw := versityBackups(t)
	loc := "s3://backups/consul/?endpoint=" + gw.Endpoint + "&region=us-east-1&use_path_style=true"
	dir := t.TempDir()

	wantResult(t, raftsnap(t, "check", "--store", loc), 3, "RAFTSNAP UNKNOWN - --store needs --crit", "")
	wantResult(t, raftsnap(t, "check", "--store", loc, "--crit", "2h"), 3, "RAFTSNAP UNKNOWN - s3://backups/consul/ holds no snapshot", "")

	old, _ := writeStoreArchive(t, dir, "old.snap", "consul-main", 10, time.Now().Add(-3*time.Hour))
	mustRaftsnap(t, "store", "put", "--store", loc, "--job", "consul-main", old)
	wantResult(t, raftsnap(t, "check", "--store", loc, "--crit", "2h"), 2, "RAFTSNAP CRITICAL - consul-main last succeeded 3h0m0s ago (crit 2h0m0s)", "")

	fresh, _ := writeStoreArchive(t, dir, "fresh.snap", "consul-main", 11, time.Now().Add(-5*time.Minute))
	mustRaftsnap(t, "store", "put", "--store", loc, "--job", "consul-main", fresh)
	other, _ := writeStoreArchive(t, dir, "other.snap", "nomad-main", 3, time.Now().Add(-time.Hour))
	mustRaftsnap(t, "store", "put", "--store", loc, "--job", "nomad-main", other)
	wantResult(t, raftsnap(t, "check", "--store", loc, "--job", "consul-main", "--crit", "2h"), 0,
		"RAFTSNAP OK - 1 jobs fresh | 'consul-main_age'=300s;5400;7200;0", "")
	// Every job of the store, --warn from --crit: nomad-main is 1h old, past 3/4 of 1h20m.
	wantResult(t, raftsnap(t, "check", "--store", loc, "--crit", "80m"), 1, "RAFTSNAP WARNING - nomad-main last succeeded 1h0m0s ago (warn 1h0m0s)", "")
	r := raftsnap(t, "check", "--store", loc, "--crit", "2h", "--from-store")
	if r.Code == 0 {
		t.Errorf("--store with --from-store: %s", r)
	}
	if strings.Contains(r.Stdout+r.Stderr, gw.SecretKey) {
		t.Errorf("the secret appeared: %s", r)
	}
}
