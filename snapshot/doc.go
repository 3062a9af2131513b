// Package snapshot reads, writes, verifies and inspects Raft snapshot
// archives in the format Consul, Nomad and Vault produce and accept:
// gzip(tar) holding meta.json (JSON of raft.SnapshotMeta), state.bin and
// SHA256SUMS, plus SHA256SUMS.sealed for Vault.
//
// Everything streams: verification runs while the bytes arrive, memory stays
// constant whatever the archive size, and hostile input yields an *Error that
// says what is wrong, never a panic or an unbounded allocation.
package snapshot
