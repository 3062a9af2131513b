package retention

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestConstructorsRejectPoliciesThatKeepNothing(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"last_n zero", second(NewLastN(0)), "last_n count must be at least 1, found 0"},
		{"last_n negative", second(NewLastN(-3)), "last_n count must be at least 1, found -3"},
		{"within zero", second(NewWithin(0)), "within must be a positive duration, found 0s"},
		{"within negative", second(NewWithin(-48 * time.Hour)), "within must be a positive duration, found -48h"},
		{"calendar all zero", second(NewCalendar(CalendarSpec{})), "calendar keeps nothing"},
		{"calendar negative", second(NewCalendar(CalendarSpec{Daily: 7, Weekly: -1})), "calendar weekly must not be negative, found -1"},
		{"calendar bad zone", second(NewCalendar(CalendarSpec{Daily: 1, Timezone: "Mars/Olympus"})), `calendar timezone "Mars/Olympus" is unknown`},
		{"calendar host zone", second(NewCalendar(CalendarSpec{Daily: 1, Timezone: "Local"})), `"Local" depends on the host`},
		{"regex empty", second(NewRegex("", false)), "regex is empty"},
		{"regex invalid", second(NewRegex("manual-(", false)), `regex "manual-(" is invalid: missing closing ): "manual-("`},
		{"regex matches nothing", second(NewRegex(`[^\x00-\x{10FFFF}]`, false)), "matches no name"},
		{"regex negate everything", second(NewRegex(".*", true)), "matches every name, so with negate it keeps nothing"},
		{"regex negate optional", second(NewRegex("x?", true)), "matches every name"},
		{"policy empty", second(NewPolicy()), "the pruning policy has no rules"},
		{"policy nil rule", second(NewPolicy(nil)), "pruning rule 1 is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
				t.Fatalf("got error %v, want one containing %q", c.err, c.want)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

func TestConstructorsAcceptAnchoredNegations(t *testing.T) {
	// These can match the empty name but not every name; they keep
	// something, so they are valid.
	for _, expr := range []string{"^$", `^auto-`, `\bmanual\b`, "^x*$"} {
		if _, err := NewRegex(expr, true); err != nil {
			t.Errorf("NewRegex(%q, negate): %v", expr, err)
		}
	}
}

func TestRuleStrings(t *testing.T) {
	cases := []struct {
		rule Rule
		want string
	}{
		{must(t)(NewLastN(24)), "last_n 24"},
		{must(t)(NewWithin(48 * time.Hour)), "within 48h"},
		{must(t)(NewWithin(30 * 24 * time.Hour)), "within 30d"},
		{must(t)(NewWithin(90 * time.Minute)), "within 90m"},
		{must(t)(NewWithin(1500 * time.Millisecond)), "within 1.5s"},
		{must(t)(NewRegex("^manual-", false)), `regex "^manual-"`},
		{must(t)(NewRegex("^auto-", true)), `regex not "^auto-"`},
		{must(t)(NewCalendar(CalendarSpec{Hourly: 24, Daily: 7, Yearly: 3})), "calendar hourly 24, daily 7, yearly 3 (UTC)"},
		{must(t)(NewCalendar(CalendarSpec{Weekly: 4, Timezone: "Europe/Berlin"})), "calendar weekly 4 (Europe/Berlin)"},
		{must(t)(ParseGrid(" 1 x 1h ( keep = all )|24x1h|  14x1d ")), "grid 1x1h(keep=all) | 24x1h | 14x1d"},
	}
	for _, c := range cases {
		if got := c.rule.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
	p := mustPolicy(t, cases[0].rule, cases[1].rule)
	if got, want := p.String(), "last_n 24; within 48h"; got != want {
		t.Errorf("Policy.String() = %q, want %q", got, want)
	}
}

func TestParseGridErrorsNamePositions(t *testing.T) {
	cases := []struct {
		spec string
		pos  int
		msg  string
	}{
		{"", 1, "grid is empty"},
		{"   ", 1, "grid is empty"},
		{"24y1h", 3, `expected "x" after the count 24, found "y1h"`},
		{"x1h", 1, `expected a count (a whole number, as in 24x1h), found "x1h"`},
		{"0x1h", 1, "count must be at least 1, found 0"},
		{"24x0h", 4, "length must be positive, found 0h"},
		{"24xh", 4, `expected a length (a whole number, as in 1h in 24x1h), found "h"`},
		{"24x1", 5, "expected a unit (s, m, h, d or w) after the length 1"},
		{"24x1y", 5, `unknown unit "y" after the length 1: use s, m, h, d or w`},
		{"1x1h | 24x1y", 12, `unknown unit "y"`},
		{"1x1h |", 7, "empty interval"},
		{"1x1h || 24x1h", 7, "empty interval"},
		{"| 24x1h", 1, "empty interval"},
		{"1x1h(keep=some)", 11, `unknown value "some)" for keep`},
		{"1x1h(prune=all)", 6, `unknown option "prune=all)"`},
		{"1x1h(keep all)", 11, `expected "=" in (keep=all)`},
		{"1x1h(keep=all", 14, `expected ")" to close the option opened at position 5, found the end`},
		{"1x1h 24x1h", 6, `unexpected "24x1h" after 1x1h: separate intervals with "|"`},
		{"99999999999999999999x1h", 1, "a count 99999999999999999999 is too large"},
		{"1000000x1000000w", 1, "the grid spans more than 10000 years"},
		{"1x1h | 600000x1w", 8, "the grid spans more than 10000 years"},
		{"1x1h | ünd", 8, `expected a count (a whole number, as in 24x1h), found "ünd"`},
		{"1x1é", 4, `unknown unit "é" after the length 1`},
	}
	for _, c := range cases {
		_, err := ParseGrid(c.spec)
		var ge *GridError
		if !errors.As(err, &ge) {
			t.Errorf("ParseGrid(%q): error %v, want a *GridError", c.spec, err)
			continue
		}
		if ge.Pos != c.pos || !strings.Contains(ge.Msg, c.msg) {
			t.Errorf("ParseGrid(%q) = position %d %q, want position %d containing %q", c.spec, ge.Pos, ge.Msg, c.pos, c.msg)
		}
		if !strings.Contains(err.Error(), "position") {
			t.Errorf("ParseGrid(%q): message %q does not say where", c.spec, err)
		}
	}
}

func TestParseGridUnits(t *testing.T) {
	g := must(t)(ParseGrid("1x30s | 1x15m | 1x2h | 1x3d | 1x2w")).(*grid)
	want := []int64{30, 15 * 60, 2 * 3600, 3 * 86400, 14 * 86400}
	for i, s := range g.sections {
		if s.length != want[i] {
			t.Errorf("section %d (%s): length %ds, want %ds", i+1, s.text, s.length, want[i])
		}
	}
}

// FuzzParseGrid: no input panics; an accepted grid prints as a spec that
// parses to the same grid; a rejected one names a position inside it.
func FuzzParseGrid(f *testing.F) {
	for _, seed := range []string{
		"1x1h(keep=all) | 24x1h | 14x1d", "1x1h | 24x1h | 30x1d | 12x30d", "24y1h", "1x1h(keep=al",
		"0x0s", "1000000x1000000w", "1 x 1 h", "|", "1x1h||", "é", "10x10m(keep=all)|1x1w",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		r, err := ParseGrid(spec)
		if err != nil {
			var ge *GridError
			if !errors.As(err, &ge) {
				t.Fatalf("ParseGrid(%q): %v is not a *GridError", spec, err)
			}
			if ge.Pos < 1 || ge.Pos > utf8.RuneCountInString(spec)+1 {
				t.Fatalf("ParseGrid(%q): position %d outside the spec", spec, ge.Pos)
			}
			return
		}
		text := strings.TrimPrefix(r.String(), "grid ")
		again, err := ParseGrid(text)
		if err != nil {
			t.Fatalf("ParseGrid(%q) printed %q, which does not parse: %v", spec, text, err)
		}
		if again.String() != r.String() {
			t.Fatalf("round trip changed %q to %q", r, again)
		}
		// Any accepted grid must plan without panicking, even at the
		// edges of time.
		p := mustPolicy(t, r)
		snaps := []Snapshot{
			{Name: "a", Created: time.Unix(0, 0), Verified: true},
			{Name: "b", Created: time.Time{}, Verified: true},
			{Name: "c", Created: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), Verified: true},
		}
		p.Plan(snaps, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC))
	})
}

func TestLastDrilledKeepsTheNewestProvenRestorable(t *testing.T) {
	snaps := []Snapshot{
		{Name: "newest", Created: t0.Add(-time.Hour), Index: 50, Verified: true},
		{Name: "drilled-rotten", Created: t0.Add(-2 * time.Hour), Index: 40, Verified: false, Drilled: true},
		{Name: "drilled", Created: t0.Add(-3 * time.Hour), Index: 30, Verified: true, Drilled: true},
		{Name: "drilled-older", Created: t0.Add(-4 * time.Hour), Index: 20, Verified: true, Drilled: true},
		{Name: "old", Created: t0.Add(-5 * time.Hour), Index: 10, Verified: true},
	}
	ds := mustPolicy(t, must(t)(NewLastDrilled(1))).Plan(snaps, t0)
	assertKept(t, ds, "newest", ReasonNewestVerified)
	assertKept(t, ds, "drilled", "drilled ok (newest proven restorable)")
	assertDestroyed(t, ds, "drilled-rotten")
	assertDestroyed(t, ds, "drilled-older")
	assertDestroyed(t, ds, "old")

	ds = mustPolicy(t, must(t)(NewLastDrilled(2))).Plan(snaps, t0)
	assertKept(t, ds, "drilled-older", "drilled ok (last 2 proven restorable)")
	if _, err := NewLastDrilled(0); err == nil {
		t.Error("last_drilled 0 accepted")
	}
}
