package job

import "github.com/hashicorp/raft"

// ServerIDs are the raft server IDs of a snapshot's configuration, sorted
// and bounded, as a snapshot job records them in Entry.Servers: for
// snapshots stored by other means (`raftsnap store put`).
func ServerIDs(cfg raft.Configuration) []string { return serverIDs(cfg) }
