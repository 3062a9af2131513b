package retention

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit/golden"
)

// t0 is a fixed "now" for the golden files: a Friday.
var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// must returns the rule a constructor built, failing the test on error.
func must(t testing.TB) func(Rule, error) Rule {
	return func(r Rule, err error) Rule {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

func mustPolicy(t testing.TB, rules ...Rule) *Policy {
	t.Helper()
	p, err := NewPolicy(rules...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// series returns n verified snapshots, the newest at newest, every step
// apart, with raft indexes rising with time.
func series(prefix string, newest time.Time, n int, step time.Duration) []Snapshot {
	out := make([]Snapshot, n)
	for i := range n {
		created := newest.Add(-time.Duration(i) * step)
		out[i] = Snapshot{
			Name:     prefix + created.UTC().Format("20060102T150405Z"),
			Created:  created,
			Term:     2,
			Index:    uint64(100000 - i*10),
			Verified: true,
		}
	}
	return out
}

// jittered shifts snapshot i by a fixed pseudo-random offset within ±5 min.
func jittered(snaps []Snapshot) []Snapshot {
	for i := range snaps {
		offset := time.Duration((i*7919)%601-300) * time.Second
		snaps[i].Created = snaps[i].Created.Add(offset)
		snaps[i].Name = "auto-" + snaps[i].Created.UTC().Format("20060102T150405Z")
	}
	return snaps
}

type goldenCase struct {
	name   string
	policy func(t testing.TB) *Policy
	snaps  []Snapshot
	now    time.Time
}

func goldenCases() []goldenCase {
	mixed := series("auto-", t0.Add(-30*time.Minute), 6, time.Hour)
	mixed[2].Verified = false
	mixed[4].Verified = false

	within := series("auto-", t0.Add(-time.Hour), 11, 12*time.Hour)
	within[1].Verified = false
	within = append(within, Snapshot{Name: "auto-skewed", Created: t0.Add(3 * time.Hour), Term: 2, Index: 100010, Verified: true})

	named := series("auto-", t0.Add(-time.Hour), 5, 6*time.Hour)
	named = append(named,
		Snapshot{Name: "manual-before-upgrade", Created: t0.Add(-50 * time.Hour), Term: 2, Index: 90000, Verified: true},
		Snapshot{Name: "manual-broken", Created: t0.Add(-60 * time.Hour), Term: 2, Index: 89000, Verified: false})

	// Raft term and index order snapshots, whatever their clocks said;
	// creation time and then the name break ties.
	ties := []Snapshot{
		{Name: "c-same-index-later", Created: t0.Add(-time.Hour), Term: 2, Index: 400, Verified: true},
		{Name: "a-term3", Created: t0.Add(-2 * time.Hour), Term: 3, Index: 500, Verified: true},
		{Name: "d-same-index-earlier", Created: t0.Add(-3 * time.Hour), Term: 2, Index: 400, Verified: true},
		{Name: "b-clock-behind", Created: t0.Add(-6 * time.Hour), Term: 2, Index: 900, Verified: true},
		{Name: "e-same-everything-1", Created: t0.Add(-4 * time.Hour), Term: 1, Index: 10, Verified: true},
		{Name: "e-same-everything-2", Created: t0.Add(-4 * time.Hour), Term: 1, Index: 10, Verified: true},
	}

	// Around midnight in Berlin (UTC+1 in November) versus UTC.
	berlin := series("auto-", time.Date(2026, 11, 20, 1, 30, 0, 0, time.UTC), 8, 30*time.Minute)

	combined := jittered(series("auto-", t0.Add(-10*time.Minute), 24*4, time.Hour))
	combined[3].Verified = false
	combined = append(combined,
		Snapshot{Name: "manual-keep", Created: t0.Add(-80 * time.Hour), Term: 2, Index: 1, Verified: true},
		Snapshot{Name: "auto-future", Created: t0.Add(26 * time.Hour), Term: 2, Index: 200000, Verified: true})

	drilled := series("auto-", t0.Add(-30*time.Minute), 6, time.Hour)
	drilled[2].Drilled, drilled[4].Drilled = true, true

	return []goldenCase{
		{name: "last_drilled", now: t0, snaps: drilled, policy: func(t testing.TB) *Policy {
			return mustPolicy(t, must(t)(NewLastN(2)), must(t)(NewLastDrilled(1)))
		}},
		{name: "last_n", now: t0, snaps: mixed, policy: func(t testing.TB) *Policy {
			return mustPolicy(t, must(t)(NewLastN(3)))
		}},
		{name: "within", now: t0, snaps: within, policy: func(t testing.TB) *Policy {
			return mustPolicy(t, must(t)(NewWithin(48*time.Hour)))
		}},
		{name: "regex", now: t0, snaps: named, policy: func(t testing.TB) *Policy {
			return mustPolicy(t, must(t)(NewRegex("^manual-", false)))
		}},
		{name: "regex_negate", now: t0, snaps: named, policy: func(t testing.TB) *Policy {
			return mustPolicy(t, must(t)(NewRegex("^auto-", true)), must(t)(NewLastN(1)))
		}},
		{name: "grid", now: t0, snaps: jittered(series("auto-", t0.Add(-10*time.Minute), 24*4, time.Hour)), policy: func(t testing.TB) *Policy {
			return mustPolicy(t, must(t)(ParseGrid("1x1h(keep=all) | 6x1h | 3x1d")))
		}},
		{name: "grid_worked", now: t0, snaps: series("auto-", t0.Add(-20*time.Minute), 16, 40*time.Minute), policy: func(t testing.TB) *Policy {
			return mustPolicy(t, must(t)(ParseGrid("1x1h(keep=all) | 3x1h | 2x6h")))
		}},
		{name: "grid_keep_all_span", now: t0, snaps: series("auto-", t0.Add(-5*time.Minute), 30, 10*time.Minute), policy: func(t testing.TB) *Policy {
			return mustPolicy(t, must(t)(ParseGrid("2x1h(keep=all) | 2x1h")))
		}},
		{name: "calendar", now: t0, snaps: series("auto-", t0.Add(-time.Hour), 60, 12*time.Hour), policy: func(t testing.TB) *Policy {
			return mustPolicy(t, must(t)(NewCalendar(CalendarSpec{Hourly: 3, Daily: 3, Weekly: 2, Monthly: 2, Yearly: 1})))
		}},
		{name: "calendar_timezone", now: t0, snaps: berlin, policy: func(t testing.TB) *Policy {
			return mustPolicy(t, must(t)(NewCalendar(CalendarSpec{Daily: 2, Timezone: "Europe/Berlin"})))
		}},
		{name: "ties", now: t0, snaps: ties, policy: func(t testing.TB) *Policy {
			return mustPolicy(t, must(t)(NewLastN(2)))
		}},
		{name: "newest_verified_invariant", now: t0, snaps: named, policy: func(t testing.TB) *Policy {
			// Nothing but the newest verified survives a policy that
			// keeps only what its name says.
			return mustPolicy(t, must(t)(NewRegex("^nightly-", false)))
		}},
		{name: "combined", now: t0, snaps: combined, policy: func(t testing.TB) *Policy {
			return mustPolicy(t,
				must(t)(NewLastN(2)),
				must(t)(ParseGrid("1x1h(keep=all) | 12x1h | 2x1d")),
				must(t)(NewCalendar(CalendarSpec{Daily: 4})),
				must(t)(NewWithin(3*time.Hour)),
				must(t)(NewRegex("^manual-", false)))
		}},
	}
}

func renderGolden(t testing.TB, c goldenCase) []byte {
	p := c.policy(t)
	decisions := p.Plan(c.snaps, c.now)
	var b bytes.Buffer
	fmt.Fprintf(&b, "policy: %s\n", p)
	fmt.Fprintf(&b, "now:    %s\n\n", c.now.UTC().Format(time.RFC3339))
	if err := WriteTable(&b, decisions); err != nil {
		t.Fatal(err)
	}
	kept, destroyed := Counts(decisions)
	fmt.Fprintf(&b, "\n%d snapshots: %d kept, %d destroyed\n", len(decisions), kept, destroyed)
	return b.Bytes()
}

// TestGolden compares each case's decision table with testdata/NAME.golden;
// `go test -run TestGolden -update` rewrites them after a deliberate change.
func TestGolden(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			golden.Check(t, filepath.Join("testdata", c.name+".golden"), renderGolden(t, c))
		})
	}
}
