package retention

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit/golden"
)

var replayStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// replayYear takes one snapshot an hour for a year, each up to 5 minutes
// early or late, plans after each one (a few seconds later) and deletes
// what the plan destroys, as the daemon does. check runs on the history so
// far (nothing deleted) and the survivors, every checkEvery snapshots and
// at the end.
func replayYear(t *testing.T, policy *Policy, checkEvery int, check func(history, survivors []Snapshot, now time.Time)) []Snapshot {
	t.Helper()
	rng := rand.New(rand.NewPCG(2026, 11))
	var history, survivors []Snapshot
	const hours = 365 * 24
	for h := range hours {
		jitter := time.Duration(rng.Int64N(int64(10*time.Minute))) - 5*time.Minute
		created := replayStart.Add(time.Duration(h)*time.Hour + jitter)
		snap := Snapshot{
			Name:     "auto-" + created.Format("20060102T150405.000Z"),
			Created:  created,
			Term:     1,
			Index:    uint64(1000 + h),
			Verified: true,
		}
		history = append(history, snap)
		survivors = append(survivors, snap)
		now := created.Add(3 * time.Second)

		var next []Snapshot
		for _, d := range policy.Plan(survivors, now) {
			if d.Snapshot == snap && (!d.Keep || !slices.Contains(d.Reasons, ReasonNewestVerified)) {
				t.Fatalf("hour %d: the snapshot just taken is not kept as the newest verified: %q", h, d.Reasons)
			}
			if d.Keep {
				next = append(next, d.Snapshot)
			}
		}
		survivors = next
		if (h+1)%checkEvery == 0 || h == hours-1 {
			check(history, survivors, now)
		}
	}
	return survivors
}

func names(snaps []Snapshot) []string {
	out := make([]string, len(snaps))
	for i, s := range snaps {
		out[i] = s.Name
	}
	slices.Sort(out)
	return out
}

func diffNames(got, want []Snapshot) string {
	g, w := names(got), names(want)
	var b strings.Builder
	for _, n := range w {
		if !slices.Contains(g, n) {
			fmt.Fprintf(&b, "  missing %s\n", n)
		}
	}
	for _, n := range g {
		if !slices.Contains(w, n) {
			fmt.Fprintf(&b, "  extra   %s\n", n)
		}
	}
	return b.String()
}

// gridDefinition is the grid written out from its documented definition,
// independently of the engine: explicit bucket intervals laid back from
// the newest snapshot, and the newest snapshot of the WHOLE history in each.
func gridDefinition(spec string, history []Snapshot) []Snapshot {
	origin := time.Date(1970, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday
	units := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	newest := history[0]
	for _, s := range history {
		if s.Created.After(newest.Created) {
			newest = s
		}
	}
	keep := map[string]Snapshot{newest.Name: newest}
	edge := newest.Created.Add(time.Nanosecond) // exclusive upper end
	for _, section := range strings.Split(spec, "|") {
		section = strings.TrimSpace(section)
		keepAll := strings.HasSuffix(section, "(keep=all)")
		section = strings.TrimSuffix(section, "(keep=all)")
		var count, value int
		var unit byte
		if _, err := fmt.Sscanf(section, "%dx%d%c", &count, &value, &unit); err != nil {
			panic(err)
		}
		length := time.Duration(value) * units[unit]
		last := edge.Add(-time.Nanosecond)
		start := origin.Add(last.Sub(origin) / length * length) // bucket 1 holds the instant before the edge
		for b := range count {
			lo, hi := start.Add(-time.Duration(b)*length), start.Add(-time.Duration(b-1)*length)
			if hi.After(edge) {
				hi = edge
			}
			var best *Snapshot
			for i, s := range history {
				if s.Created.Before(lo) || !s.Created.Before(hi) {
					continue
				}
				if keepAll {
					keep[s.Name] = s
				} else if best == nil || s.Created.After(best.Created) {
					best = &history[i]
				}
			}
			if best != nil {
				keep[best.Name] = *best
			}
		}
		edge = start.Add(-time.Duration(count-1) * length)
	}
	var out []Snapshot
	for _, s := range keep {
		out = append(out, s)
	}
	return out
}

// calendarDefinition is restic's rule written out independently: group the
// WHOLE history by formatted period, keep the newest of the N newest groups.
func calendarDefinition(spec CalendarSpec, history []Snapshot) []Snapshot {
	loc, err := time.LoadLocation(spec.Timezone)
	if err != nil {
		panic(err)
	}
	keep := map[string]Snapshot{}
	for _, p := range []struct {
		count  int
		layout func(time.Time) string
	}{
		{spec.Hourly, func(t time.Time) string { return t.Format("2006-01-02 15") }},
		{spec.Daily, func(t time.Time) string { return t.Format("2006-01-02") }},
		{spec.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprint(y, w) }},
		{spec.Monthly, func(t time.Time) string { return t.Format("2006-01") }},
		{spec.Yearly, func(t time.Time) string { return t.Format("2006") }},
	} {
		newestIn := map[string]Snapshot{}
		for _, s := range history {
			k := p.layout(s.Created.In(loc))
			if cur, ok := newestIn[k]; !ok || s.Created.After(cur.Created) {
				newestIn[k] = s
			}
		}
		var groups []Snapshot
		for _, s := range newestIn {
			groups = append(groups, s)
		}
		sort.Slice(groups, func(i, j int) bool { return groups[i].Created.After(groups[j].Created) })
		for _, s := range groups[:min(p.count, len(groups))] {
			keep[s.Name] = s
		}
	}
	var out []Snapshot
	for _, s := range keep {
		out = append(out, s)
	}
	return out
}

func TestReplayYearGrid(t *testing.T) {
	const spec = "1x1h(keep=all) | 24x1h | 30x1d | 12x30d"
	policy := mustPolicy(t, must(t)(ParseGrid(spec)))
	checks := 0
	survivors := replayYear(t, policy, 97, func(history, survivors []Snapshot, now time.Time) {
		checks++
		if d := diffNames(survivors, gridDefinition(spec, history)); d != "" {
			t.Fatalf("at %s the survivors differ from the grid over the whole history:\n%s", now.Format(time.RFC3339), d)
		}
	})
	if checks < 90 {
		t.Fatalf("only %d checks ran", checks)
	}
	// 1 + 24 + 30 + 12 buckets; jitter leaves at most a few hour buckets
	// empty; the year covers all of the 30-day buckets but the oldest.
	if n := len(survivors); n < 60 || n > 67 {
		t.Fatalf("%d survivors after a year, want 60..67: %v", n, names(survivors))
	}
}

func TestReplayYearCalendar(t *testing.T) {
	spec := CalendarSpec{Hourly: 24, Daily: 7, Weekly: 4, Monthly: 12, Timezone: "Europe/Berlin"}
	policy := mustPolicy(t, must(t)(NewCalendar(spec)))
	survivors := replayYear(t, policy, 89, func(history, survivors []Snapshot, now time.Time) {
		if d := diffNames(survivors, calendarDefinition(spec, history)); d != "" {
			t.Fatalf("at %s the survivors differ from the calendar over the whole history:\n%s", now.Format(time.RFC3339), d)
		}
	})
	if n := len(survivors); n < 24 || n > 24+7+4+12 {
		t.Fatalf("%d survivors after a year: %v", n, names(survivors))
	}
}

// yearPicture draws the survivors of a year, one line per month, one
// character per day: "." none, a digit the count, "*" 10 or more.
func yearPicture(survivors []Snapshot) string {
	perDay := map[string]int{}
	for _, s := range survivors {
		perDay[s.Created.UTC().Format("2006-01-02")]++
	}
	var b strings.Builder
	// Day d is in column 9+d; the labels end above days 1, 10, 20, 30.
	b.WriteString("day:     1       10        20        30\n")
	for m := time.January; m <= time.December; m++ {
		first := time.Date(replayStart.Year(), m, 1, 0, 0, 0, 0, time.UTC)
		fmt.Fprintf(&b, "%s  ", first.Format("2006-01"))
		for d := first; d.Month() == m; d = d.AddDate(0, 0, 1) {
			switch n := perDay[d.Format("2006-01-02")]; {
			case n == 0:
				b.WriteByte('.')
			case n < 10:
				b.WriteByte(byte('0' + n))
			default:
				b.WriteByte('*')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestYearPictureInDocs renders what a year of hourly snapshots becomes
// under two example policies into testdata/year.golden, and checks that
// docs/retention.md shows exactly that, so the documentation stays true.
func TestYearPictureInDocs(t *testing.T) {
	var out bytes.Buffer
	for _, policy := range []*Policy{
		mustPolicy(t, must(t)(ParseGrid("1x1h(keep=all) | 24x1h | 30x1d | 12x30d"))),
		mustPolicy(t, must(t)(NewCalendar(CalendarSpec{Hourly: 24, Daily: 7, Weekly: 4, Monthly: 12}))),
	} {
		survivors := replayYear(t, policy, 1<<30, func([]Snapshot, []Snapshot, time.Time) {})
		fmt.Fprintf(&out, "policy: %s\n%d of 8760 hourly snapshots kept\n\n%s\n", policy, len(survivors), yearPicture(survivors))
	}
	golden.Check(t, filepath.Join("testdata", "year.golden"), out.Bytes())
	assertInRetentionDoc(t, "year.golden")
}

// TestWorkedExamplesInDocs checks that the worked examples in
// docs/retention.md are the engine's golden output, verbatim.
func TestWorkedExamplesInDocs(t *testing.T) {
	for _, name := range []string{"last_n", "within", "regex", "grid_worked", "calendar_timezone", "ties", "newest_verified_invariant", "last_drilled"} {
		assertInRetentionDoc(t, name+".golden")
	}
}

func assertInRetentionDoc(t *testing.T, golden string) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join("testdata", golden))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "retention.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, want) {
		t.Errorf("docs/retention.md does not contain testdata/%s verbatim; paste it in:\n%s", golden, want)
	}
}
