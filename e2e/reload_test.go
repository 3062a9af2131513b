package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
)

const (
	reloadGlobal = `{control: {sockpath: %[1]s/%[3]s/sock}, monitoring: {listen: "127.0.0.1:0"}, shutdown_timeout: 5s}`
	reloadKeep   = `{name: keep, type: prune, store: {path: %[1]s/store}, interval: 1h, pruning: {keep: [{last_n: {count: 5}}]}}`
	reloadSlow   = `{name: slow, type: snapshot, source: {type: raft, address: %[2]s, token_file: %[1]s/token}, interval: %[4]s, retries: {max: 0}, store: {path: %[1]s/slowstore}, pruning: {keep: [{last_n: {count: 10}}]}}`
)

// Before: keep, slow (every hour) and drop. After: keep is byte-for-byte
// the same, slow has a new interval, drop is gone, added is new; sockpath
// changes too, which needs a restart. Broken: line 3 (keep) has an
// interval that is not a duration, and a newcomer follows.
var (
	reloadBefore = []string{reloadKeep, reloadSlow,
		`{name: drop, type: prune, store: {path: %[1]s/store}, interval: 1h, pruning: {keep: [{last_n: {count: 3}}]}}`}
	reloadAfter = []string{reloadKeep, reloadSlow,
		`{name: added, type: prune, store: {path: %[1]s/store}, interval: 1h, pruning: {keep: [{last_n: {count: 7}}]}}`}
	reloadBroken = []string{
		`{name: keep, type: prune, store: {path: %[1]s/store}, pruning: {keep: [{last_n: {count: 5}}]}, interval: five minutes}`,
		`{name: newcomer, type: prune, store: {path: %[1]s/store}, interval: 1h, pruning: {keep: [{last_n: {count: 1}}]}}`}
)

var (
	reloadedLine     = regexp.MustCompile(`msg="configuration reloaded".*added=(\S*) changed=(\S*) removed=(\S*) unchanged=(\d+)`)
	reloadFailedLine = regexp.MustCompile(`msg="configuration reload failed: the running configuration stays in force"`)
)

// TestDaemonReloadOnSIGHUP drives a running daemon binary through a good
// reload (a job added, one changed while it downloads, one removed, one
// untouched) and a bad one (refused, the old jobs keep running).
func TestDaemonReloadOnSIGHUP(t *testing.T) {
	token := "reload-token-" + randomText(t, 24)
	cluster := startCluster(t, token)
	for i := range 40 {
		if err := cluster.Put(t.Context(), fmt.Sprintf("key-%03d", i), randomText(t, 10<<10)); err != nil {
			t.Fatal(err)
		}
	}
	proxy := newTrickleProxy(t, leader(t, cluster).HTTPAddr)

	dir := shortTempDir(t)
	writeFile(t, filepath.Join(dir, "token"), token+"\n", 0o600)
	configPath := filepath.Join(dir, "raftsnap.yml")
	writeConfig(t, dir, reloadGlobal, reloadBefore, proxy, "control", "1h")
	d := startDaemon(t, configPath)
	sock := d.Sock

	// keep gets a history to prove it survives; slow is mid-download.
	mustRS(t, "signal", "wakeup", "keep", "--wait", "--socket", sock)
	keepBefore := jobStatus(t, fetchStatus(t, sock), "keep")
	if len(keepBefore.History) == 0 {
		t.Fatalf("keep has no history after a wakeup --wait: %+v", keepBefore)
	}
	mustRS(t, "signal", "wakeup", "slow", "--socket", sock)
	awaitStatus(t, sock, "slow", "a download in progress", runningWithBytes)
	slowStore := filepath.Join(dir, "slowstore")
	partsBefore := awaitPartFiles(t, slowStore)
	if v := scrapeMetric(t, d, "raftsnap_config_last_reload_successful", nil); v != 1 {
		t.Errorf("raftsnap_config_last_reload_successful at start = %v, want 1", v)
	}

	writeConfig(t, dir, reloadGlobal, reloadAfter, proxy, "elsewhere", "2h")
	if err := d.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	m := d.WaitOutput(t, d.Stderr, reloadedLine, 30*time.Second)
	if m[1] != "added" || m[2] != "slow" || m[3] != "drop" || m[4] != "1" {
		t.Errorf("reload log line: added=%q changed=%q removed=%q unchanged=%s; want added, slow, drop, 1", m[1], m[2], m[3], m[4])
	}
	if !strings.Contains(d.Stderr.String(), "global.control.sockpath changed; it takes effect only after a restart") {
		t.Errorf("no warning that the socket path needs a restart:\n%s", d.Stderr)
	}

	st := rawStatus(t, sock)
	if got, want := jobNames(st), []string{"keep", "slow", "added"}; !slices.Equal(got, want) {
		t.Fatalf("jobs after reload %v, want %v", got, want)
	}
	keepAfter := jobStatus(t, st, "keep")
	if len(keepAfter.History) != len(keepBefore.History) || !keepAfter.History[0].StartedAt.Equal(keepBefore.History[0].StartedAt) {
		t.Errorf("the unchanged job lost its history: before %+v, after %+v", keepBefore.History, keepAfter.History)
	}
	// The changed job starts afresh (with no snapshot yet, its catch-up
	// run may already be downloading anew); the old run was canceled.
	if slow := jobStatus(t, st, "slow"); len(slow.History) != 0 {
		t.Errorf("the changed job kept the old job's history: %+v", slow.History)
	}
	if !regexp.MustCompile(`msg="run finished" job=slow run=\S+ result=canceled .*err="canceled: the job is stopping"`).MatchString(d.Stderr.String()) {
		t.Errorf("no canceled run of the changed job in the log:\n%s", d.Stderr)
	}
	for _, part := range partFiles(t, slowStore) {
		if slices.Contains(partsBefore, part) {
			t.Errorf("the canceled download of the changed job left its temp file %s", part)
		}
	}
	if c := st.Config; c == nil || c.LastReloadSuccessful == nil || !*c.LastReloadSuccessful || c.LastReloadError != "" ||
		!slices.Contains(c.LastReloadWarnings, "global.control.sockpath changed: needs a restart") {
		t.Errorf("status config block after a good reload: %+v", c)
	}
	if v := scrapeMetric(t, d, "raftsnap_config_last_reload_successful", nil); v != 1 {
		t.Errorf("raftsnap_config_last_reload_successful = %v after a good reload, want 1", v)
	}
	if v := scrapeMetric(t, d, "raftsnap_config_last_reload_success_timestamp_seconds", nil); v < float64(st.Config.LoadedAt.Unix()) {
		t.Errorf("reload success timestamp %v is before the reload at %v", v, st.Config.LoadedAt)
	}
	if _, ok := d.MetricFamilies(t)["raftsnap_job_failures_total"]; !ok {
		t.Fatal("no raftsnap_job_failures_total family")
	} else if hasSeries(t, d, "raftsnap_job_failures_total", map[string]string{"job_name": "drop"}) {
		t.Error("the removed job's series are still exported")
	}
	// The new jobs answer signals at once.
	mustRS(t, "signal", "wakeup", "added", "--wait", "--socket", sock)

	// A broken file is refused; everything keeps running as it was.
	writeConfig(t, dir, reloadGlobal, reloadBroken, "", "control")
	if err := d.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.WaitOutput(t, d.Stderr, reloadFailedLine, 30*time.Second)
	st = rawStatus(t, sock)
	if got, want := jobNames(st), []string{"keep", "slow", "added"}; !slices.Equal(got, want) {
		t.Errorf("jobs after a refused reload %v, want the old ones %v", got, want)
	}
	c := st.Config
	if c == nil || c.LastReloadSuccessful == nil || *c.LastReloadSuccessful {
		t.Fatalf("status config block after a refused reload: %+v", c)
	}
	if !regexp.MustCompile(regexp.QuoteMeta(configPath) + `:3:\d+: .*interval`).MatchString(c.LastReloadError) {
		t.Errorf("last_reload_error does not name file:line:col and the key: %q", c.LastReloadError)
	}
	if v := scrapeMetric(t, d, "raftsnap_config_last_reload_successful", nil); v != 0 {
		t.Errorf("raftsnap_config_last_reload_successful = %v after a refused reload, want 0", v)
	}
	mustRS(t, "signal", "wakeup", "keep", "--wait", "--socket", sock)

	if err := d.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.ExitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("daemon exited %d after SIGTERM:\n%s", code, d.Output())
	}
	if strings.Contains(d.Output(), token) {
		t.Error("the token appears in the daemon's output")
	}
}

// rawStatus is `raftsnap status --mode raw`, decoded.
func rawStatus(t *testing.T, sock string) controlapi.DaemonStatus {
	t.Helper()
	r := mustRS(t, "status", "--mode", "raw", "--socket", sock)
	var st controlapi.DaemonStatus
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatalf("status --mode raw is not the status JSON: %v\n%s", err, r.Stdout)
	}
	return st
}

func jobNames(st controlapi.DaemonStatus) []string {
	names := make([]string, len(st.Jobs))
	for i, j := range st.Jobs {
		names[i] = j.Name
	}
	return names
}

func hasSeries(t *testing.T, d *daemonProc, family string, labels map[string]string) bool {
	t.Helper()
	_, ok := metricValue(d.MetricFamilies(t)[family], labels)
	return ok
}
