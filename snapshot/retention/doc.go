// Package retention decides which snapshots raftsnap keeps, and is the one
// place that does: the prune job, the snapshot job's post-run prune and
// `raftsnap test pruning` all go through it. It owns
//
//   - the order: "newest" is store.CompareNewestFirst (raft term, raft
//     index, then creation time, then name), everywhere;
//   - ownership (Owner): which store entries a job may plan over and touch;
//   - the conversion from store entries (FromEntry);
//   - the engine (Policy.Plan): the rules, pure, "now" injected, every
//     decision with its reasons;
//   - the one planning function (Decide): the engine run over each job's
//     snapshots, with the invariants no planner can break enforced on top;
//   - the pass (Prune): list, plan, re-verify the snapshot the guard
//     protects, destroy, and report; a dry run takes the same path minus
//     the re-verification and the deletes.
//
// The rules and invariants are described for users in docs/retention.md;
// the summary:
//   - Order is the newest-first order above.
//   - A snapshot with Created after now is future-dated (clock skew): no
//     rule sees it, so it moves no window and fills no quota; it is kept
//     and reported.
//   - The anchor of every window (within, grid, calendar) is the newest
//     verified snapshot that is not in the future; only when there is none
//     is it the newest unverified one. A snapshot that failed verification
//     therefore moves no window, and a snapshot dated after the anchor is
//     placed at the anchor (its date is wrong: it holds older state).
//   - last_n, grid and calendar count only verified snapshots, so an
//     unverified one never takes a good one's place. within and regex have
//     no quota and keep unverified snapshots too. last_drilled counts only
//     verified snapshots whose last drill proved them restorable.
//   - The newest verified snapshot (not in the future) is always kept.
//
// Nothing here imports from daemon/, client/ or config/: config builds
// rules with this package's constructors.
package retention
