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

	"github.com/raftsnap/raftsnap/client/statusview"
)

// Daemon is what the view needs from the daemon's control socket.
type Daemon interface {
	// Summary is every job without history; Job one job in full.
	Summary(ctx context.Context) (controlapi.DaemonStatus, error)
	Job(ctx context.Context, name string) (controlapi.JobStatus, error)
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

	// confirm is the signal awaiting y/n, or nil: a reset, and a wakeup of a
	// restore job (which replaces a cluster's data).
	confirm  *confirmation
	showHelp bool
	info     string // last signal result
	errLine  string // dismissable error

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

// fetch polls the summary of every job, and the selected job in full (its
// history and pruning decisions, for the details pane): the answer stays
// small however many jobs the daemon runs.
func (m *Model) fetch() tea.Cmd {
	ctx, d, clock, selected := m.ctx, m.daemon, m.clock, m.Selected()
	timeout := max(m.interval, minFetchTimeout)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		st, err := d.Summary(ctx)
		if err == nil && selected != "" {
			for i := range st.Jobs {
				if st.Jobs[i].Name != selected {
					continue
				}
				if full, jerr := d.Job(ctx, selected); jerr == nil {
					st.Jobs[i] = full
				}
			}
		}
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
	statusview.Safe(&st)
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

// confirmation is a signal the view asks about before sending it.
type confirmation struct {
	op, job string
	// question is shown with [y/n]; declined is the note when not sent.
	question, declined string
}
