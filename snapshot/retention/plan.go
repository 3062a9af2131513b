package retention

import (
	"slices"
	"time"
)

// Planner decides which snapshots to keep. *Policy, the engine, is the one
// raftsnap uses; Decide enforces the invariants on top of any planner, so
// that a planner's mistake cannot destroy the newest verified snapshot.
type Planner interface {
	Plan(snaps []Snapshot, now time.Time) []Decision
}

// Reasons Decide and Prune add to a planner's.
const (
	ReasonNoDecision   = "no decision from the policy (kept)"
	ReasonGuardNewest  = "newest verified (never destroyed)"
	ReasonDeleteFailed = "delete failed"
)

// A Plan is what a pass is to do.
type Plan struct {
	// Decisions hold one verdict per snapshot: grouped by job (in job
	// name order), newest first within each job.
	Decisions []Decision
	// Protected holds each job's newest verified snapshot (see
	// NewestVerified), which no decision destroys.
	Protected []Snapshot
}

// Decide is the one planning function: the prune job, the snapshot job's
// post-run prune and `raftsnap test pruning` all plan through it. It runs
// planner over each job's snapshots on their own (raft positions order one
// cluster's snapshots, and each job keeps one cluster's; see
// store.CompareNewestFirst), then enforces what no planner may break: each
// job's newest verified snapshot is kept, and so is a snapshot the planner
// gave no decision for.
func Decide(planner Planner, snaps []Snapshot, now time.Time) Plan {
	byJob := map[string][]Snapshot{}
	var jobs []string
	for _, s := range snaps {
		if _, seen := byJob[s.Job]; !seen {
			jobs = append(jobs, s.Job)
		}
		byJob[s.Job] = append(byJob[s.Job], s)
	}
	slices.Sort(jobs)
	plan := Plan{Decisions: make([]Decision, 0, len(snaps))}
	for _, job := range jobs {
		group := byJob[job]
		SortNewestFirst(group)
		guard := newestVerified(group, now)
		if guard >= 0 {
			plan.Protected = append(plan.Protected, group[guard])
		}
		decisions := matchDecisions(group, planner.Plan(group, now))
		for i := range decisions {
			d := &decisions[i]
			if !d.Keep && i == guard {
				d.Keep = true
				d.Reasons = append(slices.Clip(d.Reasons), ReasonGuardNewest)
			}
		}
		plan.Decisions = append(plan.Decisions, decisions...)
	}
	return plan
}

// matchDecisions lines the planner's decisions up with group (sorted), one
// each; a snapshot the planner said nothing about is kept.
func matchDecisions(group []Snapshot, planned []Decision) []Decision {
	// The engine answers in group's order: no need to look names up.
	if len(planned) == len(group) && slices.EqualFunc(planned, group, func(d Decision, s Snapshot) bool { return d.Snapshot == s }) {
		return planned
	}
	byName := map[string][]Decision{}
	for _, d := range planned {
		byName[d.Name] = append(byName[d.Name], d)
	}
	out := make([]Decision, len(group))
	for i, s := range group {
		ds := byName[s.Name]
		if len(ds) == 0 {
			out[i] = Decision{Snapshot: s, Keep: true, Reasons: []string{ReasonNoDecision}}
			continue
		}
		byName[s.Name] = ds[1:]
		out[i] = Decision{Snapshot: s, Keep: ds[0].Keep, Reasons: ds[0].Reasons}
	}
	return out
}

// NewestVerified returns the newest verified snapshot not dated in the
// future or, when every verified one is, the newest verified one at all:
// the snapshot pruning never destroys, and the one a restore of "latest"
// sends. A date in the future is not trusted, so such a snapshot is chosen
// only when there is no other. ok is false when none is verified.
func NewestVerified(snaps []Snapshot, now time.Time) (s Snapshot, ok bool) {
	if i := newestVerified(snaps, now); i >= 0 {
		return snaps[i], true
	}
	return Snapshot{}, false
}

// newestVerified is NewestVerified's index in snaps (in any order), or -1;
// the first of equal snapshots.
func newestVerified(snaps []Snapshot, now time.Time) int {
	best, future := -1, -1
	for i := range snaps {
		s := &snaps[i]
		if !s.Verified {
			continue
		}
		at := &best
		if s.Created.After(now) {
			at = &future
		}
		if *at < 0 || compareNewestFirst(s, &snaps[*at]) < 0 {
			*at = i
		}
	}
	if best < 0 {
		return future
	}
	return best
}
