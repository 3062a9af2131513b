package devcluster

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/hashicorp/raft"
	"github.com/tinylib/msgp/msgp"
)

// Command operations carried in raft log entries.
const (
	OpSet    = "set"
	OpDelete = "delete"
)

// Command is one KV change, JSON-encoded in a raft log entry.
type Command struct {
	Op    string `json:"op"`
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// kvRecordType tags each key in state.bin. The layout (a msgpack header map,
// then records of one type byte plus one msgpack value) mirrors Consul's, and
// 2 is Consul's KVS record type, so `raftsnap snapshot inspect` counts a dev
// cluster's keys as KV entries.
const kvRecordType byte = 2

// FSM is the replicated key-value state machine. Reads are served from the
// local copy, so a follower may lag the leader.
type FSM struct {
	mu        sync.RWMutex
	data      map[string]string
	lastIndex uint64
}

func newFSM() *FSM { return &FSM{data: map[string]string{}} }

// Get returns the local value of key.
func (f *FSM) Get(key string) (string, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	v, ok := f.data[key]
	return v, ok
}

// Keys returns the local keys, sorted.
func (f *FSM) Keys() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return slices.Sorted(maps.Keys(f.data))
}

// Data returns a copy of the local state.
func (f *FSM) Data() map[string]string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return maps.Clone(f.data)
}

// Len returns the number of local keys.
func (f *FSM) Len() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.data)
}

// LastIndex is the raft index of the last command applied locally.
func (f *FSM) LastIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.lastIndex
}

// Apply implements raft.FSM. The returned value is nil or an error.
func (f *FSM) Apply(l *raft.Log) any {
	var cmd Command
	if err := json.Unmarshal(l.Data, &cmd); err != nil {
		return fmt.Errorf("decode command at index %d: %w", l.Index, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastIndex = l.Index
	switch cmd.Op {
	case OpSet:
		f.data[cmd.Key] = cmd.Value
	case OpDelete:
		delete(f.data, cmd.Key)
	default:
		return fmt.Errorf("unknown command op %q at index %d", cmd.Op, l.Index)
	}
	return nil
}

// Snapshot implements raft.FSM; it copies the map so Persist can stream
// without holding the lock while raft keeps applying.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &kvSnapshot{data: maps.Clone(f.data), lastIndex: f.lastIndex}, nil
}

// Restore implements raft.FSM: the snapshot replaces the whole state.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, lastIndex, err := decodeState(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data = data
	f.lastIndex = lastIndex
	return nil
}

type kvSnapshot struct {
	data      map[string]string
	lastIndex uint64
}

func (s *kvSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := encodeState(sink, s.data, s.lastIndex); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *kvSnapshot) Release() {}

// encodeState writes {"LastIndex": n} then one record per key, sorted so the
// same state always yields the same bytes.
func encodeState(w io.Writer, data map[string]string, lastIndex uint64) error {
	bw := bufio.NewWriter(w)
	buf := msgp.AppendMapHeader(nil, 1)
	buf = msgp.AppendString(buf, "LastIndex")
	buf = msgp.AppendUint64(buf, lastIndex)
	if _, err := bw.Write(buf); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(data)) {
		buf = append(buf[:0], kvRecordType)
		buf = msgp.AppendMapHeader(buf, 2)
		buf = msgp.AppendString(buf, "Key")
		buf = msgp.AppendString(buf, k)
		buf = msgp.AppendString(buf, "Value")
		buf = msgp.AppendString(buf, data[k])
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func decodeState(r io.Reader) (map[string]string, uint64, error) {
	mr := msgp.NewReader(r)
	var lastIndex uint64
	n, err := mr.ReadMapHeader()
	if err != nil {
		return nil, 0, fmt.Errorf("decode state header: %w", err)
	}
	for range n {
		field, err := mr.ReadString()
		if err != nil {
			return nil, 0, fmt.Errorf("decode state header: %w", err)
		}
		if field == "LastIndex" {
			if lastIndex, err = mr.ReadUint64(); err != nil {
				return nil, 0, fmt.Errorf("decode state header LastIndex: %w", err)
			}
		} else if err := mr.Skip(); err != nil {
			return nil, 0, fmt.Errorf("decode state header field %q: %w", field, err)
		}
	}
	data := map[string]string{}
	for record := 0; ; record++ {
		typ, err := mr.R.ReadByte()
		if errors.Is(err, io.EOF) {
			return data, lastIndex, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("decode state record %d: %w", record, err)
		}
		if typ != kvRecordType {
			return nil, 0, fmt.Errorf("decode state record %d: unknown record type %d", record, typ)
		}
		key, value, err := decodeKV(mr)
		if err != nil {
			return nil, 0, fmt.Errorf("decode state record %d: %w", record, err)
		}
		data[key] = value
	}
}

func decodeKV(mr *msgp.Reader) (key, value string, err error) {
	n, err := mr.ReadMapHeader()
	if err != nil {
		return "", "", err
	}
	for range n {
		field, err := mr.ReadString()
		if err != nil {
			return "", "", err
		}
		switch field {
		case "Key":
			key, err = mr.ReadString()
		case "Value":
			value, err = mr.ReadString()
		default:
			err = mr.Skip()
		}
		if err != nil {
			return "", "", fmt.Errorf("field %q: %w", field, err)
		}
	}
	return key, value, nil
}
