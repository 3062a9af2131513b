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
	// keep calls mark(i, reason) for every snapshot v.decisions[i].Snapshot
	// the rule keeps. It may mark a snapshot more than once.
	keep(v *view, mark func(i int, reason string))
}

// view is what rules see: the snapshots that are not in the future, newest
// first, and the anchor their windows are measured from.
type view struct {
	// decisions are read-only for rules: they use only .Snapshot.
	decisions []Decision
	anchor    time.Time // meaningless when there are no snapshots
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
// order is deterministic.
func compareNewestFirst(a, b *Snapshot) int {
	// Wall-clock seconds and nanoseconds, like Plan's sort keys (Compare
	// would use monotonic readings when both times carry one).
	if c := cmp.Compare(b.Created.Unix(), a.Created.Unix()); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Created.Nanosecond(), a.Created.Nanosecond()); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Term, a.Term); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Index, a.Index); c != 0 {
		return c
	}
	if c := strings.Compare(b.Name, a.Name); c != 0 {
		return c
	}
	// Equal so far: order by the remaining fields too, so that only
	// identical snapshots compare equal and an unstable sort is
	// deterministic.
	if a.Verified != b.Verified {
		if a.Verified {
			return -1
		}
		return 1
	}
	return cmp.Compare(b.Size, a.Size)
}

// sortKey is the part of a Snapshot Plan sorts by, with its position.
type sortKey struct {
	sec         int64
	nsec        int32
	term, index uint64
	at          int
}

// SortNewestFirst sorts snapshots in the order Plan uses.
func SortNewestFirst(snaps []Snapshot) {
	slices.SortFunc(snaps, func(a, b Snapshot) int { return compareNewestFirst(&a, &b) })
}

// Plan decides, for every snapshot, whether to keep or destroy it and why.
// The result holds exactly one Decision per input snapshot (duplicates
// included), each with at least one reason, newest first. snaps is not
// modified.
func (p *Policy) Plan(snaps []Snapshot, now time.Time) []Decision {
	// Sort compact keys, not the snapshots themselves: moving 100,000
	// structs around, or chasing them through memory, costs more than
	// the rest of the plan.
	keys := make([]sortKey, len(snaps))
	for i := range snaps {
		s := &snaps[i]
		keys[i] = sortKey{sec: s.Created.Unix(), nsec: int32(s.Created.Nanosecond()), term: s.Term, index: s.Index, at: i}
	}
	slices.SortFunc(keys, func(a, b sortKey) int {
		if c := cmp.Compare(b.sec, a.sec); c != 0 {
			return c
		}
		if c := cmp.Compare(b.nsec, a.nsec); c != 0 {
			return c
		}
		if c := cmp.Compare(b.term, a.term); c != 0 {
			return c
		}
		if c := cmp.Compare(b.index, a.index); c != 0 {
			return c
		}
		return compareNewestFirst(&snaps[a.at], &snaps[b.at])
	})
	decisions := make([]Decision, len(snaps))
	for i, k := range keys {
		decisions[i].Snapshot = snaps[k.at]
	}

	// Future-dated snapshots sort first; the rest is what the rules see.
	nFuture := 0
	for nFuture < len(decisions) && decisions[nFuture].Snapshot.Created.After(now) {
		decisions[nFuture].Keep = true
		decisions[nFuture].Reasons = []string{ReasonFutureDated}
		nFuture++
	}
	present := decisions[nFuture:]
	v := &view{decisions: present}

	newestVerified := slices.IndexFunc(present, func(d Decision) bool { return d.Snapshot.Verified })
	switch {
	case newestVerified >= 0:
		v.anchor = present[newestVerified].Snapshot.Created
		present[newestVerified].Keep = true
		present[newestVerified].Reasons = []string{ReasonNewestVerified}
	case len(present) > 0:
		v.anchor = present[0].Snapshot.Created
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

	// Most snapshots are destroyed for the one same reason: give them
	// one-element windows (capped, so an append copies) of one array
	// instead of 100,000 allocations.
	noRule := make([]string, len(present))
	for i := range present {
		d := &present[i]
		if !d.Snapshot.Verified {
			d.Reasons = append(d.Reasons, ReasonUnverified)
		}
		if !d.Keep {
			if len(d.Reasons) == 0 {
				noRule[i] = ReasonNoRule
				d.Reasons = noRule[i : i+1 : i+1]
			} else {
				d.Reasons = append(d.Reasons, ReasonNoRule)
			}
		}
	}
	return decisions
}
