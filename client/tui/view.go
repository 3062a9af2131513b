package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/raftsnap/raftsnap/client/statusview"
)

// layout is how many rows the list and the details get.
type layout struct {
	listRows, detailRows int
}

func (m *Model) layout() layout {
	// header, list title and column names, message, footer; the details'
	// title is counted in detailRows
	fixed := 1 + 2 + len(m.messageLines()) + 2 + len(m.reloadLines())
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

// maxReloadLines bounds the refused-reload banner: its first problems,
// then a pointer to the whole list.
const maxReloadLines = 4

// reloadLines is the refused-reload banner (see statusview.ReloadRefused).
func (m *Model) reloadLines() []string {
	if m.st == nil {
		return nil
	}
	lines := statusview.ReloadRefused(*m.st, m.now())
	if len(lines) > maxReloadLines {
		more := len(lines) - maxReloadLines + 1
		lines = append(lines[:maxReloadLines-1:maxReloadLines-1], fmt.Sprintf("  ... %d more problems: raftsnap status --mode dump", more))
	}
	return lines
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
	for _, l := range m.reloadLines() {
		add(m.styles.bad.Render(l))
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
	case m.confirm != nil:
		text, style = m.confirm.question+" [y/n]", &m.styles.warn
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
