package statusview

import (
	"bytes"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit/golden"

	"github.com/charmbracelet/x/ansi"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

// fullStatus has one job in every state, with every optional part set
// somewhere: progress with and without a known size, a pending signal,
// pruning errors, crashes, a long history, a never-run restore job.
func fullStatus() controlapi.DaemonStatus {
	snapHistory := []controlapi.RunReport{
		{ID: "41", Trigger: "schedule", StartedAt: t0.Add(-5*time.Minute - 3*time.Second), FinishedAt: t0.Add(-5 * time.Minute),
			Result: controlapi.ResultSuccess, Snapshot: "consul-20260301T115457Z-4812.snap", Bytes: 12 << 20, Index: 4812, Term: 3,
			Pruning: &controlapi.PruneSummary{At: t0.Add(-5 * time.Minute), Kept: 24, Destroyed: 1}},
		{ID: "40", Trigger: "wakeup", StartedAt: t0.Add(-65 * time.Minute), FinishedAt: t0.Add(-64 * time.Minute),
			Result: controlapi.ResultFailure, Attempts: 3, Error: "consul: GET /v1/snapshot: 403 Forbidden:\n  ACL not found"},
		{ID: "39", Trigger: "wakeup", StartedAt: t0.Add(-2 * time.Hour), FinishedAt: t0.Add(-2*time.Hour + 400*time.Millisecond),
			Result: controlapi.ResultCanceled, Error: "canceled by reset"},
	}
	for i := 38; i >= 34; i-- {
		snapHistory = append(snapHistory, controlapi.RunReport{ID: strconv.Itoa(i), Trigger: "schedule",
			StartedAt: t0.Add(-time.Duration(41-i+2) * time.Hour), FinishedAt: t0.Add(-time.Duration(41-i+2)*time.Hour + 2*time.Second),
			Result: controlapi.ResultSuccess, Snapshot: "consul-old-" + strconv.Itoa(i) + ".snap", Bytes: 11 << 20, Index: uint64(4000 + i)})
	}
	return controlapi.DaemonStatus{
		Schema: 1, Version: "v0.3.0", PID: 4242, StartedAt: t0.Add(-26*time.Hour - 12*time.Minute), Now: t0,
		Jobs: []controlapi.JobStatus{
			{
				Name: "consul-snap", Type: "snapshot", State: controlapi.StateRunning,
				Current: &controlapi.RunProgress{ID: "42", Phase: "downloading", StartedAt: t0.Add(-12 * time.Second), Attempt: 2,
					BytesDone: 6 << 20, BytesExpected: 16 << 20, BytesPerSecond: 512 << 10},
				LastRun: &snapHistory[0], LastSuccessAt: at(-5 * time.Minute), NextRunAt: at(55 * time.Minute),
				PendingSignal: "wakeup", History: snapHistory,
				Pruning: &controlapi.PruneSummary{At: t0.Add(-5 * time.Minute), Kept: 24, Destroyed: 1, Foreign: 2,
					Errors: []string{"remove consul-20260228T000000Z-1.snap: permission denied"}},
				Store: &controlapi.StoreSummary{Path: "/var/lib/raftsnap/consul", Snapshots: 24, TotalBytes: 290 << 20,
					Newest: "consul-20260301T115457Z-4812.snap", NewestAt: at(-5 * time.Minute)},
			},
			{
				Name: "nomad-snap", Type: "snapshot", State: controlapi.StateError,
				Current: &controlapi.RunProgress{ID: "7", Phase: "connecting", StartedAt: t0.Add(-2 * time.Second), Attempt: 1},
				LastRun: &controlapi.RunReport{ID: "6", Trigger: "startup", StartedAt: t0.Add(-time.Minute), FinishedAt: t0.Add(-50 * time.Second),
					Result: controlapi.ResultFailure, Error: "nomad: dial tcp 127.0.0.1:4646: connect: connection refused"},
				NextRunAt: at(-3 * time.Second), History: nil,
				Crashes: 2, LastCrash: "panic: runtime error: index out of range [3] with length 3",
				Store: &controlapi.StoreSummary{Path: "/var/lib/raftsnap/nomad", Snapshots: 0},
			},
			{
				Name: "app-snap", Type: "snapshot", State: controlapi.StateRunning,
				Current: &controlapi.RunProgress{ID: "3", Phase: "downloading", StartedAt: t0.Add(-90 * time.Second), Attempt: 1,
					BytesDone: 3 << 30, BytesPerSecond: 40 << 20},
				LastSuccessAt: at(-2 * 24 * time.Hour), History: []controlapi.RunReport{},
			},
			{
				Name: "prune-shared", Type: "prune", State: controlapi.StateWaiting, NextRunAt: at(10 * time.Minute),
				LastSuccessAt: at(-50 * time.Minute),
				Pruning:       &controlapi.PruneSummary{At: t0.Add(-50 * time.Minute), Kept: 30, Destroyed: 0, Foreign: 0},
				History: []controlapi.RunReport{{ID: "9", Trigger: "schedule", StartedAt: t0.Add(-50 * time.Minute), FinishedAt: t0.Add(-50*time.Minute + 120*time.Millisecond),
					Result: controlapi.ResultSuccess, Pruning: &controlapi.PruneSummary{Kept: 30}}},
			},
			{Name: "consul-restore", Type: "restore", State: controlapi.StateIdle, History: []controlapi.RunReport{}},
		},
	}
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   controlapi.DaemonStatus
		opts Options
	}{
		{"full", fullStatus(), Options{}},
		{"one_job", fullStatus(), Options{Job: "consul-snap"}},
		{"narrow", fullStatus(), Options{Job: "consul-snap", Width: 60}},
		{"no_jobs", controlapi.DaemonStatus{Schema: 1, Version: "devel", PID: 1, StartedAt: t0.Add(-3 * time.Second), Now: t0}, Options{}},
		{"newer_schema", controlapi.DaemonStatus{Schema: controlapi.SchemaVersion + 1, Version: "v9.0.0", PID: 7, StartedAt: t0.Add(-time.Hour), Now: t0}, Options{}},
		// The client's clock can be given explicitly; it wins over the daemon's.
		{"client_clock", fullStatus(), Options{Job: "prune-shared", Now: t0.Add(time.Hour)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, tc.st, tc.opts); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.name, buf.String())
			if tc.opts.Width > 0 {
				for _, l := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
					if n := len([]rune(l)); n > tc.opts.Width {
						t.Errorf("line of %d runes exceeds width %d: %q", n, tc.opts.Width, l)
					}
				}
			}
		})
	}
}

func TestRenderUnknownJob(t *testing.T) {
	err := Render(&bytes.Buffer{}, fullStatus(), Options{Job: "vault-snap"})
	if err == nil || err.Error() != `the daemon has no job named "vault-snap"; jobs: consul-snap, nomad-snap, app-snap, prune-shared, consul-restore` {
		t.Fatalf("got %v", err)
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		400 * time.Millisecond:                        "400ms",
		42 * time.Second:                              "42s",
		12*time.Minute + 5*time.Second:                "12m5s",
		3*time.Hour + 12*time.Minute + 59*time.Second: "3h12m",
		50*time.Hour + 10*time.Minute:                 "2d2h",
		-5 * time.Second:                              "5s",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestRenderJobWithRateAndStyle: the TUI's details are RenderJob with its
// smoothed rate (which drives the ETA) and a Style; the symbols and words
// stay in the text.
func TestRenderJobWithRateAndStyle(t *testing.T) {
	st := fullStatus()
	style := &Style{
		State:  func(s controlapi.State, text string) string { return "{" + text + "}" },
		Result: func(r controlapi.Result, text string) string { return "[" + text + "]" },
	}
	var buf bytes.Buffer
	err := RenderJob(&buf, st.Jobs[0], Options{Now: t0, Rates: map[string]float64{"consul-snap": 2 << 20, "other": 1}, Style: style})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "job_rate_styled", buf.String())
}

// TestStyledTruncation: escape codes a Style adds do not count towards
// the width, and stripping them gives exactly the plain rendering.
func TestStyledTruncation(t *testing.T) {
	bold := func(text string) string { return "\x1b[1m" + text + "\x1b[0m" }
	style := &Style{
		State:  func(s controlapi.State, text string) string { return bold(text) },
		Result: func(r controlapi.Result, text string) string { return bold(text) },
	}
	for _, width := range []int{40, 60, 100} {
		var plain, styled bytes.Buffer
		if err := Render(&plain, fullStatus(), Options{Width: width}); err != nil {
			t.Fatal(err)
		}
		if err := Render(&styled, fullStatus(), Options{Width: width, Style: style}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(styled.String(), "\x1b[1m") {
			t.Fatalf("width %d: the style was not applied", width)
		}
		if got := ansi.Strip(styled.String()); got != plain.String() {
			t.Fatalf("width %d: styled text, stripped, differs from the plain text:\n%s\n---\n%s", width, got, plain.String())
		}
		for _, l := range strings.Split(styled.String(), "\n") {
			if w := ansi.StringWidth(l); w > width {
				t.Errorf("width %d: styled line %d wide: %q", width, w, l)
			}
		}
	}
}

func TestSummarize(t *testing.T) {
	st := fullStatus()
	want := []JobSummary{
		{Symbol: ">>", Name: "consul-snap", Type: "snapshot", State: "running", LastSuccess: "5m0s ago", NextRun: "in 55m0s", Running: "downloading 38% +wakeup"},
		{Symbol: "!!", Name: "nomad-snap", Type: "snapshot", State: "error", LastSuccess: "never", NextRun: "due now", Running: "connecting"},
		{Symbol: ">>", Name: "app-snap", Type: "snapshot", State: "running", LastSuccess: "2d0h ago", NextRun: "-", Running: "downloading"},
		{Symbol: "..", Name: "prune-shared", Type: "prune", State: "waiting", LastSuccess: "50m0s ago", NextRun: "in 10m0s"},
		{Symbol: "--", Name: "consul-restore", Type: "restore", State: "idle", LastSuccess: "never", NextRun: "on signal"},
	}
	for i, j := range st.Jobs {
		if got := Summarize(j, t0); got != want[i] {
			t.Errorf("Summarize(%s):\n got %+v\nwant %+v", j.Name, got, want[i])
		}
	}
}

func TestHeader(t *testing.T) {
	if got, want := Header(fullStatus(), t0), "raftsnap daemon v0.3.0, pid 4242, up 1d2h (since 2026-02-28 09:48:00 UTC)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// checkGolden compares output with testdata/NAME.golden (-update
// rewrites it).
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name+".golden"), []byte(got))
}

// TestWrap: with Wrap, long lines continue indented on the next lines,
// nothing is lost and no line exceeds the width.
func TestWrap(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderJob(&buf, fullStatus().Jobs[0], Options{Now: t0, Width: 80, Wrap: true}); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "job_wrapped_80", buf.String())
	var whole bytes.Buffer
	if err := RenderJob(&whole, fullStatus().Jobs[0], Options{Now: t0, Width: 80}); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(buf.String(), "\n") {
		if w := ansi.StringWidth(l); w > 80 {
			t.Errorf("line %d wide: %q", w, l)
		}
	}
	if !strings.Contains(strings.Join(strings.Fields(buf.String()), " "), "consul: GET /v1/snapshot: 403 Forbidden: ACL not found") {
		t.Fatalf("the wrapped text lost the error:\n%s", buf.String())
	}
}

// TestPruneReasons: the details say why snapshots were kept (a count per
// reason) and name the destroyed ones with their reasons, a few at most.
func TestPruneReasons(t *testing.T) {
	j := controlapi.JobStatus{Name: "consul-snap", Type: "snapshot", State: controlapi.StateWaiting, History: []controlapi.RunReport{},
		Pruning: &controlapi.PruneSummary{At: t0.Add(-time.Minute), Kept: 3, Destroyed: 4, Decisions: []controlapi.PruneDecision{
			{Snapshot: "s7.snap", Keep: true, Reasons: []string{"newest verified", "last 2"}},
			{Snapshot: "s6.snap", Keep: true, Reasons: []string{"last 2"}},
			{Snapshot: "s5.snap", Keep: true, Reasons: []string{"daily 7"}},
			{Snapshot: "s4.snap", Keep: false, Reasons: []string{"no rule keeps it"}},
			{Snapshot: "s3.snap", Keep: false, Reasons: []string{"unverified", "no rule keeps it"}},
			{Snapshot: "s2.snap", Keep: false, Reasons: []string{"no rule keeps it"}},
			{Snapshot: "s1.snap", Keep: false},
		}}}
	var buf bytes.Buffer
	if err := RenderJob(&buf, j, Options{Now: t0}); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "prune_reasons", buf.String())
}

func TestFormatRunShowsStaleAndWarnings(t *testing.T) {
	got := FormatRun(controlapi.RunReport{
		ID: "abcd1234", Trigger: "schedule", Result: controlapi.ResultSuccess,
		Snapshot: "consul-20261122T010000Z-7.snap", Bytes: 2048, Index: 7, Stale: true,
		Warnings: []string{"attempt 1 found no leader; fell back to a stale snapshot"},
	})
	for _, want := range []string{"index 7, stale (from a follower)", "; warning: attempt 1 found no leader"} {
		if !strings.Contains(got, want) {
			t.Fatalf("FormatRun = %q, lacks %q", got, want)
		}
	}
}

// TestRenderEscapesOutsideText: the dump and signal --wait print text that
// came from servers and archives; control sequences in it come out escaped.
func TestRenderEscapesOutsideText(t *testing.T) {
	st := fullStatus()
	hostile := "403 \x1b]0;owned\x07\x1b[2J"
	st.Jobs[0].LastRun.Error = hostile
	st.Jobs[0].History[0].Warnings = []string{"servers srv\x1b[31m"}
	var buf bytes.Buffer
	if err := Render(&buf, st, Options{}); err != nil {
		t.Fatal(err)
	}
	line := FormatRun(controlapi.RunReport{ID: "1", Result: controlapi.ResultFailure, Error: hostile})
	for _, out := range []string{buf.String(), line} {
		if strings.ContainsAny(out, "\x1b\x07") {
			t.Fatalf("raw control characters in:\n%q", out)
		}
	}
	if !strings.Contains(line, `403 \x1b]0;owned\a\x1b[2J`) {
		t.Fatalf("FormatRun = %q, want the error escaped", line)
	}
}

// TestStoreWarningsShown: a store warning (a newest snapshot dated in the
// future) is shown under the store line, not only in the JSON.
func TestStoreWarningsShown(t *testing.T) {
	j := controlapi.JobStatus{Name: "consul-snap", Type: "snapshot", State: controlapi.StateWaiting, History: []controlapi.RunReport{},
		Store: &controlapi.StoreSummary{Path: "/var/lib/raftsnap/consul", Snapshots: 1, TotalBytes: 1 << 20,
			Newest: "consul-20260331T120000Z-9.snap", NewestAt: at(30 * 24 * time.Hour),
			Warnings: []string{"the newest snapshot consul-20260331T120000Z-9.snap is dated 720h0m0s in the future"}}}
	var buf bytes.Buffer
	if err := RenderJob(&buf, j, Options{Now: t0}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"newest consul-20260331T120000Z-9.snap (in 30d0h)", "warning: the newest snapshot consul-20260331T120000Z-9.snap is dated 720h0m0s in the future"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, buf.String())
		}
	}
}

// TestRenderDrillJobs: a drill job shows its last conclusive drill, and
// its runs what they restored into and how the checks went.
func TestRenderDrillJobs(t *testing.T) {
	okRun := controlapi.RunReport{ID: "d1", Trigger: "schedule", StartedAt: t0.Add(-2*time.Hour - 4*time.Second), FinishedAt: t0.Add(-2 * time.Hour),
		Result: controlapi.ResultSuccess, Snapshot: "consul-main-20260301T095500Z-4700.snap", Bytes: 12 << 20, Index: 4700,
		Drill: &controlapi.DrillReport{Outcome: controlapi.DrillOK, Server: "consul 1.22.7", RestoredIndex: 4702, Checks: []controlapi.DrillCheck{
			{Name: "raft_index", Archive: 4700, Server: 4702, Result: controlapi.CheckMatch},
			{Name: "catalog_registrations", Archive: 40, Server: 40, Result: controlapi.CheckMatch},
			{Name: "acl_tokens", Archive: 7, Server: 7, Result: controlapi.CheckMatch},
			{Name: "kv_keys", Archive: 1200, Server: 1200, Result: controlapi.CheckMatch}}}}
	failedRun := controlapi.RunReport{ID: "d2", Trigger: "wakeup", StartedAt: t0.Add(-10*time.Minute - 5*time.Second), FinishedAt: t0.Add(-10 * time.Minute),
		Result: controlapi.ResultFailure, Snapshot: "consul-main-20260301T114500Z-4811.snap", Bytes: 12 << 20, Index: 4811,
		Error: "drill of consul-main-20260301T114500Z-4811.snap failed: KV keys: 1201 in the archive, 1200 on the restored server",
		Drill: &controlapi.DrillReport{Outcome: controlapi.DrillFailed, Server: "consul 1.22.7", RestoredIndex: 4813, Checks: []controlapi.DrillCheck{
			{Name: "raft_index", Archive: 4811, Server: 4813, Result: controlapi.CheckMatch},
			{Name: "kv_keys", Archive: 1201, Server: 1200, Result: controlapi.CheckMismatch}}}}
	st := controlapi.DaemonStatus{Schema: 1, Version: "v0.4.0", PID: 7, StartedAt: t0.Add(-3 * time.Hour), Now: t0, Jobs: []controlapi.JobStatus{
		{Name: "consul-drill", Type: "drill", State: controlapi.StateError, IntervalSeconds: 86400, NextRunAt: at(22 * time.Hour),
			Target: "throwaway server from /usr/bin/consul", LastSuccessAt: at(-2 * time.Hour), LastRun: &failedRun,
			History: []controlapi.RunReport{failedRun, okRun},
			LastDrill: &controlapi.DrillOutcome{Snapshot: failedRun.Snapshot, Result: controlapi.DrillFailed, At: t0.Add(-10 * time.Minute),
				Reason: "KV keys: 1201 in the archive, 1200 on the restored server", Index: 4813, Server: "consul 1.22.7", DurationSeconds: 5}},
		{Name: "nomad-drill", Type: "drill", State: controlapi.StateIdle, LastSuccessAt: at(-26 * time.Hour), History: []controlapi.RunReport{},
			LastDrill: &controlapi.DrillOutcome{Snapshot: "nomad-main-20260228T095500Z-310.snap", Result: controlapi.DrillOK, At: t0.Add(-26 * time.Hour),
				Index: 312, Server: "nomad 1.11.3"}},
	}}
	var buf bytes.Buffer
	if err := Render(&buf, st, Options{}); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "drill", buf.String())
	if s := Summarize(st.Jobs[1], t0); s.NextRun != "on signal" {
		t.Errorf("a drill job without interval: next run %q, want on signal", s.NextRun)
	}
}
