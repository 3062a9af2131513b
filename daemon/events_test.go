package daemon

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/daemon/webhook"
)

// TestStaleAndReloadEvents: a scheduled job past two intervals is reported
// stale once until it succeeds again; a refused reload is reported; a job
// that never succeeded is stale two intervals after the daemon started.
func TestStaleAndReloadEvents(t *testing.T) {
	events := make(chan webhook.Event, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e webhook.Event
		body, _ := io.ReadAll(r.Body)
		if json.Unmarshal(body, &e) == nil {
			events <- e
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := webhook.New(ctx, []webhook.Config{{Name: "t", URL: srv.URL, MinSeverity: "info", Timeout: 5 * time.Second}}, "test", slog.New(slog.DiscardHandler), nil)
	e := newEvents(n)
	cfg := &config.Config{Jobs: []config.Job{
		{Name: "hourly", Type: config.JobSnapshot, Interval: config.Duration(time.Hour)},
		{Name: "never", Type: config.JobPrune, Interval: config.Duration(time.Hour)},
		{Name: "back", Type: config.JobRestore},
	}}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	old := now.Add(-3 * time.Hour)
	st := controlapi.DaemonStatus{StartedAt: now.Add(-90 * time.Minute), Jobs: []controlapi.JobStatus{
		{Name: "hourly", Type: "snapshot", LastSuccessAt: &old},
		{Name: "never", Type: "prune"},
		{Name: "back", Type: "restore"},
	}}
	next := func() webhook.Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(30 * time.Second):
			t.Fatal("no event")
			return webhook.Event{}
		}
	}
	e.checkStale(cfg, st, now)
	if ev := next(); ev.Event != config.EventSnapshotStale || ev.Job != "hourly" || ev.Message != "snapshot job hourly last succeeded 3h0m0s ago, more than two intervals (1h0m0s)" {
		t.Fatalf("stale event: %+v", ev)
	}
	e.checkStale(cfg, st, now.Add(time.Minute)) // reported once
	st.StartedAt = now.Add(-3 * time.Hour)      // "never" now past two intervals of the daemon's life
	e.checkStale(cfg, st, now.Add(2*time.Minute))
	if ev := next(); ev.Job != "never" {
		t.Fatalf("second stale event: %+v (hourly reported twice?)", ev)
	}
	e.runFinished("hourly", "snapshot", controlapi.RunReport{Result: controlapi.ResultSuccess})
	e.reloadRefused("/etc/raftsnap/raftsnap.yml", []string{"raftsnap.yml:3:5: jobs[0].interval: bad", "second"})
	if ev := next(); ev.Event != config.EventReloadRefused || ev.Severity != config.SeverityWarning ||
		ev.Message != "configuration reload of /etc/raftsnap/raftsnap.yml refused; the running configuration stays: raftsnap.yml:3:5: jobs[0].interval: bad (and 1 more)" {
		t.Fatalf("reload event: %+v", ev)
	}
	select {
	case ev := <-events:
		t.Fatalf("unexpected event %+v (a success after no failure is no recovery)", ev)
	default:
	}
}
