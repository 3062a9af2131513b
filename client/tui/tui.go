// Package tui is `raftsnap status`'s live view: a Bubble Tea model that
// polls the daemon's /status, lists the jobs, shows the selected job's
// details and sends wakeup and reset signals. The text comes from
// client/statusview, the same renderer as `status --mode dump`; this
// package only lays it out, colours it and handles keys.
package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/raftsnap/raftsnap/client/statusview"
)

// Daemon is what the view needs from the daemon's control socket.
type Daemon interface {
	Status(ctx context.Context) (controlapi.DaemonStatus, error)
	Signal(ctx context.Context, req controlapi.SignalRequest) (controlapi.SignalResponse, error)
}

// Options configure the view.
type Options struct {
	// Interval between two polls of /status; zero means DefaultInterval.
	Interval time.Duration
	// Job is the job selected at start ("" for the first).
	Job string
	// Initial is a status already fetched, shown before the first poll.
	Initial *controlapi.DaemonStatus
	// Clock is the local clock; nil means time.Now (tests fix it).
	Clock func() time.Time
}

// DefaultInterval is how often the view polls the daemon by default.
const DefaultInterval = time.Second

const (
	// signalTimeout bounds a signal request; it never waits for the run.
	signalTimeout = 10 * time.Second
	// minFetchTimeout bounds one /status poll; a hung daemon then shows as
	// unreachable instead of freezing the view.
	minFetchTimeout = 5 * time.Second
	// rateWeight is the EWMA weight of the newest rate sample: about the
	// last three polls dominate, so the rate follows a change within
	// seconds without jumping with every poll.
	rateWeight = 0.3
	// Fallback screen size until the terminal reports its own.
	defaultWidth, defaultHeight = 80, 24
)

type focus int

const (
	focusList focus = iota
	focusDetails
)

// statusMsg is the outcome of one poll.
type statusMsg struct {
	st  controlapi.DaemonStatus
	err error
	at  time.Time // local clock when the answer arrived
}

// tickMsg asks for the next poll; seq tells stale timers apart.
type tickMsg struct{ seq int }

// signalMsg is the outcome of a wakeup or reset.
type signalMsg struct {
	op, job string
	resp    controlapi.SignalResponse
	err     error
}

// rateTracker smooths one running job's transfer rate over polls.
type rateTracker struct {
	runID string
	done  int64
	at    time.Time
	rate  float64
}

// Model is the Bubble Tea model of the live view.
type Model struct {
	ctx      context.Context
	daemon   Daemon
	interval time.Duration
	clock    func() time.Time

	st          *controlapi.DaemonStatus
	skew        time.Duration // daemon clock minus local clock, at the last poll
	refreshedAt time.Time     // local clock
	fetching    bool
	tickSeq     int

	unreachableSince time.Time // local clock; zero while the daemon answers
	fetchErr         error

	selected  string // job name
	listTop   int    // first job row shown
	focus     focus
	detailTop int // first details line shown

	filtering bool
	filter    string

	confirmReset string // job awaiting y/n for reset, or ""
	showHelp     bool
	info         string // last signal result
	errLine      string // dismissable error

	rates map[string]*rateTracker

	width, height int
	styles        styles
}

// New makes the model. ctx bounds its requests to the daemon.
func New(ctx context.Context, d Daemon, opts Options) *Model {
	m := &Model{
		ctx: ctx, daemon: d, interval: opts.Interval, clock: opts.Clock,
		selected: opts.Job, rates: map[string]*rateTracker{},
		width: defaultWidth, height: defaultHeight, styles: newStyles(),
	}
	if m.interval <= 0 {
		m.interval = DefaultInterval
	}
	if m.clock == nil {
		m.clock = time.Now
	}
	if opts.Initial != nil {
		m.applyStatus(*opts.Initial, m.clock())
	}
	return m
}

// Run shows the view on out, reading keys from in, until the user quits or
// ctx ends (neither is an error).
func Run(ctx context.Context, d Daemon, opts Options, in io.Reader, out io.Writer) error {
	p := tea.NewProgram(New(ctx, d, opts), tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out), tea.WithAltScreen())
	_, err := p.Run()
	if errors.Is(err, tea.ErrInterrupted) || (errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil) {
		return nil
	}
	return err
}

// Init starts polling.
func (m *Model) Init() tea.Cmd {
	m.fetching = true
	return m.fetch()
}

func (m *Model) fetch() tea.Cmd {
	ctx, d, clock := m.ctx, m.daemon, m.clock
	timeout := max(m.interval, minFetchTimeout)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		st, err := d.Status(ctx)
		return statusMsg{st: st, err: err, at: clock()}
	}
}

func (m *Model) scheduleTick() tea.Cmd {
	m.tickSeq++
	seq := m.tickSeq
	return tea.Tick(m.interval, func(time.Time) tea.Msg { return tickMsg{seq: seq} })
}

// pollNow polls at once unless a poll is already under way (its answer
// shows soon enough); the pending timer is superseded.
func (m *Model) pollNow() tea.Cmd {
	if m.fetching {
		return nil
	}
	m.fetching = true
	m.tickSeq++
	return m.fetch()
}

func (m *Model) signal(op, jobName string) tea.Cmd {
	ctx, d := m.ctx, m.daemon
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, signalTimeout)
		defer cancel()
		resp, err := d.Signal(ctx, controlapi.SignalRequest{Job: jobName, Op: op})
		return signalMsg{op: op, job: jobName, resp: resp, err: err}
	}
}

// Update handles a message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = max(msg.Width, 20), max(msg.Height, 8)
		m.clampScroll()
		return m, nil
	case statusMsg:
		m.fetching = false
		if msg.err != nil {
			if m.unreachableSince.IsZero() {
				m.unreachableSince = msg.at
			}
			m.fetchErr = msg.err
		} else {
			if !m.unreachableSince.IsZero() {
				m.info = fmt.Sprintf("%s daemon reachable again after %s", clockTime(msg.at), statusview.Duration(msg.at.Sub(m.unreachableSince)))
				m.unreachableSince, m.fetchErr = time.Time{}, nil
			}
			m.applyStatus(msg.st, msg.at)
		}
		return m, m.scheduleTick()
	case tickMsg:
		if msg.seq != m.tickSeq || m.fetching {
			return m, nil
		}
		m.fetching = true
		return m, m.fetch()
	case signalMsg:
		m.signalDone(msg)
		return m, m.pollNow()
	case tea.KeyMsg:
		return m.key(msg)
	}
	return m, nil
}

func (m *Model) signalDone(msg signalMsg) {
	now := clockTime(m.clock())
	if msg.err != nil {
		m.errLine = fmt.Sprintf("%s %s %s: %s", now, msg.op, msg.job, oneLine(msg.err.Error()))
		return
	}
	switch {
	case msg.op == controlapi.OpReset:
		m.info = fmt.Sprintf("%s reset %s: its current run, if any, is canceled", now, msg.job)
	case msg.resp.Queued:
		m.info = fmt.Sprintf("%s %s is busy: one run is queued for when the current run ends", now, msg.job)
	default:
		m.info = fmt.Sprintf("%s woke up %s: a run starts now", now, msg.job)
	}
}

// applyStatus takes a new report: the clock skew, the smoothed rates, and
// a selection that still exists.
func (m *Model) applyStatus(st controlapi.DaemonStatus, at time.Time) {
	m.st = &st
	m.refreshedAt = at
	m.skew = 0
	sampleAt := at
	if !st.Now.IsZero() {
		m.skew = st.Now.Sub(at)
		sampleAt = st.Now
	}
	running := map[string]bool{}
	for _, j := range st.Jobs {
		if j.Current == nil {
			continue
		}
		running[j.Name] = true
		m.sampleRate(j.Name, *j.Current, sampleAt)
	}
	for name := range m.rates {
		if !running[name] {
			delete(m.rates, name)
		}
	}
	m.clampScroll()
}

func (m *Model) sampleRate(name string, c controlapi.RunProgress, at time.Time) {
	t := m.rates[name]
	if t == nil || t.runID != c.ID || c.BytesDone < t.done {
		// A new run or a retry from zero: start from the daemon's average.
		m.rates[name] = &rateTracker{runID: c.ID, done: c.BytesDone, at: at, rate: c.BytesPerSecond}
		return
	}
	dt := at.Sub(t.at).Seconds()
	if dt <= 0 {
		return
	}
	sample := float64(c.BytesDone-t.done) / dt
	t.rate = rateWeight*sample + (1-rateWeight)*t.rate
	t.done, t.at = c.BytesDone, at
}

// Rate is the smoothed transfer rate of a running job, in bytes per
// second, and whether the job is running.
func (m *Model) Rate(jobName string) (float64, bool) {
	t, ok := m.rates[jobName]
	if !ok {
		return 0, false
	}
	return t.rate, true
}

// now is the daemon's clock as estimated from the last report, so that
// "ago" and "in" agree with the daemon's times and keep moving between
// polls. While the daemon is unreachable the view stays as of the last
// report: an uptime or a countdown that kept going would be a guess.
func (m *Model) now() time.Time {
	if !m.unreachableSince.IsZero() && !m.refreshedAt.IsZero() {
		return m.refreshedAt.Add(m.skew)
	}
	return m.clock().Add(m.skew)
}

// visibleJobs are the jobs matching the filter, in the daemon's order.
func (m *Model) visibleJobs() []controlapi.JobStatus {
	if m.st == nil {
		return nil
	}
	if m.filter == "" {
		return m.st.Jobs
	}
	var out []controlapi.JobStatus
	needle := strings.ToLower(m.filter)
	for _, j := range m.st.Jobs {
		if strings.Contains(strings.ToLower(j.Name), needle) {
			out = append(out, j)
		}
	}
	return out
}

// cursor is the selected job's index in the visible list, moving the
// selection to the first visible job if it is filtered out or gone.
func (m *Model) cursor() int {
	jobs := m.visibleJobs()
	for i, j := range jobs {
		if j.Name == m.selected {
			return i
		}
	}
	if len(jobs) == 0 {
		return -1
	}
	if m.selected != jobs[0].Name {
		m.selected, m.detailTop = jobs[0].Name, 0
	}
	return 0
}

// Selected is the selected job's name ("" when no job is shown).
func (m *Model) Selected() string {
	if m.cursor() < 0 {
		return ""
	}
	return m.selected
}

func (m *Model) move(delta int) {
	jobs := m.visibleJobs()
	if len(jobs) == 0 {
		return
	}
	i := min(max(m.cursor()+delta, 0), len(jobs)-1)
	if jobs[i].Name != m.selected {
		m.selected, m.detailTop = jobs[i].Name, 0
	}
	m.clampScroll()
}

func (m *Model) key(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste && !m.filtering {
		// Keys typed faster than the terminal is read arrive as one
		// message ("jjw"): each is a command of its own.
		var cmds []tea.Cmd
		for _, r := range msg.Runes {
			_, cmd := m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
			cmds = append(cmds, cmd)
		}
		return m, tea.Batch(cmds...)
	}
	k := msg.String()
	if k == "ctrl+c" {
		return m, tea.Quit
	}
	switch {
	case m.confirmReset != "":
		name := m.confirmReset
		m.confirmReset = ""
		if k == "y" || k == "Y" {
			return m, m.signal(controlapi.OpReset, name)
		}
		m.info = "reset of " + name + " not sent"
		return m, nil
	case m.filtering:
		m.filterKey(msg)
		return m, nil
	case m.showHelp:
		if k == "q" {
			return m, tea.Quit
		}
		m.showHelp = false // any key closes the help
		return m, nil
	}

	switch k {
	case "q":
		return m, tea.Quit
	case "?":
		m.showHelp = true
	case "esc":
		switch {
		case m.errLine != "":
			m.errLine = ""
		case m.info != "":
			m.info = ""
		case m.focus == focusDetails:
			m.focus = focusList
		case m.filter != "":
			m.filter = ""
			m.clampScroll()
		}
	case "enter", "tab", "shift+tab":
		if m.focus == focusList && m.Selected() != "" {
			m.focus = focusDetails
		} else {
			m.focus = focusList
		}
	case "/":
		m.filtering, m.focus = true, focusList
	case "w":
		if name := m.Selected(); name != "" {
			return m, m.signal(controlapi.OpWakeup, name)
		}
		m.errLine = "no job selected"
	case "r":
		if name := m.Selected(); name != "" {
			m.confirmReset = name
		} else {
			m.errLine = "no job selected"
		}
	case "up", "k":
		m.scroll(-1)
	case "down", "j":
		m.scroll(1)
	case "pgup":
		m.scroll(-m.pageSize())
	case "pgdown", " ":
		m.scroll(m.pageSize())
	case "home", "g":
		m.scroll(-1 << 30)
	case "end", "G":
		m.scroll(1 << 30)
	}
	return m, nil
}

// scroll moves the selection (list focus) or the details (details focus).
func (m *Model) scroll(delta int) {
	if m.focus == focusDetails {
		m.detailTop += delta
		m.clampScroll()
		return
	}
	m.move(delta)
}

func (m *Model) pageSize() int {
	l := m.layout()
	if m.focus == focusDetails {
		return max(l.detailRows-1, 1)
	}
	return max(l.listRows, 1)
}

func (m *Model) filterKey(msg tea.KeyMsg) {
	switch msg.Type {
	case tea.KeyEnter, tea.KeyTab:
		m.filtering = false
	case tea.KeyEsc:
		m.filtering, m.filter = false, ""
	case tea.KeyBackspace:
		if r := []rune(m.filter); len(r) > 0 {
			m.filter = string(r[:len(r)-1])
		}
	case tea.KeyUp:
		m.move(-1)
	case tea.KeyDown:
		m.move(1)
	case tea.KeyRunes, tea.KeySpace:
		m.filter += string(msg.Runes)
	}
	m.clampScroll()
}

// layout is how many rows the list and the details get.
type layout struct {
	listRows, detailRows int
}

func (m *Model) layout() layout {
	// header, list title and column names, message, footer; the details'
	// title is counted in detailRows
	fixed := 1 + 2 + len(m.messageLines()) + 2
	if !m.unreachableSince.IsZero() {
		fixed += 2
	}
	rest := max(m.height-fixed, 2)
	n := len(m.visibleJobs())
	// The list takes what it needs, up to a third of the space (at least
	// 3 rows); the details get the rest.
	listRows := min(max(n, 1), max(rest/3, 3))
	listRows = min(listRows, rest-1)
	return layout{listRows: listRows, detailRows: rest - listRows}
}

// clampScroll keeps the selection inside the list window and the details
// offset inside the text.
func (m *Model) clampScroll() {
	l := m.layout()
	c := m.cursor()
	if c >= 0 {
		if c < m.listTop {
			m.listTop = c
		}
		if c >= m.listTop+l.listRows {
			m.listTop = c - l.listRows + 1
		}
	}
	m.listTop = max(min(m.listTop, len(m.visibleJobs())-l.listRows), 0)
	lines := len(m.detailLines())
	m.detailTop = max(min(m.detailTop, lines-(l.detailRows-1)), 0) // the title takes a row
}

func (m *Model) selectedJob() (controlapi.JobStatus, bool) {
	c := m.cursor()
	if c < 0 {
		return controlapi.JobStatus{}, false
	}
	return m.visibleJobs()[c], true
}

func (m *Model) detailLines() []string {
	j, ok := m.selectedJob()
	if !ok {
		return nil
	}
	rates := map[string]float64{}
	if r, ok := m.Rate(j.Name); ok {
		rates[j.Name] = r
	}
	var b strings.Builder
	_ = statusview.RenderJob(&b, j, statusview.Options{Now: m.now(), Width: m.width, Wrap: true, Rates: rates, Style: m.styles.status})
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

// View draws the screen.
func (m *Model) View() string {
	var lines []string
	add := func(s ...string) { lines = append(lines, s...) }
	l := m.layout()
	now := m.now()

	if m.st == nil {
		add(m.styles.header.Render("raftsnap: waiting for the daemon's first status"))
	} else {
		add(m.styles.header.Render(statusview.Header(*m.st, now)))
	}
	if !m.unreachableSince.IsZero() {
		add(m.styles.bad.Render(fmt.Sprintf("daemon unreachable since %s (%s), retrying every %s",
			clockTime(m.unreachableSince), statusview.Duration(m.clock().Sub(m.unreachableSince)), m.interval)),
			m.styles.bad.Render("  "+oneLine(errString(m.fetchErr))))
	}

	if m.showHelp {
		add(helpLines()...)
	} else {
		add(m.listLines(l.listRows, now)...)
		add(m.detailsBlock(l.detailRows)...)
	}
	// Pad so that the message line and the footer stay at the bottom.
	msg := m.messageLines()
	bottom := len(msg) + 2
	for len(lines) < m.height-bottom {
		add("")
	}
	if extra := len(lines) - (m.height - bottom); extra > 0 {
		// A terminal too small for the layout loses details, never the
		// footer.
		lines = lines[:len(lines)-extra]
	}
	add(msg...)
	refreshed := "never refreshed"
	if !m.refreshedAt.IsZero() {
		refreshed = fmt.Sprintf("refreshed %s, every %s", clockTime(m.refreshedAt), m.interval)
		if !m.unreachableSince.IsZero() {
			refreshed = fmt.Sprintf("last refreshed %s: the view shows the daemon as it was then", clockTime(m.refreshedAt))
		}
	}
	add(m.styles.dim.Render(refreshed))
	add(m.styles.dim.Render(m.keyHelp()))

	for i, s := range lines {
		lines[i] = ansi.Truncate(s, m.width, "…")
	}
	return strings.Join(lines, "\n")
}

func (m *Model) listLines(rows int, now time.Time) []string {
	jobs := m.visibleJobs()
	total := 0
	if m.st != nil {
		total = len(m.st.Jobs)
	}
	title := fmt.Sprintf("JOBS (%d)", total)
	if m.filter != "" || m.filtering {
		title = fmt.Sprintf("JOBS (%d of %d) filter: %s", len(jobs), total, m.filter)
		if m.filtering {
			title += "_"
		}
	}
	if len(jobs) > rows {
		title += fmt.Sprintf("  [%d-%d of %d]", m.listTop+1, min(m.listTop+rows, len(jobs)), len(jobs))
	}
	out := []string{m.styles.title.Render(title)}

	sums := make([]statusview.JobSummary, len(jobs))
	nameWidth := len("JOB")
	for i, j := range jobs {
		sums[i] = statusview.Summarize(j, now)
		nameWidth = max(nameWidth, ansi.StringWidth(j.Name))
	}
	nameWidth = min(nameWidth, max(m.width-60, 12))
	row := func(marker, sym, name, typ, state, last, next, running string) string {
		return strings.TrimRight(fmt.Sprintf("%s %s %s  %-8s  %s  %-12s  %-10s  %s", marker, sym, pad(name, nameWidth), typ, state, last, next, running), " ")
	}
	out = append(out, m.styles.dim.Render(row(" ", "  ", "JOB", "TYPE", "STATE  ", "LAST SUCCESS", "NEXT RUN", "NOW")))
	if len(jobs) == 0 {
		if total == 0 {
			out = append(out, "  no jobs configured")
		} else {
			out = append(out, "  no job matches the filter")
		}
		for i := 1; i < rows; i++ {
			out = append(out, "")
		}
		return out
	}
	c := m.cursor()
	for i := m.listTop; i < m.listTop+rows; i++ {
		if i >= len(jobs) {
			out = append(out, "")
			continue
		}
		s, st := sums[i], jobs[i].State
		marker := " "
		if i == c {
			marker = "▶"
		}
		line := row(marker, m.styles.stateText(st, s.Symbol), pad(s.Name, nameWidth), s.Type,
			m.styles.stateText(st, fmt.Sprintf("%-7s", s.State)), s.LastSuccess, s.NextRun, s.Running)
		if i == c {
			line = m.styles.selected.Render(line)
		}
		out = append(out, line)
	}
	return out
}

func (m *Model) detailsBlock(rows int) []string {
	j, ok := m.selectedJob()
	if !ok {
		out := []string{m.styles.title.Render("DETAILS")}
		for i := 1; i < rows; i++ {
			out = append(out, "")
		}
		return out
	}
	all := m.detailLines()
	shown := all[min(m.detailTop, len(all)):]
	more := ""
	if len(shown) > rows-1 {
		shown = shown[:rows-1]
		if m.focus == focusList && rows > 2 {
			shown = shown[:rows-2]
			more = m.styles.dim.Render(fmt.Sprintf("  … %d more lines (enter to scroll)", len(all)-m.detailTop-len(shown)))
		}
	}
	title := "DETAILS " + j.Name
	if m.focus == focusDetails {
		title += "  (focused: ↑/↓ scroll, tab back)"
	}
	if len(all) > rows-1 {
		title += fmt.Sprintf("  [lines %d-%d of %d]", m.detailTop+1, m.detailTop+len(shown), len(all))
	}
	out := append([]string{m.styles.title.Render(title)}, shown...)
	if more != "" {
		out = append(out, more)
	}
	return out
}

// maxMessageLines bounds a long error wrapped over several lines.
const maxMessageLines = 3

// messageLines is the line above the footer: a question, the filter being
// typed, an error or the last signal's result, wrapped to the width.
func (m *Model) messageLines() []string {
	var text string
	var style *lipgloss.Style
	switch {
	case m.confirmReset != "":
		text, style = fmt.Sprintf("reset job %s? Its current run and a queued wakeup are canceled. [y/n]", m.confirmReset), &m.styles.warn
	case m.filtering:
		text = "filter: " + m.filter + "_  (enter keeps it, esc clears it)"
	case m.errLine != "":
		text, style = "error: "+m.errLine+"  (esc dismisses)", &m.styles.bad
	default:
		text = m.info
	}
	lines := strings.Split(ansi.Wrap(text, m.width, " "), "\n")
	if len(lines) > maxMessageLines {
		lines = lines[:maxMessageLines]
		lines[maxMessageLines-1] = ansi.Truncate(lines[maxMessageLines-1], m.width-1, "") + "…"
	}
	if style != nil {
		for i, l := range lines {
			lines[i] = style.Render(l)
		}
	}
	return lines
}

func (m *Model) keyHelp() string {
	switch {
	case m.showHelp:
		return "any key closes the help  q quit"
	case m.filtering:
		return "type to filter  ↑/↓ select  enter keep  esc clear  ctrl+c quit"
	case m.focus == focusDetails:
		return "↑/↓ j/k scroll  tab/enter/esc back  w wakeup  r reset  ? help  q quit"
	}
	return "↑/↓ j/k select  enter/tab details  / filter  w wakeup  r reset  ? help  q quit"
}

func helpLines() []string {
	return []string{
		"KEYS",
		"  ↑ ↓  j k     select a job (or scroll the details when they have the focus)",
		"  pgup pgdown  a page up or down;  home end  g G  first or last",
		"  enter tab    focus the details of the selected job, or go back to the list",
		"  /            filter jobs by name (enter keeps the filter, esc clears it)",
		"  w            wake the selected job up: run it now (queued if it is busy)",
		"  r            reset the selected job: cancel its run (asks y/n first)",
		"  esc          dismiss the error line, leave the details, clear the filter",
		"  ?            this help;  q  ctrl+c  quit",
		"",
		"STATES  >> running   .. waiting   -- idle   !! error",
		"RUNS    OK  FAILED  CANCELED;  rates are smoothed over the last polls",
	}
}

func pad(s string, width int) string {
	if w := ansi.StringWidth(s); w < width {
		return s + strings.Repeat(" ", width-w)
	}
	return ansi.Truncate(s, width, "…")
}

func clockTime(t time.Time) string { return t.UTC().Format("15:04:05 UTC") }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func errString(err error) string {
	if err == nil {
		return "no answer"
	}
	return err.Error()
}

type styles struct {
	header, title, dim, bad, warn, selected lipgloss.Style
	states                                  map[controlapi.State]lipgloss.Style
	results                                 map[controlapi.Result]lipgloss.Style
	status                                  *statusview.Style
}

func newStyles() styles {
	s := styles{
		header:   lipgloss.NewStyle().Bold(true),
		title:    lipgloss.NewStyle().Bold(true).Underline(true),
		dim:      lipgloss.NewStyle().Faint(true),
		bad:      lipgloss.NewStyle().Foreground(lipgloss.Color("9")).Bold(true),
		warn:     lipgloss.NewStyle().Foreground(lipgloss.Color("11")).Bold(true),
		selected: lipgloss.NewStyle().Bold(true),
		states: map[controlapi.State]lipgloss.Style{
			controlapi.StateRunning: lipgloss.NewStyle().Foreground(lipgloss.Color("12")).Bold(true),
			controlapi.StateWaiting: lipgloss.NewStyle().Foreground(lipgloss.Color("10")),
			controlapi.StateIdle:    lipgloss.NewStyle().Foreground(lipgloss.Color("8")),
			controlapi.StateError:   lipgloss.NewStyle().Foreground(lipgloss.Color("9")).Bold(true),
		},
		results: map[controlapi.Result]lipgloss.Style{
			controlapi.ResultSuccess:  lipgloss.NewStyle().Foreground(lipgloss.Color("10")),
			controlapi.ResultFailure:  lipgloss.NewStyle().Foreground(lipgloss.Color("9")).Bold(true),
			controlapi.ResultCanceled: lipgloss.NewStyle().Foreground(lipgloss.Color("11")),
		},
	}
	s.status = &statusview.Style{
		State: s.stateText,
		Result: func(r controlapi.Result, text string) string {
			if st, ok := s.results[r]; ok {
				return st.Render(text)
			}
			return text
		},
	}
	return s
}

func (s styles) stateText(st controlapi.State, text string) string {
	if style, ok := s.states[st]; ok {
		return style.Render(text)
	}
	return text
}
