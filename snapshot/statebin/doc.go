// Package statebin decodes the state.bin member of Consul and Nomad
// snapshots (a msgpack header, then records of one type byte followed by one
// msgpack value) into per-record-type counts and sizes, without holding more
// than one record's framing in memory.
//
// Decode reads a stream; Writer accepts one through Write so it can sit in
// snapshot.VerifyOptions.State and decode while an archive is verified. The
// flavour is detected from the header (Consul: a map holding LastIndex;
// Nomad: an empty map) or named by the caller, which then also checks it.
// Record values are skipped, never decoded, so lengths the stream declares
// cost no memory and unknown record types are counted, not fatal.
package statebin
