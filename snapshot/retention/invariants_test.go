package retention

import (
	"slices"
	"testing"
	"time"
)

// decisionOf returns the decision on the snapshot named name.
func decisionOf(t *testing.T, ds []Decision, name string) Decision {
	t.Helper()
	for _, d := range ds {
		if d.Snapshot.Name == name {
			return d
		}
	}
	t.Fatalf("no decision for %q", name)
	return Decision{}
}

func assertKept(t *testing.T, ds []Decision, name string, reason string) {
	t.Helper()
	d := decisionOf(t, ds, name)
	if !d.Keep || !slices.Contains(d.Reasons, reason) {
		t.Errorf("%s: keep=%v reasons=%q, want kept for %q", name, d.Keep, d.Reasons, reason)
	}
}

func assertDestroyed(t *testing.T, ds []Decision, name string) {
	t.Helper()
	if d := decisionOf(t, ds, name); d.Keep {
		t.Errorf("%s: kept for %q, want destroyed", name, d.Reasons)
	}
}

func TestInvariantNewestVerifiedIsNeverDestroyed(t *testing.T) {
	snaps := []Snapshot{
		{Name: "broken-newest", Created: t0.Add(-time.Minute), Verified: false},
		{Name: "good-old", Created: t0.Add(-400 * 24 * time.Hour), Verified: true},
		{Name: "good-older", Created: t0.Add(-500 * 24 * time.Hour), Verified: true},
	}
	// None of these rules keeps good-old on its own.
	p := mustPolicy(t, must(t)(NewRegex("^manual-", false)))
	ds := p.Plan(snaps, t0)
	assertKept(t, ds, "good-old", ReasonNewestVerified)
	assertDestroyed(t, ds, "good-older")
	assertDestroyed(t, ds, "broken-newest")
}

func TestInvariantFutureDatedMovesNoWindowAndIsKept(t *testing.T) {
	snaps := []Snapshot{
		{Name: "present", Created: t0.Add(-30 * time.Minute), Verified: true},
		{Name: "two-hours", Created: t0.Add(-2 * time.Hour), Verified: true},
		{Name: "two-days", Created: t0.Add(-48 * time.Hour), Verified: true},
	}
	p := mustPolicy(t, must(t)(NewWithin(3*time.Hour)), must(t)(NewLastN(1)),
		must(t)(ParseGrid("2x1h")), must(t)(NewCalendar(CalendarSpec{Daily: 1})))
	without := p.Plan(snaps, t0)
	skewed := append(slices.Clone(snaps), Snapshot{Name: "skewed", Created: t0.Add(72 * time.Hour), Verified: true})
	with := p.Plan(skewed, t0)

	first := with[0]
	if first.Snapshot.Name != "skewed" || !first.Keep || !slices.Equal(first.Reasons, []string{ReasonFutureDated}) {
		t.Fatalf("future-dated snapshot: %+v, want it first, kept, for %q alone", first, ReasonFutureDated)
	}
	// Had it moved the windows (anchor three days later), within 3h, the
	// grid and last_n would have dropped "present".
	if !slices.EqualFunc(without, with[1:], decisionsEqual) {
		t.Errorf("a future-dated snapshot changed the other decisions:\nwithout: %v\nwith:    %v", without, with[1:])
	}
	assertKept(t, with, "present", "within 3h")
	assertKept(t, with, "present", "last 1")
}

func TestInvariantUnverifiedNeverFillsAQuota(t *testing.T) {
	var snaps []Snapshot
	for i := range 6 {
		snaps = append(snaps, Snapshot{
			Name:     "s" + string(rune('0'+i)),
			Created:  t0.Add(-time.Duration(i)*time.Hour - time.Minute),
			Verified: i >= 3, // the three newest failed verification
		})
	}
	for _, rule := range []Rule{
		must(t)(NewLastN(2)),
		must(t)(ParseGrid("6x1h")),
		must(t)(NewCalendar(CalendarSpec{Hourly: 2})),
	} {
		t.Run(rule.String(), func(t *testing.T) {
			ds := mustPolicy(t, rule).Plan(snaps, t0)
			for _, name := range []string{"s0", "s1", "s2"} {
				assertDestroyed(t, ds, name)
				if d := decisionOf(t, ds, name); !slices.Contains(d.Reasons, ReasonUnverified) {
					t.Errorf("%s: reasons %q do not say it is unverified", name, d.Reasons)
				}
			}
			assertKept(t, ds, "s3", ReasonNewestVerified)
			if d := decisionOf(t, ds, "s4"); !d.Keep {
				t.Errorf("s4 (second newest verified) destroyed: %q; unverified ones took its place", d.Reasons)
			}
		})
	}
}

func TestInvariantUnverifiedMovesNoWindow(t *testing.T) {
	snaps := []Snapshot{
		{Name: "broken", Created: t0.Add(-time.Minute), Verified: false},
		{Name: "good", Created: t0.Add(-47 * time.Hour), Verified: true},
		{Name: "good-older", Created: t0.Add(-50 * time.Hour), Verified: true},
	}
	// Measured from "broken", good-older would be 50h old; measured from
	// the newest verified ("good") it is 3h old.
	ds := mustPolicy(t, must(t)(NewWithin(4*time.Hour))).Plan(snaps, t0)
	assertKept(t, ds, "good-older", "within 4h")
	// within has no quota: it keeps the unverified snapshot younger than
	// the anchor too, and says it is unverified.
	assertKept(t, ds, "broken", "within 4h")
	assertKept(t, ds, "broken", ReasonUnverified)
}

func TestInvariantOrderByTermThenIndexThenCreated(t *testing.T) {
	at := t0.Add(-time.Hour)
	snaps := []Snapshot{
		{Name: "low-term", Created: at.Add(30 * time.Minute), Term: 1, Index: 999, Verified: true},
		{Name: "high-term-low-index", Created: at, Term: 2, Index: 5, Verified: true},
		// Its clock was behind: the raft position still makes it newest.
		{Name: "high-term-high-index", Created: at.Add(-time.Hour), Term: 2, Index: 6, Verified: true},
		{Name: "same-position-newer-created", Created: at.Add(time.Nanosecond), Term: 2, Index: 5, Verified: true},
	}
	ds := mustPolicy(t, must(t)(NewLastN(2))).Plan(snaps, t0)
	var order []string
	for _, d := range ds {
		order = append(order, d.Snapshot.Name)
	}
	want := []string{"high-term-high-index", "same-position-newer-created", "high-term-low-index", "low-term"}
	if !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	assertKept(t, ds, "high-term-high-index", ReasonNewestVerified)
	assertKept(t, ds, "same-position-newer-created", "last 2")
	assertDestroyed(t, ds, "high-term-low-index")
	assertDestroyed(t, ds, "low-term")
}

// TestInvariantMisdatedSnapshotMovesNoWindow: "older" carries an older raft
// position but a later date than the newest verified snapshot (its clock
// ran ahead, though not past now). Windows stay anchored at the newest
// verified snapshot, and "older" is placed there: in the grid and the
// calendar it competes for the anchor's bucket and period, and loses.
func TestInvariantMisdatedSnapshotMovesNoWindow(t *testing.T) {
	snaps := []Snapshot{
		{Name: "newest", Created: t0.Add(-3 * time.Hour), Term: 1, Index: 300, Verified: true},
		{Name: "misdated", Created: t0.Add(-time.Minute), Term: 1, Index: 200, Verified: true},
		{Name: "hour-before", Created: t0.Add(-4 * time.Hour), Term: 1, Index: 100, Verified: true},
		{Name: "two-days-before", Created: t0.Add(-51 * time.Hour), Term: 1, Index: 50, Verified: true},
	}
	cases := []struct {
		rule           Rule
		kept, destroys []string
		reason         string
	}{
		// Measured from "misdated", two-days-before would be 51h old.
		{must(t)(NewWithin(49 * time.Hour)), []string{"newest", "misdated", "hour-before", "two-days-before"}, nil, "within 49h"},
		{must(t)(ParseGrid("3x1h")), []string{"newest", "hour-before"}, []string{"misdated", "two-days-before"}, "grid bucket 2 of 3x1h"},
		{must(t)(NewCalendar(CalendarSpec{Hourly: 2})), []string{"newest", "hour-before"}, []string{"misdated", "two-days-before"}, "hourly 2026-11-20 08:00"},
	}
	for _, c := range cases {
		t.Run(c.rule.String(), func(t *testing.T) {
			ds := mustPolicy(t, c.rule).Plan(snaps, t0)
			assertKept(t, ds, "newest", ReasonNewestVerified)
			for _, name := range c.kept {
				if d := decisionOf(t, ds, name); !d.Keep {
					t.Errorf("%s destroyed (%q)", name, d.Reasons)
				}
			}
			for _, name := range c.destroys {
				assertDestroyed(t, ds, name)
			}
			assertKept(t, ds, "hour-before", c.reason)
		})
	}
}

func TestPlanGivesEveryInputOneDecisionAndLeavesInputAlone(t *testing.T) {
	dup := Snapshot{Name: "same", Created: t0.Add(-time.Hour), Verified: true}
	snaps := []Snapshot{dup, {Name: "older", Created: t0.Add(-2 * time.Hour), Verified: true}, dup}
	before := slices.Clone(snaps)
	ds := mustPolicy(t, must(t)(NewLastN(1))).Plan(snaps, t0)
	if len(ds) != 3 {
		t.Fatalf("%d decisions for 3 snapshots", len(ds))
	}
	if !slices.Equal(snaps, before) {
		t.Errorf("Plan reordered or changed its input")
	}
	if ds[0].Snapshot != dup || ds[1].Snapshot != dup || !ds[0].Keep || ds[1].Keep {
		t.Errorf("duplicates: %+v, want the first kept and the second destroyed", ds[:2])
	}
	if got := mustPolicy(t, must(t)(NewLastN(1))).Plan(nil, t0); len(got) != 0 {
		t.Errorf("Plan(nil) = %v", got)
	}
}

func decisionsEqual(a, b Decision) bool {
	return a.Snapshot == b.Snapshot && a.Keep == b.Keep && slices.Equal(a.Reasons, b.Reasons)
}
