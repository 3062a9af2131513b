package client

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// writePruningConfig writes a configuration with a snapshot job "consul"
// (grid + last_n + regex), a prune job "sweeper" owning "consul" and
// "legacy" in the same store, and a restore job.
func writePruningConfig(t *testing.T, storeDir string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raftsnap.yml")
	yml := fmt.Sprintf(`jobs:
  - name: consul
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8500}
    interval: 1h
    store: {path: %[1]s}
    pruning:
      keep:
        - grid: "1x1h(keep=all) | 3x1h | 2x1d"
        - last_n: {count: 2}
        - regex: {regex: "^manual-|T03[0-9]{4}Z"}
  - name: sweeper
    type: prune
    interval: 1h
    store: {path: %[1]s}
    owners: [consul, legacy]
    pruning:
      keep:
        - last_n: {count: 1}
  - name: back
    type: restore
    from_job: consul
    snapshot: latest
    target: {type: consul, address: http://127.0.0.1:8600}
`, storeDir)
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const pruningNow = "2026-11-20T12:00:00Z"

func writeTimes(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "times.txt")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTestPruningOverSnapshotsFile(t *testing.T) {
	cfg := writePruningConfig(t, filepath.Join(t.TempDir(), "store"))
	times := writeTimes(t,
		"# a preview of the policy",
		"2026-11-20T11:40:00Z",
		"2026-11-20T10:20:00Z   hourly-a",
		"",
		"2026-11-20T09:40:00Z hourly-b",
		"2026-11-20T09:10:00Z hourly-c",
		"2026-11-19T03:00:00Z manual-before-upgrade",
		"2026-11-10T00:00:00Z ancient",
		"2026-11-21T00:00:00Z skewed",
	)
	r := mustRaftsnap(t, "test", "pruning", "--config", cfg, "--job", "consul", "--snapshots", times, "--now", pruningNow)
	for _, want := range []string{
		"job:     consul (snapshot)",
		"policy:  grid 1x1h(keep=all) | 3x1h | 2x1d; last_n 2; regex \"^manual-|T03[0-9]{4}Z\"",
		"KEEP      2026-11-21T00:00:00Z  skewed                 0/0         yes       future-dated (clock skew)",
		"KEEP      2026-11-20T11:40:00Z  2026-11-20T11:40:00Z   0/0         yes       newest verified; grid bucket 1 of 1x1h(keep=all); last 2",
		"KEEP      2026-11-20T10:20:00Z  hourly-a               0/0         yes       grid bucket 1 of 3x1h; last 2",
		"KEEP      2026-11-20T09:40:00Z  hourly-b               0/0         yes       grid bucket 2 of 3x1h",
		"DESTROY   2026-11-20T09:10:00Z  hourly-c               0/0         yes       no rule keeps it",
		"KEEP      2026-11-19T03:00:00Z  manual-before-upgrade  0/0         yes       grid bucket 2 of 2x1d; regex \"^manual-|T03[0-9]{4}Z\"",
		"DESTROY   2026-11-10T00:00:00Z  ancient                0/0         yes       no rule keeps it",
		"7 snapshots: 5 kept, 2 destroyed; 0 foreign files ignored",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.Stdout)
		}
	}
}

func TestTestPruningJSON(t *testing.T) {
	cfg := writePruningConfig(t, filepath.Join(t.TempDir(), "store"))
	times := writeTimes(t, "2026-11-20T11:00:00Z a", "2026-11-20T10:00:00Z b", "2026-11-20T09:00:00Z c")
	r := mustRaftsnap(t, "test", "pruning", "--config", cfg, "--job", "sweeper", "--snapshots", times, "--now", pruningNow, "--format", "json")
	var report pruningReport
	if err := json.Unmarshal([]byte(r.Stdout), &report); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.Stdout)
	}
	if report.Job != "sweeper" || report.JobType != "prune" || report.Policy != "last_n 1" || !report.Now.Equal(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("header: %+v", report)
	}
	var got []string
	for _, d := range report.Decisions {
		got = append(got, fmt.Sprintf("%s %v %s", d.Name, d.Keep, strings.Join(d.Reasons, "; ")))
	}
	want := []string{"a true newest verified; last 1", "b false no rule keeps it", "c false no rule keeps it"}
	if !slices.Equal(got, want) {
		t.Errorf("decisions %q, want %q", got, want)
	}
	if report.Summary != (pruningSummaryJSON{Snapshots: 3, Kept: 1, Destroyed: 2}) {
		t.Errorf("summary %+v", report.Summary)
	}
	if !strings.Contains(r.Stdout, `"snapshots_file"`) || !strings.Contains(r.Stdout, `"foreign": []`) {
		t.Errorf("JSON keys: %s", r.Stdout)
	}
}

func TestTestPruningOverStoreIsReadOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	commit := func(job string, created time.Time, index uint64) string {
		t.Helper()
		return storetest.CommitFake(t, st, job, 2, index, created, []byte(fmt.Sprintf("archive of %s at %d", job, index))).Name
	}
	base := time.Date(2026, 11, 20, 11, 30, 0, 0, time.UTC)
	newest := commit("consul", base, 300)
	older := commit("consul", base.Add(-5*time.Hour), 200)
	oldest := commit("consul", base.Add(-50*time.Hour), 100)
	other := commit("nomad", base.Add(-time.Hour), 50)
	legacy := commit("legacy", base.Add(-2*time.Hour), 40)
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hand-written"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A write in progress, as a running daemon would have: a dry run must
	// not remove it (store.Open would).
	inProgress, err := st.Create(context.Background(), "consul", store.NewName("consul", base, 400, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inProgress.Abort() })
	before := testkit.TreeDigest(t, dir)

	cfg := writePruningConfig(t, dir)
	r := mustRaftsnap(t, "test", "pruning", "--config", cfg, "--job", "consul", "--now", pruningNow)
	for _, want := range []string{
		"from:    store " + dir,
		"KEEP      2026-11-20T11:30:00Z  " + newest,
		"KEEP      2026-11-20T06:30:00Z  " + older,
		"DESTROY   2026-11-18T09:30:00Z  " + oldest,
		"IGNORED  " + other + ": foreign, ignored (snapshot of job nomad)",
		"IGNORED  " + legacy + ": foreign, ignored (snapshot of job legacy)",
		"IGNORED  notes.txt: foreign, ignored (not a snapshot with a sidecar)",
		"IGNORED  " + filepath.Base(inProgress.(interface{ TempName() string }).TempName()) + ": foreign, ignored (temp file: a write in progress, or left by a crash)",
		"3 snapshots: 2 kept, 1 destroyed; 4 foreign files ignored",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if after := testkit.TreeDigest(t, dir); after != before {
		t.Errorf("the dry run changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// The prune job owns consul's and legacy's snapshots, not nomad's, and
	// plans each job's on their own (job by job, newest first): legacy's
	// only snapshot is its newest verified.
	r = mustRaftsnap(t, "test", "pruning", "--config", cfg, "--job", "sweeper", "--now", pruningNow, "--format", "json")
	var report pruningReport
	if err := json.Unmarshal([]byte(r.Stdout), &report); err != nil {
		t.Fatal(err)
	}
	var considered []string
	for _, d := range report.Decisions {
		considered = append(considered, fmt.Sprintf("%s %v", d.Name, d.Keep))
	}
	if want := []string{newest + " true", older + " false", oldest + " false", legacy + " true"}; !slices.Equal(considered, want) {
		t.Errorf("prune job decided %v, want %v", considered, want)
	}

	// The read-only listing agrees with the store's own.
	entries, _, err := st.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ro, err := openStoreReadOnly(&config.Store{Path: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mine, _, err := ro.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != len(entries) {
		t.Fatalf("read-only listing has %d entries, store.List %d", len(mine), len(entries))
	}
	for _, e := range entries {
		if !slices.ContainsFunc(mine, func(m store.Entry) bool { return m.Name == e.Name && m.CreatedAt.Equal(e.CreatedAt) }) {
			t.Errorf("store lists %s, the read-only listing does not", e.Name)
		}
	}
}

func TestTestPruningErrors(t *testing.T) {
	storeDir := filepath.Join(t.TempDir(), "store")
	cfg := writePruningConfig(t, storeDir)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no job", []string{"--config", cfg}, ExitUsage, "--job is required"},
		{"unknown job", []string{"--config", cfg, "--job", "vault"}, ExitUsage, "no job named vault; jobs with a pruning policy: consul, sweeper"},
		{"restore job", []string{"--config", cfg, "--job", "back"}, ExitUsage, "job back is a restore job: it has no pruning policy"},
		{"bad now", []string{"--config", cfg, "--job", "consul", "--now", "yesterday"}, ExitUsage, `invalid --now "yesterday"`},
		{"bad format", []string{"--config", cfg, "--job", "consul", "--format", "yaml"}, ExitUsage, `invalid --format "yaml"`},
		{"bad timestamp", []string{"--config", cfg, "--job", "consul", "--snapshots",
			writeTimes(t, "# header", "2026-11-20T11:00:00Z a", "2026-13-01T00:00:00Z b")}, ExitUsage,
			`times.txt:3: "2026-13-01T00:00:00Z" is not an RFC 3339 timestamp`},
		{"extra field", []string{"--config", cfg, "--job", "consul", "--snapshots",
			writeTimes(t, "2026-11-20T11:00:00Z a b")}, ExitUsage, `times.txt:1: unexpected "b" after the name`},
		{"empty list", []string{"--config", cfg, "--job", "consul", "--snapshots", writeTimes(t, "# nothing")}, ExitUsage, "lists no snapshots"},
		{"missing list", []string{"--config", cfg, "--job", "consul", "--snapshots", filepath.Join(storeDir, "nope.txt")}, ExitError, "reading --snapshots"},
		{"store not written yet", []string{"--config", cfg, "--job", "consul"}, ExitError, "does not exist: the job has not written a snapshot yet"},
		{"missing config", []string{"--config", filepath.Join(storeDir, "none.yml"), "--job", "consul"}, ExitError, "reading configuration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := raftsnap(t, append([]string{"test", "pruning", "--now", pruningNow}, c.args...)...)
			if r.Code != c.code || !strings.Contains(r.Stderr, c.want) {
				t.Fatalf("want exit %d with %q; got %s", c.code, c.want, r)
			}
		})
	}
	if _, err := os.Stat(storeDir); !os.IsNotExist(err) {
		t.Errorf("the dry run created the store directory (err %v)", err)
	}
}

func TestTestPruningRejectsInvalidPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raftsnap.yml")
	yml := `jobs:
  - name: consul
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8500}
    interval: 1h
    store: {path: /tmp/never-used}
    pruning:
      keep:
        - grid: "1x1h | 24x1y"
`
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	r := raftsnap(t, "test", "pruning", "--config", path, "--job", "consul")
	if r.Code != ExitUsage || !strings.Contains(r.Stderr, "raftsnap.yml:9:") || !strings.Contains(r.Stderr, `unknown unit "y"`) {
		t.Fatalf("want exit 2 naming the line and the grid problem; got %s", r)
	}
}
