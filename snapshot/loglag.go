package snapshot

import "fmt"

// LogLag says how far a snapshot read from a server's raft directory lags
// that server's raft log: the entries the log holds after the snapshot's
// index were written by the server but are not in the archive. Every field
// is a number or a short fixed name, so the record stays small whatever
// the directory held.
type LogLag struct {
	// LogStore names the server's log store: "raft-boltdb" (raft.db),
	// "raft-wal" (wal/), or "none" when the directory holds no log store
	// (then the indexes below are 0 and the lag is unknown).
	LogStore string `json:"log_store"`
	// SnapshotIndex is the raft index the archived snapshot covers.
	SnapshotIndex uint64 `json:"snapshot_index"`
	// FirstIndex and LastIndex are the range of the log; both 0 when the
	// log holds no entry.
	FirstIndex uint64 `json:"first_index"`
	LastIndex  uint64 `json:"last_index"`
	// Missing is how many entries the log holds after SnapshotIndex
	// (LastIndex - SnapshotIndex, or 0): writes this archive does not hold.
	// Some of them may never have been committed by the cluster.
	Missing uint64 `json:"missing"`
}

// LogStoreNone is LogLag.LogStore for a directory without a log store.
const LogStoreNone = "none"

// String says it in one sentence, for output and run reports.
func (l LogLag) String() string {
	switch {
	case l.LogStore == LogStoreNone || l.LogStore == "":
		return fmt.Sprintf("snapshot at index %d; no log store was found beside it, so how many entries the server wrote after it is unknown", l.SnapshotIndex)
	case l.Missing == 0:
		return fmt.Sprintf("snapshot at index %d; the %s log holds no entries after it (log %s): the archive holds everything the log does",
			l.SnapshotIndex, l.LogStore, l.logRange())
	case l.Missing == 1:
		return fmt.Sprintf("snapshot at index %d; the %s log holds 1 entry after it (log %s) that this archive does not contain",
			l.SnapshotIndex, l.LogStore, l.logRange())
	}
	return fmt.Sprintf("snapshot at index %d; the %s log holds %d entries after it (log %s) that this archive does not contain",
		l.SnapshotIndex, l.LogStore, l.Missing, l.logRange())
}

func (l LogLag) logRange() string {
	if l.LastIndex == 0 {
		return "empty"
	}
	return fmt.Sprintf("indexes %d to %d", l.FirstIndex, l.LastIndex)
}

// NewLogLag computes Missing from the snapshot's index and the log's range.
func NewLogLag(logStore string, snapshotIndex, firstIndex, lastIndex uint64) LogLag {
	l := LogLag{LogStore: logStore, SnapshotIndex: snapshotIndex, FirstIndex: firstIndex, LastIndex: lastIndex}
	if lastIndex > snapshotIndex {
		l.Missing = lastIndex - snapshotIndex
	}
	return l
}
