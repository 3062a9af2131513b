package retention

import (
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkPlan100k plans a policy using every rule over 100,000 snapshots
// (one every 5 minutes for almost a year, in shuffled order, 1% unverified).
// Target: under 100 ms per Plan (docs/performance.md).
func BenchmarkPlan100k(b *testing.B) {
	policy := mustPolicy(b,
		must(b)(NewLastN(24)),
		must(b)(ParseGrid("1x1h(keep=all) | 24x1h | 30x1d | 12x30d")),
		must(b)(NewCalendar(CalendarSpec{Hourly: 24, Daily: 7, Weekly: 4, Monthly: 12, Yearly: 3, Timezone: "Europe/Berlin"})),
		must(b)(NewWithin(48*time.Hour)),
		must(b)(NewRegex("^manual-", false)))
	rng := rand.New(rand.NewPCG(1, 2))
	snaps := series("auto-", t0, 100_000, 5*time.Minute)
	for i := range snaps {
		// series' indexes would wrap below zero past 10,000 snapshots.
		snaps[i].Index = uint64(len(snaps) - i)
		snaps[i].Verified = rng.IntN(100) != 0
	}
	rng.Shuffle(len(snaps), func(i, j int) { snaps[i], snaps[j] = snaps[j], snaps[i] })
	b.ReportAllocs()
	for b.Loop() {
		if ds := policy.Plan(snaps, t0); len(ds) != len(snaps) {
			b.Fatal("wrong number of decisions")
		}
	}
}
