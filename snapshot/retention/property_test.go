package retention

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var propertyZones = []string{"", "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"}

func genSnapshots(t *rapid.T, now time.Time) []Snapshot {
	n := rapid.IntRange(0, 80).Draw(t, "n")
	snaps := make([]Snapshot, 0, n)
	for i := range n {
		// Mostly the last 400 days, some up to 3 days in the future; a
		// few share a creation time to exercise the tie-breaks.
		offset := rapid.Int64Range(-400*86400, 3*86400).Draw(t, "offset")
		if i > 0 && rapid.IntRange(0, 9).Draw(t, "tie") == 0 {
			offset = snaps[i-1].Created.Sub(now).Milliseconds() / 1000
		}
		prefix := rapid.SampledFrom([]string{"auto-", "manual-"}).Draw(t, "prefix")
		snaps = append(snaps, Snapshot{
			Name:     fmt.Sprintf("%s%d", prefix, i),
			Created:  now.Add(time.Duration(offset) * time.Second),
			Term:     rapid.Uint64Range(1, 3).Draw(t, "term"),
			Index:    rapid.Uint64Range(0, 1000).Draw(t, "index"),
			Verified: rapid.IntRange(0, 4).Draw(t, "verified") > 0,
			Drilled:  rapid.IntRange(0, 3).Draw(t, "drilled") == 0,
			Size:     1,
		})
	}
	return snaps
}

func genRule(t *rapid.T) Rule {
	var r Rule
	var err error
	switch rapid.IntRange(0, 5).Draw(t, "kind") {
	case 0:
		r, err = NewLastN(rapid.IntRange(1, 12).Draw(t, "count"))
	case 1:
		r, err = NewWithin(time.Duration(rapid.IntRange(1, 24*60).Draw(t, "hours")) * time.Hour)
	case 2:
		lengths := []string{"30m", "1h", "6h", "1d", "1w", "30d"}
		sections := make([]string, rapid.IntRange(1, 4).Draw(t, "sections"))
		for i := range sections {
			sections[i] = fmt.Sprintf("%dx%s", rapid.IntRange(1, 10).Draw(t, "count"), rapid.SampledFrom(lengths).Draw(t, "length"))
			if rapid.IntRange(0, 3).Draw(t, "keepall") == 0 {
				sections[i] += "(keep=all)"
			}
		}
		r, err = ParseGrid(strings.Join(sections, " | "))
	case 3:
		spec := CalendarSpec{
			Hourly:   rapid.IntRange(0, 5).Draw(t, "hourly"),
			Daily:    rapid.IntRange(0, 5).Draw(t, "daily"),
			Weekly:   rapid.IntRange(0, 5).Draw(t, "weekly"),
			Monthly:  rapid.IntRange(0, 5).Draw(t, "monthly"),
			Yearly:   rapid.IntRange(0, 2).Draw(t, "yearly"),
			Timezone: rapid.SampledFrom(propertyZones).Draw(t, "tz"),
		}
		if spec == (CalendarSpec{Timezone: spec.Timezone}) {
			spec.Daily = 1
		}
		r, err = NewCalendar(spec)
	case 4:
		r, err = NewLastDrilled(rapid.IntRange(1, 3).Draw(t, "drilled count"))
	default:
		r, err = NewRegex("^manual-", rapid.Bool().Draw(t, "negate"))
	}
	if err != nil {
		t.Fatalf("generator built an invalid rule: %v", err)
	}
	return r
}

func genPolicy(t *rapid.T) (*Policy, []Rule) {
	rules := make([]Rule, rapid.IntRange(1, 4).Draw(t, "rules"))
	for i := range rules {
		rules[i] = genRule(t)
	}
	p, err := NewPolicy(rules...)
	if err != nil {
		t.Fatal(err)
	}
	return p, rules
}

// isInvariantReason tells the reasons the engine adds itself from the ones
// rules give.
func isInvariantReason(r string) bool {
	return r == ReasonNewestVerified || r == ReasonFutureDated || r == ReasonNoRule || r == ReasonUnverified
}

func restrict(ds []Decision, keep func(Snapshot) bool) []Decision {
	var out []Decision
	for _, d := range ds {
		if keep(d.Snapshot) {
			out = append(out, d)
		}
	}
	return out
}

func snapshotsOf(ds []Decision, keep func(Decision) bool) []Snapshot {
	var out []Snapshot
	for _, d := range ds {
		if keep(d) {
			out = append(out, d.Snapshot)
		}
	}
	return out
}

func TestPropertiesOfPlan(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC).Add(time.Duration(rapid.Int64Range(0, 86400*365).Draw(t, "now")) * time.Second)
		snaps := genSnapshots(t, now)
		policy, rules := genPolicy(t)
		ds := policy.Plan(snaps, now)

		// One decision per input, same multiset, newest first.
		if len(ds) != len(snaps) {
			t.Fatalf("%d decisions for %d snapshots", len(ds), len(snaps))
		}
		sorted := slices.Clone(snaps)
		SortNewestFirst(sorted)
		if got := snapshotsOf(ds, func(Decision) bool { return true }); !slices.Equal(got, sorted) {
			t.Fatalf("decisions are not the input sorted newest first")
		}
		for i := 1; i < len(ds); i++ {
			if compareNewestFirst(&ds[i-1].Snapshot, &ds[i].Snapshot) > 0 {
				t.Fatalf("decision %d is newer than decision %d", i, i-1)
			}
		}

		isFuture := func(s Snapshot) bool { return s.Created.After(now) }
		newestVerified := slices.IndexFunc(sorted, func(s Snapshot) bool { return s.Verified && !isFuture(s) })
		for i, d := range ds {
			if len(d.Reasons) == 0 {
				t.Fatalf("%s has no reason", d.Snapshot.Name)
			}
			if d.Keep == slices.Contains(d.Reasons, ReasonNoRule) {
				t.Fatalf("%s: keep=%v with reasons %q", d.Snapshot.Name, d.Keep, d.Reasons)
			}
			if isFuture(d.Snapshot) && (!d.Keep || !slices.Equal(d.Reasons, []string{ReasonFutureDated})) {
				t.Fatalf("future-dated %s: keep=%v reasons %q", d.Snapshot.Name, d.Keep, d.Reasons)
			}
			if (i == newestVerified) != slices.Contains(d.Reasons, ReasonNewestVerified) {
				t.Fatalf("%s: newest verified is index %d, reasons %q", d.Snapshot.Name, newestVerified, d.Reasons)
			}
			if i == newestVerified && !d.Keep {
				t.Fatalf("newest verified %s destroyed", d.Snapshot.Name)
			}
			if !d.Snapshot.Verified && slices.ContainsFunc(d.Reasons, func(r string) bool {
				return strings.HasPrefix(r, "last ") || strings.HasPrefix(r, "grid ") ||
					strings.HasPrefix(r, "hourly ") || strings.HasPrefix(r, "daily ") || strings.HasPrefix(r, "weekly ") ||
					strings.HasPrefix(r, "monthly ") || strings.HasPrefix(r, "yearly ")
			}) {
				t.Fatalf("unverified %s fills a quota: %q", d.Snapshot.Name, d.Reasons)
			}
		}

		// Future-dated snapshots change no other decision.
		present := policy.Plan(snapshotsOf(ds, func(d Decision) bool { return !isFuture(d.Snapshot) }), now)
		if !slices.EqualFunc(present, restrict(ds, func(s Snapshot) bool { return !isFuture(s) }), decisionsEqual) {
			t.Fatalf("removing future-dated snapshots changed the other decisions")
		}

		// Unverified snapshots change no decision on a verified one.
		verified := policy.Plan(snapshotsOf(ds, func(d Decision) bool { return d.Snapshot.Verified }), now)
		if !slices.EqualFunc(verified, restrict(ds, func(s Snapshot) bool { return s.Verified }), decisionsEqual) {
			t.Fatalf("removing unverified snapshots changed decisions on verified ones")
		}

		// OR-combination: kept by the policy iff kept by one of its rules
		// alone (the invariants are the same in each).
		for _, r := range rules {
			alone := single(t, r).Plan(snaps, now)
			for i := range ds {
				if alone[i].Keep && !ds[i].Keep {
					t.Fatalf("%s kept by %s alone but destroyed by the policy", alone[i].Snapshot.Name, r)
				}
				for _, reason := range alone[i].Reasons {
					if !isInvariantReason(reason) && !slices.Contains(ds[i].Reasons, reason) {
						t.Fatalf("%s: reason %q of %s missing from the policy's %q", ds[i].Snapshot.Name, reason, r, ds[i].Reasons)
					}
				}
			}
		}
		for _, d := range ds {
			ruleReason := slices.ContainsFunc(d.Reasons, func(r string) bool { return !isInvariantReason(r) })
			invariantKeep := slices.Contains(d.Reasons, ReasonNewestVerified) || slices.Contains(d.Reasons, ReasonFutureDated)
			if d.Keep != (ruleReason || invariantKeep) {
				t.Fatalf("%s: keep=%v but reasons %q", d.Snapshot.Name, d.Keep, d.Reasons)
			}
		}

		// Quotas: a rule alone keeps at most its quota of snapshots.
		for _, r := range rules {
			alone := single(t, r).Plan(snaps, now)
			byRule := 0
			for _, d := range alone {
				if slices.ContainsFunc(d.Reasons, func(r string) bool { return !isInvariantReason(r) }) {
					byRule++
				}
			}
			if limit, ok := quota(r); ok && byRule > limit {
				t.Fatalf("%s kept %d snapshots, more than its quota %d", r, byRule, limit)
			}
		}

		// A plan is a fixed point: pruning what it says, then planning
		// again at the same time, destroys nothing more.
		survivors := snapshotsOf(ds, func(d Decision) bool { return d.Keep })
		for _, d := range policy.Plan(survivors, now) {
			if !d.Keep {
				t.Fatalf("second pass destroys %s (%q)", d.Snapshot.Name, d.Reasons)
			}
		}
	})
}

// quota is the most snapshots r can keep, for rules that have a quota.
func quota(r Rule) (int, bool) {
	switch r := r.(type) {
	case *lastN:
		return r.count, true
	case *calendar:
		s := r.spec
		return s.Hourly + s.Daily + s.Weekly + s.Monthly + s.Yearly, true
	case *grid:
		n := 0
		for _, s := range r.sections {
			if s.keepAll {
				return 0, false
			}
			n += int(s.count)
		}
		return n, true
	}
	return 0, false
}

func single(t *rapid.T, r Rule) *Policy {
	p, err := NewPolicy(r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
