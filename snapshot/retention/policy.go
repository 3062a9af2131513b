package retention

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/raftsnap/raftsnap/snapshot/store"
)

// Snapshot is what the engine knows of one snapshot. Its JSON form is the
// one `raftsnap test pruning --format json` prints.
type Snapshot struct {
	Name     string    `json:"snapshot"`
	Created  time.Time `json:"created"`
	Term     uint64    `json:"term"`
	Index    uint64    `json:"index"`
	Verified bool      `json:"verified"`
	Size     int64     `json:"size"`
	// Drilled is true when the snapshot's last drill proved it restorable
	// (a drill job restored it into a throwaway server, which reported
	// what the archive holds); last_drilled keeps such snapshots.
	Drilled bool `json:"drilled,omitempty"`
	// Job wrote the snapshot; Decide plans each job's snapshots on their
	// own. The engine (Policy.Plan) ignores it.
	Job string `json:"-"`
}

// Decision is the verdict on one snapshot.
type Decision struct {
	Snapshot
	Keep bool `json:"keep"`
	// Reasons say why, e.g. "newest verified", "last 24", "within 48h",
	// "grid bucket 3 of 24x1h", "daily 2026-11-20", "future-dated (clock skew)".
	Reasons []string `json:"reasons"`
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

// view is what rules see: the snapshots that are not in the future, in the
// newest-first order, and the anchor their windows are measured from.
//
// Order and time usually agree; when a clock was wrong they do not, so
// rules that choose "the newest" use the order (present, lower positions
// are newer) and rules that measure time walk byTime.
type view struct {
	// decisions are read-only for rules: they use only .Snapshot.
	decisions []Decision
	// present holds the indexes into decisions of the snapshots rules
	// see, newest first; rules name a snapshot by its position here.
	present []int
	// byTime holds positions in present, latest when() first, newest
	// first among equal times.
	byTime []int
	anchor time.Time // meaningless when there are no snapshots
}

func (v *view) snapshot(i int) *Snapshot { return &v.decisions[v.present[i]].Snapshot }

// when is the time windows place snapshot i at: its creation time, but
// never later than the anchor. A snapshot dated after the newest verified
// one holds older state with a wrong date, and must not open a window of
// its own.
func (v *view) when(i int) time.Time {
	t := v.snapshot(i).Created
	if t.After(v.anchor) {
		return v.anchor
	}
	return t
}

// compareByTime orders positions in present by when(), latest first, and
// by position (the newest-first order) among equal times.
func (v *view) compareByTime(a, b int) int {
	ta, tb := v.when(a), v.when(b)
	if c := cmp.Compare(tb.Unix(), ta.Unix()); c != 0 {
		return c
	}
	if c := cmp.Compare(tb.Nanosecond(), ta.Nanosecond()); c != 0 {
		return c
	}
	return cmp.Compare(a, b)
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
		return nil, errors.New("the pruning policy has no rules: it would keep nothing; add at least one keep rule (last_n, grid, calendar, within, regex or last_drilled)")
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

// compareNewestFirst orders snapshots newest first by the store's one
// notion (raft term, raft index, creation time, name), then by the
// remaining fields, so that only identical snapshots compare equal and an
// unstable sort is deterministic.
func compareNewestFirst(a, b *Snapshot) int {
	if c := store.CompareNewestFirst(a.position(), b.position()); c != 0 {
		return c
	}
	if a.Verified != b.Verified {
		if a.Verified {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(b.Size, a.Size); c != 0 {
		return c
	}
	return strings.Compare(b.Job, a.Job)
}

func (s *Snapshot) position() store.Position {
	return store.Position{Term: s.Term, Index: s.Index, Created: s.Created, Name: s.Name}
}

// sortKey is the part of a Snapshot Plan sorts by, with its position.
type sortKey struct {
	term, index uint64
	sec         int64
	nsec        int32
	at          int
}

// SortNewestFirst sorts snapshots in the order Plan uses.
func SortNewestFirst(snaps []Snapshot) {
	slices.SortFunc(snaps, func(a, b Snapshot) int { return compareNewestFirst(&a, &b) })
}

// Plan is the engine: it decides, for every snapshot, whether to keep or
// destroy it and why. It assumes the snapshots come from one cluster (the
// order compares raft positions); Decide calls it once per job. The result
// holds exactly one Decision per input snapshot (duplicates included), each
// with at least one reason, newest first. snaps is not modified.
func (p *Policy) Plan(snaps []Snapshot, now time.Time) []Decision {
	// Sort compact keys, not the snapshots themselves: moving 100,000
	// structs around, or chasing them through memory, costs more than
	// the rest of the plan.
	keys := make([]sortKey, len(snaps))
	for i := range snaps {
		s := &snaps[i]
		keys[i] = sortKey{term: s.Term, index: s.Index, sec: s.Created.Unix(), nsec: int32(s.Created.Nanosecond()), at: i}
	}
	slices.SortFunc(keys, func(a, b sortKey) int {
		if c := cmp.Compare(b.term, a.term); c != 0 {
			return c
		}
		if c := cmp.Compare(b.index, a.index); c != 0 {
			return c
		}
		if c := cmp.Compare(b.sec, a.sec); c != 0 {
			return c
		}
		if c := cmp.Compare(b.nsec, a.nsec); c != 0 {
			return c
		}
		return compareNewestFirst(&snaps[a.at], &snaps[b.at])
	})
	decisions := make([]Decision, len(snaps))
	for i, k := range keys {
		decisions[i].Snapshot = snaps[k.at]
	}

	// Future-dated snapshots are kept and reported; the rest is what the
	// rules see.
	v := &view{decisions: decisions, present: make([]int, 0, len(decisions))}
	for i := range decisions {
		if decisions[i].Snapshot.Created.After(now) {
			decisions[i].Keep = true
			decisions[i].Reasons = []string{ReasonFutureDated}
			continue
		}
		v.present = append(v.present, i)
	}

	newestVerified := slices.IndexFunc(v.present, func(i int) bool { return decisions[i].Snapshot.Verified })
	switch {
	case newestVerified >= 0:
		d := &decisions[v.present[newestVerified]]
		v.anchor = d.Snapshot.Created
		d.Keep = true
		d.Reasons = []string{ReasonNewestVerified}
	case len(v.present) > 0:
		v.anchor = decisions[v.present[0]].Snapshot.Created
	}
	v.byTime = make([]int, len(v.present))
	for i := range v.byTime {
		v.byTime[i] = i
	}
	if !slices.IsSortedFunc(v.byTime, v.compareByTime) {
		slices.SortFunc(v.byTime, v.compareByTime)
	}

	for _, r := range p.rules {
		r.keep(v, func(i int, reason string) {
			d := &decisions[v.present[i]]
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
	noRule := make([]string, len(v.present))
	for n, i := range v.present {
		d := &decisions[i]
		if !d.Snapshot.Verified {
			d.Reasons = append(d.Reasons, ReasonUnverified)
		}
		if !d.Keep {
			if len(d.Reasons) == 0 {
				noRule[n] = ReasonNoRule
				d.Reasons = noRule[n : n+1 : n+1]
			} else {
				d.Reasons = append(d.Reasons, ReasonNoRule)
			}
		}
	}
	return decisions
}
