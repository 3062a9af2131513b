package e2e

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit/daemonproc"
)

// TestMetricsListener (issue 13): /healthz and a landing page beside
// /metrics; every scheduled job exports its interval and next run, so the
// shipped freshness alert needs no hand-written rules; and a snapshot job's
// last success survives a restart, read from its newest snapshot.
func TestMetricsListener(t *testing.T) {
	c := startCluster(t, "")
	putRandom(t, c, "k%d", 1, 64)
	dir := shortTempDir(t)
	config := writeConfig(t, dir, controlAndMetrics, []string{
		`{name: snap, type: snapshot, source: {type: raft, address: %[2]s}, interval: 1h, store: {path: %[1]s/store}, pruning: {keep: [{last_n: {count: 5}}]}}`,
		pruneJob,
		`{name: back, type: restore, from_job: snap, allow_overwrite: true, target: {type: raft, address: %[2]s}}`,
	}, leader(t, c).HTTPAddr)

	// The collector's target: the daemon's default, whatever GOGC the test
	// runs with; after the restart, the operator's GOGC.
	cmd := daemonCommand(t, "--config", config)
	cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, "GOGC=") })
	d := daemonproc.Start(t, cmd)
	first := awaitStatus(t, d.Sock, "snap", "the start-up run", func(j controlapi.JobStatus) bool { return j.LastRun != nil })
	if first.LastRun.Result != controlapi.ResultSuccess {
		t.Fatalf("start-up run: %+v", first.LastRun)
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + d.MetricsAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, `href="/metrics"`) || !strings.Contains(body, `href="/healthz"`) {
		t.Fatalf("landing page = %d %q", code, body)
	}
	if code, _ := get("/nothing"); code != 404 {
		t.Fatalf("/nothing = %d, want 404", code)
	}
	for job, want := range map[string]float64{"snap": 3600, "prune": 3600} {
		if v := scrapeMetric(t, d, "raftsnap_job_interval_seconds", map[string]string{"job_name": job}); v != want {
			t.Errorf("interval of %s = %v, want %v", job, v, want)
		}
	}
	next := scrapeMetric(t, d, "raftsnap_job_next_run_timestamp_seconds", map[string]string{"job_name": "snap"})
	if want := float64(first.NextRunAt.UnixNano()) / 1e9; next < want-1 || next > want+1 {
		t.Errorf("next run of snap = %v, status says %v", next, want)
	}
	if _, ok := metricValue(d.MetricFamilies(t)["raftsnap_job_next_run_timestamp_seconds"], map[string]string{"job_name": "back"}); ok {
		t.Error("a restore job exports a next run")
	}
	if v := scrapeMetric(t, d, "go_gc_gogc_percent", nil); v != daemon.DefaultGCPercent {
		t.Errorf("GOGC of a daemon started without one = %v, want the default %d", v, daemon.DefaultGCPercent)
	}

	// Restart: the snapshot is younger than the interval, so no run starts;
	// its time is still the last success.
	if err := d.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	d.ExitCode(t, 30*time.Second)
	cmd = daemonCommand(t, "--config", config)
	cmd.Env = append(cmd.Env, "GOGC=80")
	d = daemonproc.Start(t, cmd)
	st := awaitStatus(t, d.Sock, "snap", "the schedule after the restart", func(j controlapi.JobStatus) bool { return j.NextRunAt != nil })
	if st.LastRun != nil || st.LastSuccessAt == nil {
		t.Fatalf("after the restart: last run %+v, last success %v; want no run and a last success", st.LastRun, st.LastSuccessAt)
	}
	if v := scrapeMetric(t, d, "go_gc_gogc_percent", nil); v != 80 {
		t.Errorf("GOGC of a daemon started with GOGC=80 = %v", v)
	}
	got := scrapeMetric(t, d, "raftsnap_job_last_success_timestamp_seconds", map[string]string{"job_name": "snap"})
	if want := float64(st.LastSuccessAt.UnixNano()) / 1e9; got < want-1 || got > want+1 {
		t.Fatalf("last success metric %v, status %v", got, want)
	}
	if since := time.Since(*st.LastSuccessAt); since < 0 || since > time.Minute {
		t.Fatalf("recovered last success %v is not the snapshot's time", st.LastSuccessAt)
	}
}
