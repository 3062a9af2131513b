// Package statebin decodes the state.bin member of Consul and Nomad
// snapshots (a msgpack header, then records of one type byte followed by one
// msgpack value) into per-record-type counts and sizes, without holding more
// than one record's framing in memory.
package statebin
