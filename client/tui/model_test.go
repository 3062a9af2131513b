package tui

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit/golden"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// recordingDaemon stands in for the control socket in model tests: it
// answers with a fixed status (or error) and records the signals sent.
// The end-to-end test drives the real daemon.
type recordingDaemon struct {
	mu        sync.Mutex
	st        controlapi.DaemonStatus
	statusErr error
	signalErr error
	queued    bool
	signals   []controlapi.SignalRequest
	jobAsked  []string
}

// Summary serves the status cut to summaries, as the daemon does; Job one
// job in full.
func (d *recordingDaemon) Summary(ctx context.Context) (controlapi.DaemonStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.st
	st.Jobs = nil
	for _, j := range d.st.Jobs {
		st.Jobs = append(st.Jobs, j.Summarized())
	}
	return st, d.statusErr
}

func (d *recordingDaemon) Job(ctx context.Context, name string) (controlapi.JobStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.jobAsked = append(d.jobAsked, name)
	for _, j := range d.st.Jobs {
		if j.Name == name {
			return j, d.statusErr
		}
	}
	return controlapi.JobStatus{}, errors.New("no such job")
}

func (d *recordingDaemon) Signal(ctx context.Context, req controlapi.SignalRequest) (controlapi.SignalResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.signals = append(d.signals, req)
	if d.signalErr != nil {
		return controlapi.SignalResponse{}, d.signalErr
	}
	return controlapi.SignalResponse{Job: req.Job, Op: req.Op, Queued: d.queued}, nil
}

func (d *recordingDaemon) sent() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, s := range d.signals {
		out = append(out, s.Op+" "+s.Job)
	}
	return out
}

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

// devStatus looks like `raftsnap daemon --dev` with a snapshot running.
func devStatus() controlapi.DaemonStatus {
	lastRun := controlapi.RunReport{ID: "6547c0ab", Trigger: "schedule", StartedAt: t0.Add(-10*time.Second - 20*time.Millisecond), FinishedAt: t0.Add(-10 * time.Second),
		Result: controlapi.ResultSuccess, Snapshot: "dev-snapshot-20260301T115950Z-55.snap", Bytes: 591, Index: 55, Term: 2,
		Pruning: &controlapi.PruneSummary{At: t0.Add(-10 * time.Second), Kept: 2}}
	return controlapi.DaemonStatus{
		Schema: 1, Version: "v0.3.0", PID: 4242, StartedAt: t0.Add(-20 * time.Second), Now: t0,
		Jobs: []controlapi.JobStatus{
			{
				Name: "dev-snapshot", Type: "snapshot", State: controlapi.StateRunning,
				Current: &controlapi.RunProgress{ID: "9a1f0c2e", Phase: "downloading", StartedAt: t0.Add(-2 * time.Second), Attempt: 1,
					BytesDone: 4 << 20, BytesExpected: 16 << 20, BytesPerSecond: 2 << 20},
				LastRun: &lastRun, LastSuccessAt: at(-10 * time.Second), NextRunAt: at(8 * time.Second), PendingSignal: "wakeup",
				History: []controlapi.RunReport{lastRun,
					{ID: "22bb9555", Trigger: "startup", StartedAt: t0.Add(-20 * time.Second), FinishedAt: t0.Add(-20*time.Second + 13*time.Millisecond),
						Result: controlapi.ResultFailure, Attempts: 3, Error: "raft: GET http://127.0.0.1:41233/v1/snapshot: connection refused"}},
				Pruning: &controlapi.PruneSummary{At: t0.Add(-10 * time.Second), Kept: 2, Destroyed: 1,
					Decisions: []controlapi.PruneDecision{{Snapshot: "a.snap", Keep: true, Reasons: []string{"last 2"}}}},
				Store: &controlapi.StoreSummary{Path: "/tmp/dev/store", Snapshots: 2, TotalBytes: 1122, Newest: lastRun.Snapshot, NewestAt: at(-10 * time.Second)},
			},
			{Name: "dev-prune", Type: "prune", State: controlapi.StateWaiting, NextRunAt: at(40 * time.Second), History: []controlapi.RunReport{},
				Store: &controlapi.StoreSummary{Path: "/tmp/dev/store"}},
			{Name: "dev-restore", Type: "restore", State: controlapi.StateIdle, History: []controlapi.RunReport{},
				Target: "raft at http://127.0.0.1:7400", Snapshot: "latest"},
		},
	}
}

func newTestModel(t *testing.T, d *recordingDaemon, opts Options) *Model {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = func() time.Time { return t0 }
	}
	if opts.Initial == nil {
		st := d.st
		opts.Initial = &st
	}
	m := New(context.Background(), d, opts)
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	return m
}

// press sends keys, one message each: "j", "enter", "esc", "tab", "up",
// "down", "backspace", "ctrl+c", or any other text as typed runes.
func press(m *Model, keys ...string) tea.Cmd {
	var last tea.Cmd
	for _, k := range keys {
		_, last = m.Update(keyMsg(k))
	}
	return last
}

// namedKeys are the keys press takes by name.
var namedKeys = map[string]tea.KeyType{
	"enter":     tea.KeyEnter,
	"esc":       tea.KeyEsc,
	"tab":       tea.KeyTab,
	"up":        tea.KeyUp,
	"down":      tea.KeyDown,
	"backspace": tea.KeyBackspace,
	"ctrl+c":    tea.KeyCtrlC,
}

func keyMsg(k string) tea.KeyMsg {
	if typ, ok := namedKeys[k]; ok {
		return tea.KeyMsg{Type: typ}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

// runCmd runs a command the way Bubble Tea would and feeds the messages
// back to the model, except timers (the next poll), which it reports.
func runCmd(t *testing.T, m *Model, cmd tea.Cmd) (msgs []tea.Msg) {
	t.Helper()
	if cmd == nil {
		return nil
	}
	msg := cmd()
	if batch, ok := msg.(tea.BatchMsg); ok {
		for _, c := range batch {
			msgs = append(msgs, runCmd(t, m, c)...)
		}
		return msgs
	}
	msgs = append(msgs, msg)
	switch msg.(type) {
	case statusMsg, signalMsg:
		_, next := m.Update(msg)
		if _, isSignal := msg.(signalMsg); isSignal {
			msgs = append(msgs, runCmd(t, m, next)...) // the poll a signal triggers
		}
	}
	return msgs
}

func screen(t *testing.T, m *Model) string {
	t.Helper()
	v := m.View()
	lines := strings.Split(v, "\n")
	if len(lines) != m.height {
		t.Errorf("the view has %d lines, want the terminal's %d:\n%s", len(lines), m.height, v)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > m.width {
			t.Errorf("line %d is %d wide, over the terminal's %d: %q", i+1, w, m.width, l)
		}
	}
	return v
}

func mustContain(t *testing.T, view string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(view, w) {
			t.Fatalf("the screen lacks %q:\n%s", w, view)
		}
	}
}

func mustNotContain(t *testing.T, view string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(view, w) {
			t.Fatalf("the screen shows %q:\n%s", w, view)
		}
	}
}

// checkGolden compares a screen with testdata/NAME.golden (-update
// rewrites it).
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name+".golden"), []byte(got))
}

func TestScreenGolden(t *testing.T) {
	for _, tc := range []struct {
		name          string
		width, height int
		keys          []string
	}{
		{"80x24", 80, 24, nil},
		{"120x40", 120, 40, nil},
		{"80x24_details_focused", 80, 24, []string{"tab", "down", "down"}},
		{"80x24_help", 80, 24, []string{"?"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &recordingDaemon{st: devStatus()}
			m := newTestModel(t, d, Options{})
			m.Update(tea.WindowSizeMsg{Width: tc.width, Height: tc.height})
			press(m, tc.keys...)
			checkGolden(t, "screen_"+tc.name, screen(t, m))
		})
	}
}

func TestSelectionKeys(t *testing.T) {
	m := newTestModel(t, &recordingDaemon{st: devStatus()}, Options{})
	for _, step := range []struct {
		keys []string
		want string
	}{
		{nil, "dev-snapshot"},
		{[]string{"j"}, "dev-prune"},
		{[]string{"down"}, "dev-restore"},
		{[]string{"down", "j"}, "dev-restore"}, // stays on the last
		{[]string{"k"}, "dev-prune"},
		{[]string{"up", "up", "k"}, "dev-snapshot"}, // stays on the first
		{[]string{"G"}, "dev-restore"},
		{[]string{"g"}, "dev-snapshot"},
		{[]string{"jj"}, "dev-restore"}, // keys that arrive together
	} {
		press(m, step.keys...)
		if got := m.Selected(); got != step.want {
			t.Fatalf("after %v: selected %q, want %q", step.keys, got, step.want)
		}
	}
	mustContain(t, screen(t, m), "▶ -- dev-restore", "DETAILS dev-restore", "-- dev-restore (restore): idle")
}

func TestJobOptionSelects(t *testing.T) {
	m := newTestModel(t, &recordingDaemon{st: devStatus()}, Options{Job: "dev-prune"})
	if got := m.Selected(); got != "dev-prune" {
		t.Fatalf("selected %q, want dev-prune", got)
	}
	mustContain(t, screen(t, m), "DETAILS dev-prune")
}

func TestFilter(t *testing.T) {
	m := newTestModel(t, &recordingDaemon{st: devStatus()}, Options{})
	press(m, "/", "RES")
	v := screen(t, m)
	mustContain(t, v, "JOBS (1 of 3) filter: RES_", "▶ -- dev-restore", "enter keeps it, esc clears it")
	mustNotContain(t, v, "dev-prune")
	// While typing, j and q are text, not commands.
	press(m, "q", "backspace", "enter")
	if m.filtering || m.filter != "RES" {
		t.Fatalf("after typing q, backspace, enter: filtering %v, filter %q", m.filtering, m.filter)
	}
	press(m, "j") // the filter keeps one job: nothing to move to
	if got := m.Selected(); got != "dev-restore" {
		t.Fatalf("selected %q", got)
	}
	press(m, "/", "zzz", "enter")
	v = screen(t, m)
	mustContain(t, v, "no job matches the filter")
	if got := m.Selected(); got != "" {
		t.Fatalf("selected %q with no job shown", got)
	}
	if _, cmd := m.Update(keyMsg("w")); cmd != nil {
		t.Fatal("w with no job shown sent something")
	}
	mustContain(t, screen(t, m), "error: no job selected")
	press(m, "esc", "esc") // the error, then the filter
	v = screen(t, m)
	mustContain(t, v, "JOBS (3)", "dev-snapshot", "dev-prune", "dev-restore")
	mustNotContain(t, v, "error:")
}

func TestWakeup(t *testing.T) {
	d := &recordingDaemon{st: devStatus()}
	m := newTestModel(t, d, Options{})
	press(m, "j")
	msgs := runCmd(t, m, press(m, "w"))
	if got := d.sent(); len(got) != 1 || got[0] != "wakeup dev-prune" {
		t.Fatalf("signals sent: %v", got)
	}
	// The signal is followed by an immediate poll, not a wait for the timer.
	if len(msgs) != 2 {
		t.Fatalf("messages: %#v", msgs)
	}
	if _, ok := msgs[1].(statusMsg); !ok {
		t.Fatalf("after the signal: %#v, want a status poll", msgs[1])
	}
	mustContain(t, screen(t, m), "12:00:00 UTC woke up dev-prune: a run starts now")

	d.queued = true
	runCmd(t, m, press(m, "w"))
	mustContain(t, screen(t, m), "dev-prune is busy: one run is queued")
}

func TestResetAsksFirst(t *testing.T) {
	d := &recordingDaemon{st: devStatus()}
	m := newTestModel(t, d, Options{})
	if cmd := press(m, "r"); cmd != nil {
		t.Fatal("r sent something before the confirmation")
	}
	mustContain(t, screen(t, m), "reset job dev-snapshot? Its current run and a queued wakeup are canceled. [y/n]")
	if cmd := press(m, "n"); cmd != nil {
		t.Fatal("n sent something")
	}
	mustContain(t, screen(t, m), "reset of dev-snapshot not sent")
	if m.Selected() != "dev-snapshot" {
		t.Fatal("n moved the selection")
	}
	// Any other key declines too: j is not a move while the question is asked.
	press(m, "r", "j")
	if m.Selected() != "dev-snapshot" || len(d.sent()) != 0 {
		t.Fatalf("after r j: selected %q, sent %v", m.Selected(), d.sent())
	}
	runCmd(t, m, press(m, "r", "y"))
	if got := d.sent(); len(got) != 1 || got[0] != "reset dev-snapshot" {
		t.Fatalf("signals sent: %v", got)
	}
	mustContain(t, screen(t, m), "reset dev-snapshot: its current run, if any, is canceled")
}

func TestSignalErrorIsDismissable(t *testing.T) {
	d := &recordingDaemon{st: devStatus(), signalErr: errors.New(`daemon: job "dev-restore" (restore) does not support reset`)}
	m := newTestModel(t, d, Options{Job: "dev-restore"})
	runCmd(t, m, press(m, "r", "y"))
	v := screen(t, m)
	// A long error wraps rather than being cut.
	mustContain(t, v, `error: 12:00:00 UTC reset dev-restore: daemon: job "dev-restore" (restore) does`, "\nnot support reset  (esc dismisses)")
	// The error does not stop the view: keys still work.
	press(m, "k")
	if m.Selected() != "dev-prune" {
		t.Fatalf("selected %q", m.Selected())
	}
	press(m, "esc")
	mustNotContain(t, screen(t, m), "error:")
}

func TestDaemonRestart(t *testing.T) {
	d := &recordingDaemon{st: devStatus()}
	clock := t0
	m := newTestModel(t, d, Options{Clock: func() time.Time { return clock }})

	d.statusErr = errors.New("no raftsnap daemon is listening on /run/raftsnap/control: start it with `raftsnap daemon`")
	clock = t0.Add(time.Second)
	runCmd(t, m, m.pollNow())
	clock = t0.Add(4 * time.Second)
	runCmd(t, m, m.pollNow())
	v := screen(t, m)
	mustContain(t, v, "daemon unreachable since 12:00:01 UTC (3s), retrying every 1s",
		"no raftsnap daemon is listening on /run/raftsnap/control",
		"last refreshed 12:00:00 UTC",
		// The last status stays, as of its time: uptime and countdowns do not run on.
		"up 20s", "in 8s", "dev-snapshot", "dev-restore")

	restarted := devStatus()
	restarted.PID, restarted.StartedAt, restarted.Now = 5151, t0.Add(4*time.Second), t0.Add(5*time.Second)
	d.st, d.statusErr = restarted, nil
	clock = t0.Add(5 * time.Second)
	runCmd(t, m, m.pollNow())
	v = screen(t, m)
	mustNotContain(t, v, "unreachable")
	mustContain(t, v, "pid 5151, up 1s", "12:00:05 UTC daemon reachable again after 4s", "refreshed 12:00:05 UTC")
}

func TestPollingTimers(t *testing.T) {
	d := &recordingDaemon{st: devStatus()}
	m := newTestModel(t, d, Options{Interval: 10 * time.Millisecond})
	// Each status answer schedules the next poll.
	_, next := m.Update(statusMsg{st: devStatus(), at: t0})
	if next == nil {
		t.Fatal("a status answer scheduled no next poll")
	}
	tick, ok := next().(tickMsg)
	if !ok {
		t.Fatalf("next poll: %#v", tick)
	}
	// A poll triggered meanwhile (by a signal) supersedes that timer, so
	// polls never pile up.
	if m.pollNow() == nil {
		t.Fatal("pollNow did not poll")
	}
	if m.pollNow() != nil {
		t.Fatal("a second poll started while one was under way")
	}
	if _, cmd := m.Update(tick); cmd != nil {
		t.Fatal("a superseded timer polled")
	}
}

func TestRateIsSmoothed(t *testing.T) {
	d := &recordingDaemon{st: devStatus()}
	m := newTestModel(t, d, Options{})
	if r, ok := m.Rate("dev-snapshot"); !ok || r != 2<<20 {
		t.Fatalf("first rate %v %v, want the daemon's average 2 MiB/s", r, ok)
	}
	step := func(done int64, now time.Time) {
		st := devStatus()
		st.Now = now
		st.Jobs[0].Current.BytesDone = done
		st.Jobs[0].Current.BytesPerSecond = 1 // the daemon's average is not what is shown
		m.Update(statusMsg{st: st, at: now})
	}
	// 4 MiB more in one second: 0.3*4 + 0.7*2 MiB/s.
	step(8<<20, t0.Add(time.Second))
	want := 0.3*float64(4<<20) + 0.7*float64(2<<20)
	if r, _ := m.Rate("dev-snapshot"); r != want {
		t.Fatalf("rate %.0f, want %.0f", r, want)
	}
	// A stall pulls it down gradually, not to zero at once.
	step(8<<20, t0.Add(2*time.Second))
	want *= 0.7
	if r, _ := m.Rate("dev-snapshot"); r != want {
		t.Fatalf("rate %.0f, want %.0f", r, want)
	}
	mustContain(t, screen(t, m), fmt.Sprintf("8.0 MiB / 16 MiB  %s/s", "1.8 MiB"), "ETA 4s")

	// A new run starts from that run's own average.
	st := devStatus()
	st.Jobs[0].Current.ID = "next"
	m.Update(statusMsg{st: st, at: t0.Add(3 * time.Second)})
	if r, _ := m.Rate("dev-snapshot"); r != 2<<20 {
		t.Fatalf("new run's rate %v", r)
	}
	// A job no longer running has no rate.
	st.Jobs[0].Current = nil
	m.Update(statusMsg{st: st, at: t0.Add(4 * time.Second)})
	if _, ok := m.Rate("dev-snapshot"); ok {
		t.Fatal("a finished run kept a rate")
	}
}

func TestLongListScrolls(t *testing.T) {
	st := devStatus()
	for i := range 40 {
		st.Jobs = append(st.Jobs, controlapi.JobStatus{Name: fmt.Sprintf("extra-%02d", i), Type: "snapshot", State: controlapi.StateWaiting, NextRunAt: at(time.Minute)})
	}
	m := newTestModel(t, &recordingDaemon{st: st}, Options{})
	v := screen(t, m)
	mustContain(t, v, "JOBS (43)  [1-6 of 43]", "▶ >> dev-snapshot", "extra-02")
	mustNotContain(t, v, "extra-03")
	press(m, "G")
	v = screen(t, m)
	mustContain(t, v, "[38-43 of 43]", "▶ .. extra-39", "DETAILS extra-39")
	mustNotContain(t, v, "dev-snapshot")
	// On a taller terminal the list gets more rows.
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 60})
	mustContain(t, screen(t, m), "[26-43 of 43]", "▶ .. extra-39")
}

func TestDetailsScroll(t *testing.T) {
	m := newTestModel(t, &recordingDaemon{st: devStatus()}, Options{})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 14})
	v := screen(t, m)
	mustContain(t, v, "more lines (enter to scroll)")
	mustNotContain(t, v, "run 22bb9555")
	press(m, "enter", "G")
	v = screen(t, m)
	mustContain(t, v, "(focused: ↑/↓ scroll, tab back)", "run 22bb9555")
	if m.Selected() != "dev-snapshot" {
		t.Fatal("scrolling the details moved the selection")
	}
	press(m, "esc", "j")
	if m.Selected() != "dev-prune" {
		t.Fatalf("after esc, j selected %q", m.Selected())
	}
}

func TestHelpAndQuit(t *testing.T) {
	m := newTestModel(t, &recordingDaemon{st: devStatus()}, Options{})
	press(m, "?")
	v := screen(t, m)
	for _, k := range []string{"j k", "enter tab", "/", "w ", "r ", "esc", "?", "q  ctrl+c"} {
		mustContain(t, v, k)
	}
	press(m, "x") // any key closes the help
	mustNotContain(t, screen(t, m), "KEYS")

	for _, k := range []string{"q", "ctrl+c"} {
		cmd := press(m, k)
		if cmd == nil {
			t.Fatalf("%s: no command", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Fatalf("%s did not quit", k)
		}
	}
	// ctrl+c quits even while typing a filter or answering y/n.
	press(m, "/")
	if _, ok := press(m, "ctrl+c")().(tea.QuitMsg); !ok {
		t.Fatal("ctrl+c in the filter did not quit")
	}
}

func TestTinyTerminalDoesNotBreak(t *testing.T) {
	m := newTestModel(t, &recordingDaemon{st: devStatus()}, Options{})
	for _, size := range [][2]int{{1, 1}, {20, 8}, {40, 10}, {300, 100}} {
		m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		press(m, "j", "tab", "G", "tab")
		screen(t, m)
	}
}

// TestRestoreWakeupAsksFirst: w on a restore job overwrites a live cluster,
// so it asks first, naming the target; only y sends it.
func TestRestoreWakeupAsksFirst(t *testing.T) {
	d := &recordingDaemon{st: devStatus()}
	m := newTestModel(t, d, Options{Job: "dev-restore"})
	if cmd := press(m, "w"); cmd != nil {
		t.Fatal("w on a restore job sent something before the confirmation")
	}
	out := screen(t, m)
	mustContain(t, out, "restore job dev-restore: replace ALL data of raft at http://127.0.0.1:7400")
	mustContain(t, out, "the latest verified snapshot? [y/n]")
	press(m, "n")
	mustContain(t, screen(t, m), "restore of dev-restore not started")
	if len(d.sent()) != 0 {
		t.Fatalf("n sent %v", d.sent())
	}
	runCmd(t, m, press(m, "w", "y"))
	if got := d.sent(); len(got) != 1 || got[0] != "wakeup dev-restore" {
		t.Fatalf("signals sent after w y: %v", got)
	}
}

// TestStatusTextIsMadePrintable: a server's error text carrying a terminal
// escape sequence is shown escaped, never raw.
func TestStatusTextIsMadePrintable(t *testing.T) {
	st := devStatus()
	st.Jobs[0].LastRun = &controlapi.RunReport{ID: "1", Result: controlapi.ResultFailure, Error: "403 \x1b]0;owned\x07\x1b[2J"}
	st.Jobs[0].History = []controlapi.RunReport{*st.Jobs[0].LastRun}
	d := &recordingDaemon{st: st}
	m := newTestModel(t, d, Options{})
	out := screen(t, m)
	if strings.Contains(out, "\x1b]0;") || strings.Contains(out, "\x1b[2J") {
		t.Fatalf("raw escape sequence on screen:\n%q", out)
	}
}
