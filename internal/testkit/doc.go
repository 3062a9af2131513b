// Package testkit is raftsnap's shared test support: the one rule for tests
// that need something outside the Go toolchain (Integration, Missing,
// RequireRoot, RequireTool), Eventually, a logger that is safe after a test
// ended, golden files, the raftsnap binary built once, a child-process
// helper, a configurable fault proxy, a fake clock and a tmpfs mount.
//
// It imports only the standard library, so that any package's internal
// tests can use it without an import cycle. Helpers that need raftsnap's
// own packages live in the sub-packages:
//
//   - servers: real Consul and Nomad servers on loopback (also used by bench/)
//   - raftcluster: in-process hashicorp/raft dev clusters for tests
//   - daemonproc: a `raftsnap daemon` process and its control client
//   - fakejobs: an in-memory job list for the control server
//   - vaultstub: a loopback Vault stand-in (snapshot API, AppRole login,
//     token renewal), since no real Vault builds here
//   - memsource: an in-memory snapshot source for the job runner
package testkit
