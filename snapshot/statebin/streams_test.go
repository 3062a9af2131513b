package statebin

import (
	"bytes"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// The handles below are configured like the vendors': Consul's
// structs.MsgpackHandle and Nomad's structs.MsgpackHandle both set
// RawToString and encode structs as maps.
func vendorHandle() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{}
	h.RawToString = true
	return h
}

// streamBuilder writes a state.bin the way Consul's and Nomad's Persist do
// (encoder.Encode(header), then per record sink.Write(type) and
// encoder.Encode(value)) and records the expected statistics.
type streamBuilder struct {
	t      testing.TB
	buf    bytes.Buffer
	enc    *codec.Encoder
	counts map[byte]int64
	bytes  map[byte]int64
	header int64
	n      int64
}

func newStreamBuilder(t testing.TB, header any) *streamBuilder {
	b := &streamBuilder{t: t, counts: map[byte]int64{}, bytes: map[byte]int64{}}
	b.enc = codec.NewEncoder(&b.buf, vendorHandle())
	if err := b.enc.Encode(header); err != nil {
		t.Fatalf("encode header: %v", err)
	}
	b.header = int64(b.buf.Len())
	return b
}

func (b *streamBuilder) add(typ byte, value any) *streamBuilder {
	start := b.buf.Len()
	b.buf.WriteByte(typ)
	if err := b.enc.Encode(value); err != nil {
		b.t.Fatalf("encode record type %d: %v", typ, err)
	}
	b.counts[typ]++
	b.bytes[typ] += int64(b.buf.Len() - start)
	b.n++
	return b
}

// Shapes of the vendors' records, trimmed to a few fields of each kind
// (strings, byte slices, nested maps and slices, integers, bools, nil).
type consulSnapshotHeader struct{ LastIndex uint64 }

type consulRegisterRequest struct {
	Datacenter     string
	ID             string
	Node           string
	Address        string
	NodeMeta       map[string]string
	Service        *consulNodeService
	Checks         []consulHealthCheck
	SkipNodeUpdate bool
}

type consulNodeService struct {
	ID, Service string
	Tags        []string
	Port        int
	Weights     map[string]int
}

type consulHealthCheck struct {
	CheckID, Status, Output string
	ServiceTags             []string
	Interval                int64
}

type consulDirEntry struct {
	LockIndex   uint64
	Key         string
	Flags       uint64
	Value       []byte
	Session     string
	CreateIndex uint64
	ModifyIndex uint64
}

type consulIndexEntry struct {
	Key   string
	Value uint64
}

type nomadSnapshotHeader struct{}

type nomadNode struct {
	ID, Name, Datacenter string
	Attributes           map[string]string
	Resources            map[string]any
	Drain                bool
	CreateIndex          uint64
}

type nomadJob struct {
	ID, Name, Namespace string
	Priority            int
	TaskGroups          []map[string]any
	Meta                map[string]string
	Stop                bool
	Payload             []byte
}

func consulStream(t testing.TB) *streamBuilder {
	b := newStreamBuilder(t, &consulSnapshotHeader{LastIndex: 4242})
	for i, node := range []string{"server-1", "web-1", "web-2"} {
		b.add(0, &consulRegisterRequest{
			Datacenter: "dc1", ID: "0e1ab2c3-" + node, Node: node, Address: "127.0.0.1",
			NodeMeta: map[string]string{"consul-network-segment": "", "rack": node},
			Service: &consulNodeService{ID: "web", Service: "web", Tags: []string{"v1", "blue"},
				Port: 8080 + i, Weights: map[string]int{"Passing": 1, "Warning": 1}},
			Checks: []consulHealthCheck{{CheckID: "serfHealth", Status: "passing",
				Output: "Agent alive and reachable", Interval: 10_000_000_000}},
		})
	}
	b.add(6, []map[string]any{{"Node": "web-1", "Coord": map[string]any{"Vec": []float64{0.1, -0.2}, "Error": 1.5}}})
	b.add(3, map[string]any{"ID": "5d2c", "Node": "web-1", "TTL": "", "Behavior": "release"})
	for i := 0; i < 5; i++ {
		b.add(2, &consulDirEntry{Key: "config/app/" + string(rune('a'+i)), Value: bytes.Repeat([]byte{byte(i)}, 100*i), Flags: uint64(i), CreateIndex: uint64(10 + i), ModifyIndex: uint64(20 + i)})
	}
	b.add(2, &consulDirEntry{Key: "big", Value: bytes.Repeat([]byte("x"), 70_000)}) // bin32/str32 length
	b.add(5, &consulDirEntry{Key: "gone", ModifyIndex: 99})
	b.add(9, map[string]any{"CleanupDeadServers": true, "LastContactThreshold": int64(200_000_000), "MaxTrailingLogs": 250})
	for _, table := range []string{"nodes", "services", "checks", "kvs"} {
		b.add(16, &consulIndexEntry{Key: table, Value: 4000})
	}
	b.add(29, map[string]any{"ChunkMap": map[string]any{}})
	b.add(70, "an enterprise record")             // unknown: Consul Enterprise range
	b.add(2|consulIgnoreUnknownFlag, []int{1, 2}) // KVS with IgnoreUnknownTypeFlag
	b.add(200, nil)                               // unknown with the flag
	return b
}

func nomadStream(t testing.TB) *streamBuilder {
	b := newStreamBuilder(t, &nomadSnapshotHeader{})
	for _, table := range []string{"nodes", "jobs", "evals"} {
		b.add(2, map[string]any{"Key": table, "Value": uint64(77)})
	}
	b.add(0, &nomadNode{ID: "n-1", Name: "client-1", Datacenter: "dc1",
		Attributes: map[string]string{"kernel.name": "linux", "cpu.arch": "amd64"},
		Resources:  map[string]any{"CPU": 4000, "MemoryMB": 8192, "Networks": []any{map[string]any{"IP": "127.0.0.1"}}}})
	b.add(1, &nomadJob{ID: "example", Name: "example", Namespace: "default", Priority: 50,
		TaskGroups: []map[string]any{{"Name": "cache", "Count": 1, "Tasks": []any{map[string]any{"Driver": "docker", "Config": map[string]any{"image": "redis:7"}}}}},
		Meta:       map[string]string{"owner": "ops"}, Payload: []byte{0, 1, 2, 3}})
	b.add(1, &nomadJob{ID: "batch", Name: "batch", Namespace: "default", Priority: 70, Stop: true})
	b.add(13, map[string]any{"SchedulerAlgorithm": "binpack", "PreemptionConfig": map[string]bool{"SystemSchedulerEnabled": true}})
	b.add(64, map[string]any{"Name": "default", "Description": "Default shared namespace"})
	b.add(99, "a record from a newer Nomad")
	return b
}
