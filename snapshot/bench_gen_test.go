package snapshot

import (
	"bufio"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"strconv"
)

// stateWords is the vocabulary of the synthetic FSM state: the names that
// fill real Consul/Nomad state (services, nodes, tags, regions).
var stateWords = []string{
	"service", "web", "api", "db", "cache", "node", "health", "passing", "critical", "consul",
	"nomad", "job", "alloc", "task", "group", "region", "dc1", "dc2", "tags", "meta", "version",
	"primary", "secondary", "redis", "postgres", "ingress", "mesh", "sidecar", "proxy", "http",
}

// writeSyntheticState writes n bytes of deterministic, semi-compressible
// state shaped like Consul's state.bin: a type byte, then a msgpack map
// with repeated field names, path-like keys, JSON-ish values with ports,
// hex IDs and raft indexes. Default gzip compresses it about 3:1 — real
// snapshots land between 2:1 (Vault, encrypted values) and 10:1.
func writeSyntheticState(w io.Writer, n int64, seed uint64) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var written int64
	rec := make([]byte, 0, 1024)
	for written < n {
		rec = rec[:0]
		rec = append(rec, byte(rng.IntN(30)), 0x86, 0xa3, 'K', 'e', 'y')
		key := stateWords[rng.IntN(len(stateWords))] + "/" + stateWords[rng.IntN(len(stateWords))] +
			"-" + strconv.Itoa(rng.IntN(5000)) + "/" + stateWords[rng.IntN(len(stateWords))]
		rec = append(rec, 0xa0|byte(len(key)&31))
		rec = append(rec, key[:min(len(key), 31)]...)
		rec = append(rec, 0xa5, 'V', 'a', 'l', 'u', 'e', 0xc4)
		valueLen := 16 + rng.IntN(200)
		rec = append(rec, byte(valueLen))
		start := len(rec)
		for len(rec)-start < valueLen {
			switch rng.IntN(8) {
			case 0:
				rec = strconv.AppendUint(rec, rng.Uint64()&0xffffffffffff, 16)
			case 1, 2:
				rec = append(rec, `"port":`...)
				rec = strconv.AppendInt(rec, int64(rng.IntN(65536)), 10)
				rec = append(rec, ',')
			default:
				rec = append(rec, stateWords[rng.IntN(len(stateWords))]...)
				rec = append(rec, ' ')
			}
		}
		rec = rec[:start+valueLen]
		rec = append(rec, 0xab)
		rec = append(rec, "CreateIndex"...)
		rec = append(rec, 0xce)
		rec = binary.BigEndian.AppendUint32(rec, uint32(rng.IntN(1<<24)))
		rec = append(rec, 0xab)
		rec = append(rec, "ModifyIndex"...)
		rec = append(rec, 0xce)
		rec = binary.BigEndian.AppendUint32(rec, uint32(rng.IntN(1<<24)))
		if remaining := n - written; int64(len(rec)) > remaining {
			rec = rec[:remaining]
		}
		if _, err := bw.Write(rec); err != nil {
			return err
		}
		written += int64(len(rec))
	}
	return bw.Flush()
}

// syntheticState returns n bytes from writeSyntheticState.
func syntheticState(n int, seed uint64) []byte {
	var b sliceWriter
	b.buf = make([]byte, 0, n)
	if err := writeSyntheticState(&b, int64(n), seed); err != nil {
		panic(err)
	}
	return b.buf
}

type sliceWriter struct{ buf []byte }

func (s *sliceWriter) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	return len(p), nil
}
