package tui

import (
	"fmt"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"

	tea "github.com/charmbracelet/bubbletea"
)

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
	case m.confirm != nil:
		c := m.confirm
		m.confirm = nil
		if k == "y" || k == "Y" {
			return m, m.signal(c.op, c.job)
		}
		m.info = c.declined
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
		j, ok := m.selectedJob()
		switch {
		case !ok:
			m.errLine = "no job selected"
		case j.Type == config.JobRestore:
			// One key must not overwrite a live cluster: name the target
			// and ask, as for a reset.
			m.confirm = &confirmation{op: controlapi.OpWakeup, job: j.Name,
				question: restoreQuestion(j), declined: "restore of " + j.Name + " not started"}
		default:
			return m, m.signal(controlapi.OpWakeup, j.Name)
		}
	case "r":
		if name := m.Selected(); name != "" {
			m.confirm = &confirmation{op: controlapi.OpReset, job: name,
				question: fmt.Sprintf("reset job %s? Its current run and a queued wakeup are canceled.", name),
				declined: "reset of " + name + " not sent"}
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

// restoreQuestion asks before a restore job replaces its target's state.
func restoreQuestion(j controlapi.JobStatus) string {
	target := j.Target
	if target == "" {
		target = "its target" // a daemon too old to say
	}
	snap := j.Snapshot
	if snap == "" || snap == "latest" {
		snap = "the latest verified snapshot"
	}
	return fmt.Sprintf("restore job %s: replace ALL data of %s with %s?", j.Name, target, snap)
}
