// Package daemonproc runs `raftsnap daemon` as a child process for tests:
// started with a configuration, awaited by its "daemon started" log line,
// reached with the typed control client over its real socket, stopped
// with SIGTERM, its stderr kept for the test's checks.
package daemonproc

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit"
)

// StartTimeout bounds the wait for the "daemon started" line.
const StartTimeout = 30 * time.Second

// StartedLine is the daemon's start-up log line, with its socket and
// metrics address.
var StartedLine = regexp.MustCompile(`msg="daemon started".* socket=(\S+) metrics=(\S*)`)

// Daemon is a running `raftsnap daemon`.
type Daemon struct {
	*testkit.Process
	// Sock and MetricsAddr are what the start-up line announced (after
	// WaitStarted).
	Sock, MetricsAddr string
	// Client talks to Sock.
	Client *controlapi.Client
}

// Command is `bin daemon args...` in the test's environment, with
// RAFTSNAP_RAFT_TOKEN emptied: only the token files a configuration names
// count.
func Command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, append([]string{"daemon"}, args...)...)
	cmd.Env = append(os.Environ(), "RAFTSNAP_RAFT_TOKEN=")
	return cmd
}

// Spawn starts cmd (Command, or a daemon command wrapped in strace or
// another user's credentials) and returns at once.
func Spawn(t testing.TB, cmd *exec.Cmd) *Daemon {
	t.Helper()
	return &Daemon{Process: testkit.StartProcess(t, cmd)}
}

// Start spawns cmd and waits for the daemon to announce its socket.
func Start(t testing.TB, cmd *exec.Cmd) *Daemon {
	t.Helper()
	d := Spawn(t, cmd)
	d.WaitStarted(t, StartTimeout)
	return d
}

// WaitStarted waits for the "daemon started" line and sets Sock,
// MetricsAddr and Client from it.
func (d *Daemon) WaitStarted(t testing.TB, timeout time.Duration) {
	t.Helper()
	m := d.WaitOutput(t, d.Stderr, StartedLine, timeout)
	d.Sock, d.MetricsAddr = m[1], m[2]
	d.Client = controlapi.NewClient(d.Sock)
}

// callTimeout bounds one control call (a --wait signal included).
const callTimeout = 2 * time.Minute

// Status is the daemon's /status.
func (d *Daemon) Status(t testing.TB) controlapi.DaemonStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	st, err := d.Client.Status(ctx)
	if err != nil {
		t.Fatalf("GET /status: %v", err)
	}
	return st
}

// Job is one job's part of /status.
func (d *Daemon) Job(t testing.TB, name string) controlapi.JobStatus {
	t.Helper()
	return JobOf(t, d.Status(t), name)
}

// JobOf finds the named job in st.
func JobOf(t testing.TB, st controlapi.DaemonStatus, name string) controlapi.JobStatus {
	t.Helper()
	for _, j := range st.Jobs {
		if j.Name == name {
			return j
		}
	}
	t.Fatalf("job %s not in /status", name)
	return controlapi.JobStatus{}
}

// AwaitJob polls /status until cond holds for the named job (polling is
// the control API's only way to observe a state) and returns its status.
func (d *Daemon) AwaitJob(t testing.TB, name, what string, cond func(controlapi.JobStatus) bool) controlapi.JobStatus {
	t.Helper()
	var j controlapi.JobStatus
	if err := testkit.Poll(testkit.DefaultWait, func() bool {
		j = d.Job(t, name)
		return cond(j)
	}); err != nil {
		t.Fatalf("job %s: %s did not happen within %s; last status: %+v", name, what, testkit.DefaultWait, j)
	}
	return j
}

// RunningWithBytes is true while a run has transferred some bytes.
func RunningWithBytes(j controlapi.JobStatus) bool {
	return j.State == controlapi.StateRunning && j.Current != nil && j.Current.BytesDone > 0
}

// HasRun is true once the job has finished a run.
func HasRun(j controlapi.JobStatus) bool { return j.LastRun != nil }

// Signal sends op to the named job; with wait it returns the report of the
// run it caused.
func (d *Daemon) Signal(t testing.TB, name, op string, wait bool) controlapi.SignalResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := d.Client.Signal(ctx, controlapi.SignalRequest{Job: name, Op: op, Wait: wait})
	if err != nil {
		t.Fatalf("signal %s %s: %v", op, name, err)
	}
	if wait && resp.Run == nil {
		t.Fatalf("signal %s %s --wait answered without a run report: %+v", op, name, resp)
	}
	return resp
}

// Metrics scrapes the daemon's /metrics and returns the raw text.
func (d *Daemon) Metrics(t testing.TB) []byte {
	t.Helper()
	if d.MetricsAddr == "" {
		t.Fatal(`the "daemon started" line names no metrics address`)
	}
	resp, err := http.Get("http://" + d.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return body
}

// MetricFamilies scrapes /metrics and parses it.
func (d *Daemon) MetricFamilies(t testing.TB) map[string]*dto.MetricFamily {
	t.Helper()
	return ParseMetrics(t, d.Metrics(t))
}

// ParseMetrics parses Prometheus text.
func ParseMetrics(t testing.TB, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}

// MetricValue finds the series of mf whose labels include want and
// returns its value (a histogram's sample count).
func MetricValue(mf *dto.MetricFamily, want map[string]string) (float64, bool) {
	if mf == nil {
		return 0, false
	}
series:
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue series
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}
