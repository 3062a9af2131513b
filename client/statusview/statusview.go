// Package statusview renders the daemon's /status report as text for people.
// `raftsnap status --mode dump` prints it once; the live TUI (client/tui)
// builds its screen from the same pieces (Header, Summarize, RenderJob), so
// there is one renderer and one place to change the layout.
//
// The text reads without colour: each job state and run result has its own
// symbol or word, and all times are UTC.
package statusview

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot/printable"

	"github.com/charmbracelet/x/ansi"
	"github.com/dustin/go-humanize"
)

// Options shape the rendering.
type Options struct {
	// Job renders only the job of that name ("" for all).
	Job string
	// Now is the reference for "ago" and "in"; zero means the report's own
	// Now (the daemon's clock), or the local clock if that is zero too.
	Now time.Time
	// Width is the terminal width; long lines (errors) are cut to it. Zero
	// means no limit.
	Width int
	// Wrap continues long lines on indented lines instead of cutting them
	// (the TUI, which can scroll).
	Wrap bool
	// Rates replaces, per job name, the transfer rate the daemon reports
	// (an average since the transfer started) with the caller's own, e.g.
	// the TUI's smoothed rate; the ETA follows it.
	Rates map[string]float64
	// Style colours job states and run results; nil renders plain text.
	// Truncation to Width ignores the escape codes a Style adds.
	Style *Style
}

// Style colours parts of the text. Each function gets the plain text and
// returns it decorated; a nil function leaves the text as is. The symbols
// and words stay, so the text still reads without colour.
type Style struct {
	State  func(s controlapi.State, text string) string
	Result func(r controlapi.Result, text string) string
}

func (s *Style) state(st controlapi.State, text string) string {
	if s == nil || s.State == nil {
		return text
	}
	return s.State(st, text)
}

func (s *Style) result(r controlapi.Result, text string) string {
	if s == nil || s.Result == nil {
		return text
	}
	return s.Result(r, text)
}

// HistoryLines is how many past runs a job shows.
const HistoryLines = 5

const labelWidth = 13

// Safe makes every string of st printable in place: status text comes from
// outside (servers' error pages, snapshots' server IDs, file names) and
// must not reach a terminal as control sequences. Render does it; views
// that draw fields themselves (the TUI) call it on each status.
func Safe(st *controlapi.DaemonStatus) { printable.Strings(st) }

// Render writes st as text. A Job option naming no job in st is an error.
func Render(w io.Writer, st controlapi.DaemonStatus, opts Options) error {
	Safe(&st)
	now := refTime(opts.Now, st.Now)
	r := newRenderer(now, opts)

	jobs := st.Jobs
	if opts.Job != "" {
		jobs = nil
		for _, j := range st.Jobs {
			if j.Name == opts.Job {
				jobs = append(jobs, j)
			}
		}
		if len(jobs) == 0 {
			return fmt.Errorf("the daemon has no job named %q; jobs: %s", opts.Job, strings.Join(JobNames(st), ", "))
		}
	}

	r.line(Header(st, now))
	for _, l := range ReloadRefused(st, now) {
		r.line(l)
	}
	if st.Schema > controlapi.SchemaVersion {
		r.line(fmt.Sprintf("note: status schema %d is newer than this client's (%d); some fields may be missing", st.Schema, controlapi.SchemaVersion))
	}
	if len(jobs) == 0 {
		r.line("")
		r.line("no jobs configured")
	}
	for _, j := range jobs {
		r.line("")
		r.job(j)
	}
	_, err := io.WriteString(w, r.b.String())
	return err
}

// refTime picks the reference time for "ago": the caller's, else the
// report's, else the local clock.
func refTime(given, reported time.Time) time.Time {
	switch {
	case !given.IsZero():
		return given
	case !reported.IsZero():
		return reported
	default:
		return time.Now()
	}
}

func newRenderer(now time.Time, opts Options) *renderer {
	return &renderer{now: now, width: opts.Width, wrap: opts.Wrap, rates: opts.Rates, style: opts.Style}
}

// ReloadRefused says, when the daemon's last configuration reload was
// refused, that it was and why: one line, then the problems indented. It is
// shown above everything else until a reload succeeds, since the running
// configuration is then not the file on disk. Empty otherwise.
func ReloadRefused(st controlapi.DaemonStatus, now time.Time) []string {
	c := st.Config
	if c == nil || c.LastReloadSuccessful == nil || *c.LastReloadSuccessful {
		return nil
	}
	when := ""
	if c.LastReloadAt != nil {
		when = fmt.Sprintf(" %s ago (%s)", Duration(now.Sub(*c.LastReloadAt)), Time(*c.LastReloadAt))
	}
	lines := []string{fmt.Sprintf("CONFIGURATION RELOAD REFUSED%s: the configuration loaded %s is still running, not the file on disk",
		when, Time(c.LoadedAt))}
	for _, p := range strings.Split(strings.TrimSpace(c.LastReloadError), "\n") {
		if p = strings.TrimSpace(p); p != "" {
			lines = append(lines, "  "+p)
		}
	}
	return lines
}

// Header is the daemon's one-line description: version, pid and uptime
// at now.
func Header(st controlapi.DaemonStatus, now time.Time) string {
	header := fmt.Sprintf("raftsnap daemon %s, pid %d", st.Version, st.PID)
	if !st.StartedAt.IsZero() {
		header += fmt.Sprintf(", up %s (since %s)", Duration(now.Sub(st.StartedAt)), Time(st.StartedAt))
	}
	return header
}

// RenderJob writes one job's details exactly as Render shows them (without
// the daemon header). opts.Job is ignored; a zero opts.Now means the local
// clock.
func RenderJob(w io.Writer, j controlapi.JobStatus, opts Options) error {
	printable.Strings(&j)
	r := newRenderer(refTime(opts.Now, time.Time{}), opts)
	r.job(j)
	_, err := io.WriteString(w, r.b.String())
	return err
}

// JobSummary is one job in a line of columns, as a job list shows it.
type JobSummary struct {
	Symbol      string // StateSymbol
	Name        string
	Type        string
	State       string
	LastSuccess string // "5m0s ago", "never"
	NextRun     string // "in 55m0s", "due now", "on signal", "-"
	// Running is the current run's phase and percentage, "" when idle.
	Running string
}

// Summarize condenses j to a JobSummary at reference time now.
func Summarize(j controlapi.JobStatus, now time.Time) JobSummary {
	r := &renderer{now: now}
	s := JobSummary{Symbol: StateSymbol(j.State), Name: j.Name, Type: j.Type, State: string(j.State), LastSuccess: "never", NextRun: "-"}
	if j.LastSuccessAt != nil {
		s.LastSuccess = r.ago(*j.LastSuccessAt)
	}
	switch {
	case j.NextRunAt != nil:
		s.NextRun = r.until(*j.NextRunAt)
	case onSignalOnly(j):
		s.NextRun = "on signal"
	}
	if c := j.Current; c != nil {
		s.Running = c.Phase
		if s.Running == "" {
			s.Running = "starting"
		}
		if c.BytesExpected > 0 {
			s.Running += fmt.Sprintf(" %.0f%%", min(float64(c.BytesDone)/float64(c.BytesExpected), 1)*100)
		}
	}
	if j.PendingSignal != "" {
		s.Running = strings.TrimSpace(s.Running + " +" + j.PendingSignal)
	}
	return s
}

// onSignalOnly tells whether j runs only when signalled: restore jobs,
// and drill jobs without an interval.
func onSignalOnly(j controlapi.JobStatus) bool {
	return j.Type == config.JobRestore || (j.Type == config.JobDrill && j.IntervalSeconds == 0)
}

// drillOutcome describes a drill job's last conclusive drill.
func (r *renderer) drillOutcome(d controlapi.DrillOutcome) string {
	word := "ok, restorable"
	if d.Result != controlapi.DrillOK {
		word = "FAILED"
	}
	v := fmt.Sprintf("%s %s (%s): %s", r.style.result(drillResult(d.Result), word), r.ago(d.At), Time(d.At), d.Snapshot)
	if d.Server != "" {
		v += " into " + d.Server
	}
	if d.Index > 0 {
		v += fmt.Sprintf(", restored index %d", d.Index)
	}
	if d.Reason != "" {
		v += ": " + oneLine(d.Reason)
	}
	return v
}

func drillResult(outcome string) controlapi.Result {
	if outcome == controlapi.DrillOK {
		return controlapi.ResultSuccess
	}
	return controlapi.ResultFailure
}

// JobNames lists the names of st's jobs, in order.
func JobNames(st controlapi.DaemonStatus) []string {
	names := make([]string, 0, len(st.Jobs))
	for _, j := range st.Jobs {
		names = append(names, j.Name)
	}
	return names
}

type renderer struct {
	b     strings.Builder
	now   time.Time
	width int
	wrap  bool
	rates map[string]float64
	style *Style
}

// wrapIndent is where a wrapped line continues: the value column of
// fields and runs.
const wrapIndent = 2 + labelWidth + 1

func (r *renderer) line(s string) {
	if r.width > 0 && ansi.StringWidth(s) > r.width {
		if r.wrap && r.width > 2*wrapIndent {
			first, rest, _ := strings.Cut(ansi.Wrap(s, r.width, " "), "\n")
			r.b.WriteString(first + "\n")
			rest = strings.ReplaceAll(rest, "\n", " ")
			pad := strings.Repeat(" ", wrapIndent)
			for _, l := range strings.Split(ansi.Wrap(rest, r.width-wrapIndent, " "), "\n") {
				r.b.WriteString(pad + strings.TrimLeft(l, " ") + "\n")
			}
			return
		}
		s = ansi.Truncate(s, max(r.width, 2), "…")
	}
	r.b.WriteString(s)
	r.b.WriteByte('\n')
}

// field writes "  label        value".
func (r *renderer) field(label, value string) {
	r.line(strings.TrimRight(fmt.Sprintf("  %-*s%s", labelWidth, label, value), " "))
}

// cont continues the previous field on a new line, aligned with its value.
func (r *renderer) cont(value string) {
	r.line(strings.Repeat(" ", 2+labelWidth) + value)
}

// StateSymbol is a job state's marker, distinct in shape so that it reads
// without colour.
func StateSymbol(s controlapi.State) string {
	switch s {
	case controlapi.StateRunning:
		return ">>"
	case controlapi.StateWaiting:
		return ".."
	case controlapi.StateIdle:
		return "--"
	case controlapi.StateError:
		return "!!"
	default:
		return "??"
	}
}

func (r *renderer) job(j controlapi.JobStatus) {
	r.line(fmt.Sprintf("%s %s (%s): %s", r.style.state(j.State, StateSymbol(j.State)), j.Name, j.Type, r.style.state(j.State, string(j.State))))
	if j.Problem != "" {
		r.field("problem", r.style.result(controlapi.ResultFailure, oneLine(j.Problem)))
	}

	if c := j.Current; c != nil {
		rate, ok := r.rates[j.Name]
		if !ok || rate <= 0 {
			rate = c.BytesPerSecond
		}
		r.current(*c, rate)
	}
	if j.LastSuccessAt != nil {
		r.field("last success", fmt.Sprintf("%s (%s)", r.ago(*j.LastSuccessAt), Time(*j.LastSuccessAt)))
	} else {
		r.field("last success", "never")
	}
	switch {
	case j.NextRunAt != nil:
		r.field("next run", fmt.Sprintf("%s (%s)", r.until(*j.NextRunAt), Time(*j.NextRunAt)))
	case onSignalOnly(j):
		r.field("next run", "when signalled (raftsnap signal wakeup "+j.Name+")")
	}
	if d := j.LastDrill; d != nil {
		r.field("last drill", r.drillOutcome(*d))
	}
	if j.PendingSignal != "" {
		r.field("pending", j.PendingSignal+" (acted on when the current run ends)")
	}
	if h := j.HA; h != nil {
		r.field("ha", haLine(*h, r.ago(h.Since)))
	}
	stores := j.Stores
	if len(stores) == 0 && j.Store != nil {
		stores = []controlapi.StoreSummary{*j.Store}
	}
	for _, s := range stores {
		r.field("store", r.storeSummary(s))
		if s.LastError != "" {
			when := ""
			if s.LastErrorAt != nil {
				when = " (" + r.ago(*s.LastErrorAt) + ")"
			}
			r.cont("error" + when + ": " + oneLine(s.LastError))
		}
		for _, w := range s.Warnings {
			r.cont("warning: " + oneLine(w))
		}
	}
	if p := j.Pruning; p != nil {
		r.field("pruning", r.pruneSummary(*p))
		for _, e := range p.Errors {
			r.cont("error: " + oneLine(e))
		}
		r.pruneReasons(p.Decisions)
	}

	runs := j.History
	if len(runs) == 0 && j.LastRun != nil {
		runs = []controlapi.RunReport{*j.LastRun}
	}
	if len(runs) == 0 {
		r.field("last runs", "none yet")
	} else {
		r.field("last runs", "")
		for _, run := range runs[:min(len(runs), HistoryLines)] {
			r.line(fmt.Sprintf("    %-11s %s", r.ago(run.FinishedAt), formatRun(run, r.style)))
		}
		if len(runs) > HistoryLines {
			r.line(fmt.Sprintf("    ... %d older", len(runs)-HistoryLines))
		}
	}
	if j.Crashes > 0 {
		v := fmt.Sprintf("%d", j.Crashes)
		if j.LastCrash != "" {
			v += ", last: " + oneLine(j.LastCrash)
		}
		r.field("crashes", v)
	}
}

// current shows the run in progress; rate is the transfer rate to show
// and to compute the ETA from.
func (r *renderer) current(c controlapi.RunProgress, rate float64) {
	v := c.Phase
	if v == "" {
		v = "starting"
	}
	if c.Attempt > 1 {
		v += fmt.Sprintf(" (attempt %d)", c.Attempt)
	}
	if c.ID != "" {
		v = "run " + c.ID + ": " + v
	}
	v += ", started " + r.ago(c.StartedAt)
	r.field("current", v)

	done := humanize.IBytes(uint64(max(c.BytesDone, 0)))
	rateText := humanize.IBytes(uint64(max(rate, 0))) + "/s"
	if c.BytesExpected > 0 {
		frac := min(float64(c.BytesDone)/float64(c.BytesExpected), 1)
		p := fmt.Sprintf("%s %3.0f%%  %s / %s  %s", bar(frac, r.barWidth()), frac*100,
			done, humanize.IBytes(uint64(c.BytesExpected)), rateText)
		if rate > 0 && c.BytesDone < c.BytesExpected {
			eta := time.Duration(float64(c.BytesExpected-c.BytesDone) / rate * float64(time.Second))
			p += "  ETA " + Duration(eta)
		}
		r.cont(p)
	} else if c.BytesDone > 0 {
		r.cont(fmt.Sprintf("%s so far (size unknown)  %s", done, rateText))
	}
}

// barWidth leaves room for the figures after the bar on the line.
func (r *renderer) barWidth() int {
	switch {
	case r.width > 0 && r.width < 70:
		return 10
	case r.width > 0 && r.width < 100:
		return 16
	}
	return 24
}

func bar(frac float64, width int) string {
	n := int(frac * float64(width))
	return "[" + strings.Repeat("#", n) + strings.Repeat("-", width-n) + "]"
}

func (r *renderer) pruneSummary(p controlapi.PruneSummary) string {
	v := fmt.Sprintf("kept %d, destroyed %d", p.Kept, p.Destroyed)
	if p.Foreign > 0 {
		v += fmt.Sprintf(", %d foreign file%s ignored (never pruned)", p.Foreign, plural(p.Foreign))
	}
	if p.OtherJobs > 0 {
		v += fmt.Sprintf(", %d of other jobs", p.OtherJobs)
	}
	if n := len(p.Errors); n > 0 {
		v += fmt.Sprintf(", %d error%s", n, plural(n))
	}
	if !p.At.IsZero() {
		v += " (" + r.ago(p.At) + ")"
	}
	return v
}

// DestroyedLines is how many destroyed snapshots the pruning details name.
const DestroyedLines = 3

// pruneReasons says why: how many snapshots each reason kept, and the
// destroyed ones by name with their reasons.
func (r *renderer) pruneReasons(decisions []controlapi.PruneDecision) {
	var order []string
	kept := map[string]int{}
	var destroyed []controlapi.PruneDecision
	for _, d := range decisions {
		if !d.Keep {
			destroyed = append(destroyed, d)
			continue
		}
		for _, reason := range d.Reasons {
			if kept[reason] == 0 {
				order = append(order, reason)
			}
			kept[reason]++
		}
	}
	if len(order) > 0 {
		parts := make([]string, len(order))
		for i, reason := range order {
			parts[i] = fmt.Sprintf("%s (%d)", oneLine(reason), kept[reason])
		}
		r.cont("kept for: " + strings.Join(parts, ", "))
	}
	for _, d := range destroyed[:min(len(destroyed), DestroyedLines)] {
		v := "destroyed " + d.Snapshot
		if len(d.Reasons) > 0 {
			v += ": " + oneLine(strings.Join(d.Reasons, ", "))
		}
		r.cont(v)
	}
	if n := len(destroyed) - DestroyedLines; n > 0 {
		r.cont(fmt.Sprintf("... %d more destroyed", n))
	}
}

// storeSummary is one store on a line: where, how many snapshots and bytes,
// the newest, and what needs a look (unverified snapshots, copies behind).
func (r *renderer) storeSummary(s controlapi.StoreSummary) string {
	v := s.Path
	if s.Type != "" && s.Type != "local" {
		v += " (" + s.Type + ")"
	}
	if s.Unlisted {
		return v + ": cannot be listed"
	}
	v += fmt.Sprintf(": %d snapshot%s, %s", s.Snapshots, plural(s.Snapshots), humanize.IBytes(uint64(max(s.TotalBytes, 0))))
	if s.Encrypted > 0 {
		v += fmt.Sprintf(" (%d encrypted)", s.Encrypted)
	}
	if s.Newest != "" {
		v += ", newest " + s.Newest
		if s.NewestAt != nil {
			v += " (" + r.ago(*s.NewestAt) + ")"
		}
	}
	if s.Unverified > 0 {
		v += fmt.Sprintf(", %d unverified (failed a re-read: never taken for the last good one)", s.Unverified)
	}
	if s.Behind > 0 {
		v += fmt.Sprintf(", %d behind (copied at the next runs)", s.Behind)
	}
	return v
}

// FormatRun is a finished run on one line: result word, run id and trigger,
// duration, and the snapshot taken or restored, or the error.
func FormatRun(run controlapi.RunReport) string {
	printable.Strings(&run)
	return formatRun(run, nil)
}

func formatRun(run controlapi.RunReport, style *Style) string {
	var b strings.Builder
	b.WriteString(style.result(run.Result, fmt.Sprintf("%-8s", resultWord(run.Result))))
	if run.ID != "" {
		b.WriteString(" run " + run.ID)
	}
	if run.Trigger != "" {
		b.WriteString(" (" + run.Trigger + ")")
	}
	if !run.StartedAt.IsZero() && !run.FinishedAt.IsZero() {
		b.WriteString(", took " + Duration(run.FinishedAt.Sub(run.StartedAt)))
	}
	if run.Attempts > 1 {
		b.WriteString(fmt.Sprintf(", %d attempts", run.Attempts))
	}
	if run.Snapshot != "" {
		b.WriteString(": " + run.Snapshot)
		if run.Bytes > 0 {
			b.WriteString(", " + humanize.IBytes(uint64(run.Bytes)))
		}
		if run.Index > 0 {
			b.WriteString(fmt.Sprintf(", index %d", run.Index))
		}
		if run.Stale {
			b.WriteString(", stale (from a follower)")
		}
	}
	if d := run.Drill; d != nil && d.Server != "" && len(d.Checks) > 0 {
		match, other := 0, 0
		for _, c := range d.Checks {
			if c.Result == controlapi.CheckMatch {
				match++
			} else {
				other++
			}
		}
		b.WriteString(fmt.Sprintf("; restored into %s, %d of %d checks match", d.Server, match, match+other))
	}
	if sc := run.Scrub; sc != nil {
		b.WriteString(fmt.Sprintf("; scrubbed %d of %d snapshots, %s", sc.Checked, sc.Total, humanize.IBytes(uint64(max(sc.Bytes, 0)))))
		if sc.Failed > 0 {
			b.WriteString(fmt.Sprintf(", %d rotted (now unverified)", sc.Failed))
		}
	}
	for _, o := range run.Stores {
		switch {
		case o.Error != "":
			b.WriteString("; " + o.Store + " failed")
		case len(o.Copied) > 0:
			b.WriteString(fmt.Sprintf("; %d copied into %s", len(o.Copied), o.Store))
		}
	}
	if run.Pruning != nil {
		b.WriteString(fmt.Sprintf("; pruned: kept %d, destroyed %d", run.Pruning.Kept, run.Pruning.Destroyed))
		if n := len(run.Pruning.Errors); n > 0 {
			b.WriteString(fmt.Sprintf(", %d error%s", n, plural(n)))
		}
	}
	if run.Error != "" {
		b.WriteString(": " + oneLine(run.Error))
	}
	for _, w := range run.Warnings {
		b.WriteString("; warning: " + oneLine(w))
	}
	return b.String()
}

func resultWord(r controlapi.Result) string {
	switch r {
	case controlapi.ResultSuccess:
		return "OK"
	case controlapi.ResultFailure:
		return "FAILED"
	case controlapi.ResultCanceled:
		return "CANCELED"
	case "":
		return "?"
	default:
		return strings.ToUpper(string(r))
	}
}

// ago says how long before the reference time t was; a time in the future
// (clock skew) says so rather than printing a negative age.
func (r *renderer) ago(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	d := r.now.Sub(t)
	if d < 0 {
		return "in " + Duration(-d)
	}
	return Duration(d) + " ago"
}

func (r *renderer) until(t time.Time) string {
	d := t.Sub(r.now)
	if d <= 0 {
		return "due now"
	}
	return "in " + Duration(d)
}

// Duration is d in at most two units: 450ms, 42s, 12m5s, 3h12m, 2d4h.
func Duration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

// Time is t in UTC, to the second.
func Time(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// haLine is a gated job's role: "active (consul_lock) since 5m0s ago",
// "standby (consul_lock) since 1h ago, active: db2 (pid 812)".
func haLine(h controlapi.HAStatus, since string) string {
	v := fmt.Sprintf("%s (%s) since %s", h.Role, h.Mode, since)
	if h.Role != controlapi.RoleActive {
		holder := h.Holder
		if holder == "" {
			holder = "unknown"
		}
		v += ", active: " + holder
	}
	if h.Error != "" {
		v += "; last error: " + oneLine(h.Error)
	}
	return v
}
