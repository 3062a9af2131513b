// Package pruning decides which snapshots to keep. Plan is a pure function:
// no I/O, "now" injected, every decision with its reasons. Rules are
// OR-combined; invariants no policy can break are enforced after the rules.
package pruning

import "time"

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
