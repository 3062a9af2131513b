package retention

import (
	"slices"

	"github.com/raftsnap/raftsnap/snapshot/store"
)

// Owner decides which store entries a job may plan over and touch. A
// snapshot job owns the entries it wrote: OwnedBy(its name). A prune job
// owns the entries of its owners: OwnedBy(owners...), which is every entry
// with a sidecar when it names none. Anything else in a store is ignored.
type Owner struct {
	jobs []string // none: every entry
}

// OwnedBy owns the entries the named jobs wrote, or every entry when no job
// is named.
func OwnedBy(jobs ...string) Owner {
	return Owner{jobs: slices.Clone(jobs)}
}

// Owns tells whether e is the job's.
func (o Owner) Owns(e store.Entry) bool {
	return len(o.jobs) == 0 || slices.Contains(o.jobs, e.Job)
}

// Split separates the entries o owns from the others, keeping their order.
func (o Owner) Split(entries []store.Entry) (mine, others []store.Entry) {
	for _, e := range entries {
		if o.Owns(e) {
			mine = append(mine, e)
		} else {
			others = append(others, e)
		}
	}
	return mine, others
}

// FromEntry is what the engine needs of a stored snapshot.
func FromEntry(e store.Entry) Snapshot {
	return Snapshot{Name: e.Name, Created: e.CreatedAt, Term: e.Term, Index: e.Index, Verified: e.Verified, Size: e.Size, Job: e.Job,
		Drilled: e.Drill != nil && e.Drill.Result == store.DrillOK}
}

// FromEntries converts entries, keeping their order.
func FromEntries(entries []store.Entry) []Snapshot {
	snaps := make([]Snapshot, len(entries))
	for i, e := range entries {
		snaps[i] = FromEntry(e)
	}
	return snaps
}
