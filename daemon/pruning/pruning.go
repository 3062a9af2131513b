// Package pruning decides which snapshots to keep. Plan is a pure function:
// no I/O, "now" injected, every decision with its reasons. Rules are
// OR-combined; invariants no policy can break are enforced after the rules.
//
// Plan assumes every snapshot it is given belongs to the job that prunes:
// filtering out foreign files (and reporting them as "foreign, ignored") is
// the caller's job, because only the caller knows the store's owners.
//
// The rules and invariants are described for users in docs/retention.md;
// the summary:
//   - Order is by Created, newest first, with raft (Term, Index) and then
//     Name as tie-breaks.
//   - A snapshot with Created after now is future-dated (clock skew): no
//     rule sees it, so it moves no window and fills no quota; it is kept
//     and reported.
//   - The anchor of every window (within, grid) is the newest verified
//     snapshot that is not in the future; only when there is none is it
//     the newest unverified one. A snapshot that failed verification
//     therefore moves no window.
//   - last_n, grid and calendar count only verified snapshots, so an
//     unverified one never takes a good one's place. within and regex have
//     no quota and keep unverified snapshots too.
//   - The newest verified snapshot (not in the future) is always kept.
package pruning

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Snapshot is what the engine knows of one snapshot.
type Snapshot struct {
	Name     string
	Created  time.Time
	Index    uint64
	Term     uint64
	Verified bool
	Size     int64
}

// Decision is the verdict on one snapshot.
type Decision struct {
	Snapshot Snapshot
	Keep     bool
	// Reasons say why, e.g. "newest verified", "last 24", "within 48h",
	// "grid bucket 3 of 24x1h", "daily 2026-11-20", "future-dated (clock skew)".
	Reasons []string
}

// Reasons given by the invariants (rules give their own, see each rule).
const (
	ReasonNewestVerified = "newest verified"
	ReasonFutureDated    = "future-dated (clock skew)"
	ReasonNoRule         = "no rule keeps it"
	ReasonUnverified     = "unverified (counts toward no last_n, grid or calendar quota)"
)

// Rule is one retention rule. Rules are built only by this package's
// constructors (NewLastN, ParseGrid, NewCalendar, NewWithin, NewRegex), which
// reject settings that would keep nothing.
type Rule interface {
	// String is the rule as a user would write it, e.g. "last_n 24" or
	// "grid 1x1h(keep=all) | 24x1h | 14x1d".
	String() string
	// keep calls mark for every snapshot of v.snaps the rule keeps, with
	// the reason. It may mark a snapshot more than once.
	keep(v *view, mark func(i int, reason string))
}

// view is what rules see: the snapshots that are not in the future, newest
// first, and the anchor their windows are measured from.
type view struct {
	snaps  []Snapshot
	anchor time.Time // meaningless when snaps is empty
}

// Policy is a non-empty set of OR-combined rules.
type Policy struct {
	rules []Rule
}

// NewPolicy combines rules: a snapshot is kept if any rule keeps it. An
// empty policy is an error: it would keep nothing but the newest verified
// snapshot, which is never what an operator means.
func NewPolicy(rules ...Rule) (*Policy, error) {
	if len(rules) == 0 {
		return nil, errors.New("the pruning policy has no rules: it would keep nothing; add at least one keep rule (last_n, grid, calendar, within or regex)")
	}
	for i, r := range rules {
		if r == nil {
			return nil, fmt.Errorf("pruning rule %d is missing", i+1)
		}
	}
	return &Policy{rules: slices.Clone(rules)}, nil
}

// Rules returns the policy's rules in order.
func (p *Policy) Rules() []Rule { return slices.Clone(p.rules) }

// String lists the rules, e.g. "last_n 3; within 48h".
func (p *Policy) String() string {
	parts := make([]string, len(p.rules))
	for i, r := range p.rules {
		parts[i] = r.String()
	}
	return strings.Join(parts, "; ")
}

// compareNewestFirst orders snapshots newest first: by Created, then raft
// Term and Index (a later term or index is newer), then Name so that the
// order is total and Plan deterministic.
func compareNewestFirst(a, b Snapshot) int {
	if c := b.Created.Compare(a.Created); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Term, a.Term); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Index, a.Index); c != 0 {
		return c
	}
	return strings.Compare(b.Name, a.Name)
}

// SortNewestFirst sorts snapshots in the order Plan uses.
func SortNewestFirst(snaps []Snapshot) {
	slices.SortStableFunc(snaps, compareNewestFirst)
}

// Plan decides, for every snapshot, whether to keep or destroy it and why.
// The result holds exactly one Decision per input snapshot (duplicates
// included), each with at least one reason, newest first. snaps is not
// modified.
func (p *Policy) Plan(snaps []Snapshot, now time.Time) []Decision {
	sorted := slices.Clone(snaps)
	SortNewestFirst(sorted)

	decisions := make([]Decision, len(sorted))
	for i, s := range sorted {
		decisions[i].Snapshot = s
	}

	// Future-dated snapshots sort first; the rest is what the rules see.
	nFuture := 0
	for nFuture < len(sorted) && sorted[nFuture].Created.After(now) {
		decisions[nFuture].Keep = true
		decisions[nFuture].Reasons = []string{ReasonFutureDated}
		nFuture++
	}
	present := decisions[nFuture:]
	v := &view{snaps: sorted[nFuture:]}

	newestVerified := slices.IndexFunc(v.snaps, func(s Snapshot) bool { return s.Verified })
	switch {
	case newestVerified >= 0:
		v.anchor = v.snaps[newestVerified].Created
		present[newestVerified].Keep = true
		present[newestVerified].Reasons = []string{ReasonNewestVerified}
	case len(v.snaps) > 0:
		v.anchor = v.snaps[0].Created
	}

	for _, r := range p.rules {
		r.keep(v, func(i int, reason string) {
			d := &present[i]
			d.Keep = true
			// A rule may keep a snapshot for the same reason twice
			// (e.g. a grid whose sections overlap); say it once.
			if !slices.Contains(d.Reasons, reason) {
				d.Reasons = append(d.Reasons, reason)
			}
		})
	}

	for i := range present {
		d := &present[i]
		if !d.Snapshot.Verified {
			d.Reasons = append(d.Reasons, ReasonUnverified)
		}
		if !d.Keep {
			d.Reasons = append(d.Reasons, ReasonNoRule)
		}
	}
	return decisions
}
