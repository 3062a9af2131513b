// Package devcluster runs a real hashicorp/raft cluster in process (raft-boltdb
// stores, file snapshot store, TCP transport on 127.0.0.1) holding a small
// key-value state machine, for `raftsnap daemon --dev` and the tests.
package devcluster
