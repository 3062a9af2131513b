package retention

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"

	// Calendar timezones must resolve the same on every host, also on
	// minimal systems without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// lastN keeps the count newest verified snapshots.
type lastN struct{ count int }

// NewLastN keeps the count newest verified snapshots. Unverified snapshots
// are skipped, so they cannot push a good one out.
func NewLastN(count int) (Rule, error) {
	if count < 1 {
		return nil, fmt.Errorf("last_n count must be at least 1, found %d", count)
	}
	return &lastN{count: count}, nil
}

func (r *lastN) String() string { return fmt.Sprintf("last_n %d", r.count) }

func (r *lastN) keep(v *view, mark func(int, string)) {
	keepNewest(v, mark, r.count, fmt.Sprintf("last %d", r.count), func(s *Snapshot) bool { return s.Verified })
}

// keepNewest marks the count newest snapshots of v that pass ok with
// reason.
func keepNewest(v *view, mark func(int, string), count int, reason string, ok func(*Snapshot) bool) {
	kept := 0
	for i := range v.present {
		if kept == count {
			return
		}
		if ok(v.snapshot(i)) {
			mark(i, reason)
			kept++
		}
	}
}

// lastDrilled keeps the count newest snapshots proven restorable.
type lastDrilled struct{ count int }

// NewLastDrilled keeps the count newest verified snapshots whose last
// drill proved them restorable (Snapshot.Drilled), so that the last
// snapshot known to restore is never pruned while newer, undrilled ones
// come and go. A drilled snapshot that no longer verifies is skipped: its
// file is not the one the drill restored.
func NewLastDrilled(count int) (Rule, error) {
	if count < 1 {
		return nil, fmt.Errorf("last_drilled count must be at least 1, found %d", count)
	}
	return &lastDrilled{count: count}, nil
}

func (r *lastDrilled) String() string { return fmt.Sprintf("last_drilled %d", r.count) }

func (r *lastDrilled) keep(v *view, mark func(int, string)) {
	reason := "drilled ok (newest proven restorable)"
	if r.count > 1 {
		reason = fmt.Sprintf("drilled ok (last %d proven restorable)", r.count)
	}
	keepNewest(v, mark, r.count, reason, func(s *Snapshot) bool { return s.Verified && s.Drilled })
}

// within keeps every snapshot younger than d, measured from the anchor.
type within struct{ d time.Duration }

// NewWithin keeps every snapshot younger than d, measured from the newest
// verified snapshot that is not in the future (not from the wall clock, so
// a source that stops answering does not let old snapshots expire). It
// keeps unverified snapshots too: it has no quota for them to fill.
func NewWithin(d time.Duration) (Rule, error) {
	if d <= 0 {
		return nil, fmt.Errorf("within must be a positive duration, found %s", formatDuration(d))
	}
	return &within{d: d}, nil
}

func (r *within) String() string { return "within " + formatDuration(r.d) }

func (r *within) keep(v *view, mark func(int, string)) {
	reason := r.String()
	for _, i := range v.byTime {
		if v.anchor.Sub(v.when(i)) >= r.d {
			return // all the rest are older
		}
		mark(i, reason)
	}
}

// formatDuration writes d the way a user would: "48h", "30d", "90m".
func formatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d > 2*day && d%day == 0:
		return strconv.FormatInt(int64(d/day), 10) + "d"
	case d != 0 && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d != 0 && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// regexRule keeps snapshots by name.
type regexRule struct {
	re     *regexp.Regexp
	negate bool
}

// NewRegex keeps every snapshot whose name matches expr (Go RE2 syntax,
// unanchored), or, with negate, every snapshot whose name does not match.
// It keeps unverified snapshots too: it has no quota for them to fill.
func NewRegex(expr string, negate bool) (Rule, error) {
	if expr == "" {
		return nil, errors.New("regex is empty: it would match every name")
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, fmt.Errorf("regex %q is invalid: %s: %q", expr, se.Code, se.Expr)
		}
		return nil, fmt.Errorf("regex %q is invalid: %v", expr, err)
	}
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err == nil {
		parsed = parsed.Simplify()
		noMatch := parsed.Op == syntax.OpNoMatch || (parsed.Op == syntax.OpCharClass && len(parsed.Rune) == 0)
		if !negate && noMatch {
			return nil, fmt.Errorf("regex %q matches no name, so it keeps nothing", expr)
		}
		if negate && matchesEveryString(re, parsed) {
			return nil, fmt.Errorf("regex %q matches every name, so with negate it keeps nothing", expr)
		}
	}
	return &regexRule{re: re, negate: negate}, nil
}

// matchesEveryString reports whether an unanchored search for re succeeds
// on every string: true when it matches the empty string and holds no
// assertion (^, $, \b, \B) that could stop that empty match.
func matchesEveryString(re *regexp.Regexp, parsed *syntax.Regexp) bool {
	if !re.MatchString("") {
		return false
	}
	var hasAssertion func(*syntax.Regexp) bool
	hasAssertion = func(r *syntax.Regexp) bool {
		switch r.Op {
		case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
			syntax.OpWordBoundary, syntax.OpNoWordBoundary:
			return true
		}
		for _, sub := range r.Sub {
			if hasAssertion(sub) {
				return true
			}
		}
		return false
	}
	return !hasAssertion(parsed)
}

func (r *regexRule) String() string {
	if r.negate {
		return fmt.Sprintf("regex not %q", r.re.String())
	}
	return fmt.Sprintf("regex %q", r.re.String())
}

func (r *regexRule) keep(v *view, mark func(int, string)) {
	reason := r.String()
	for i := range v.present {
		if r.re.MatchString(v.snapshot(i).Name) != r.negate {
			mark(i, reason)
		}
	}
}

// CalendarSpec is a restic-style calendar policy: keep the newest snapshot
// in each of the last N hours, days, ISO weeks (starting Monday), months
// and years that have snapshots, in Timezone ("" means UTC).
type CalendarSpec struct {
	Hourly, Daily, Weekly, Monthly, Yearly int
	Timezone                               string
}

type calendar struct {
	spec CalendarSpec
	loc  *time.Location
}

// NewCalendar builds a calendar rule. Negative counts, an all-zero spec and
// unknown timezones are errors; "Local" is refused because the result would
// depend on the host's settings.
func NewCalendar(spec CalendarSpec) (Rule, error) {
	for _, c := range []struct {
		name  string
		count int
	}{{"hourly", spec.Hourly}, {"daily", spec.Daily}, {"weekly", spec.Weekly}, {"monthly", spec.Monthly}, {"yearly", spec.Yearly}} {
		if c.count < 0 {
			return nil, fmt.Errorf("calendar %s must not be negative, found %d", c.name, c.count)
		}
	}
	if spec.Hourly == 0 && spec.Daily == 0 && spec.Weekly == 0 && spec.Monthly == 0 && spec.Yearly == 0 {
		return nil, errors.New("calendar keeps nothing: set at least one of hourly, daily, weekly, monthly or yearly to 1 or more")
	}
	if spec.Timezone == "Local" {
		return nil, errors.New(`calendar timezone "Local" depends on the host: use an IANA name such as Europe/Berlin, or UTC`)
	}
	loc, err := time.LoadLocation(spec.Timezone)
	if err != nil {
		return nil, fmt.Errorf("calendar timezone %q is unknown: use an IANA name such as Europe/Berlin, or UTC", spec.Timezone)
	}
	if spec.Timezone == "" {
		spec.Timezone = "UTC"
	}
	return &calendar{spec: spec, loc: loc}, nil
}

func (r *calendar) String() string {
	var parts []string
	for _, p := range r.periods() {
		if p.count > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", p.name, p.count))
		}
	}
	return fmt.Sprintf("calendar %s (%s)", strings.Join(parts, ", "), r.spec.Timezone)
}

// calendarPeriod is one granularity: key identifies the period a time falls
// in (comparable, cheap), label names it for the reason.
type calendarPeriod struct {
	name  string
	count int
	key   func(t time.Time) int64
	label func(t time.Time) string
}

func (r *calendar) periods() []calendarPeriod {
	return []calendarPeriod{
		{"hourly", r.spec.Hourly,
			func(t time.Time) int64 {
				y, m, d := t.Date()
				return ((int64(y)*100+int64(m))*100+int64(d))*100 + int64(t.Hour())
			},
			func(t time.Time) string { return t.Format("hourly 2006-01-02 15:00") }},
		{"daily", r.spec.Daily,
			func(t time.Time) int64 {
				y, m, d := t.Date()
				return (int64(y)*100+int64(m))*100 + int64(d)
			},
			func(t time.Time) string { return t.Format("daily 2006-01-02") }},
		{"weekly", r.spec.Weekly,
			func(t time.Time) int64 {
				y, w := t.ISOWeek()
				return int64(y)*100 + int64(w)
			},
			func(t time.Time) string {
				y, w := t.ISOWeek()
				return fmt.Sprintf("weekly %04d-W%02d", y, w)
			}},
		{"monthly", r.spec.Monthly,
			func(t time.Time) int64 { return int64(t.Year())*100 + int64(t.Month()) },
			func(t time.Time) string { return t.Format("monthly 2006-01") }},
		{"yearly", r.spec.Yearly,
			func(t time.Time) int64 { return int64(t.Year()) },
			func(t time.Time) string { return t.Format("yearly 2006") }},
	}
}

// keep walks the snapshots by time, so that each period's snapshots come
// together, and keeps the newest (in the newest-first order) of each of
// the last count periods.
func (r *calendar) keep(v *view, mark func(int, string)) {
	for _, p := range r.periods() {
		if p.count == 0 {
			continue
		}
		kept := 0
		best := -1 // the newest snapshot of the period being walked
		var bestKey int64
		var bestAt time.Time
		for _, i := range v.byTime {
			if !v.snapshot(i).Verified {
				continue
			}
			t := v.when(i).In(r.loc)
			k := p.key(t)
			if best >= 0 && k == bestKey {
				best = min(best, i)
				continue
			}
			if best >= 0 {
				mark(best, p.label(bestAt))
				if kept++; kept == p.count {
					best = -1
					break
				}
			}
			best, bestKey, bestAt = i, k, t
		}
		if best >= 0 {
			mark(best, p.label(bestAt))
		}
	}
}
