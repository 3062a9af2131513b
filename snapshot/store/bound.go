package store

import (
	"encoding/json"
	"fmt"
	"sort"
	"unicode/utf8"
)

// Limits on what a record (sidecar or manifest) holds. Everything in it
// comes from outside (a server's headers, an archive's meta.json, whose
// snapshot and server IDs may legally be any length), and a record too
// large to be read back would leave a stored snapshot that is never
// listed, never restored and never pruned. MaxRecordSize is what a store
// reads of a record; Bound keeps real records far below it.
const (
	MaxRecordSize    = 1 << 20
	maxRecordField   = 512 // bytes of one string: an ID, a header value
	maxRecordServers = 64  // a real raft configuration has a handful
	maxRecordHeaders = 16
)

// Bound cuts every field of e that came from outside to the limits above;
// a cut string ends with "…(N bytes)" so the cut is visible.
func (e *Entry) Bound() {
	e.Source = cutField(e.Source)
	e.RaftID = cutField(e.RaftID)
	if e.LogLag != nil {
		lag := *e.LogLag // a copy: the caller's record is not changed
		lag.LogStore = cutField(lag.LogStore)
		e.LogLag = &lag
	}
	if len(e.Servers) > maxRecordServers {
		e.Servers = e.Servers[:maxRecordServers]
	}
	for i := range e.Servers {
		e.Servers[i] = cutField(e.Servers[i])
	}
	if len(e.Headers) > 0 {
		keys := make([]string, 0, len(e.Headers))
		for k := range e.Headers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		bounded := make(map[string]string, min(len(keys), maxRecordHeaders))
		for _, k := range keys[:min(len(keys), maxRecordHeaders)] {
			bounded[cutField(k)] = cutField(e.Headers[k])
		}
		e.Headers = bounded
	}
}

func cutField(s string) string {
	if len(s) <= maxRecordField {
		return s
	}
	cut := maxRecordField - 24
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:cut], len(s))
}

// encodeRecord is e as a store writes it, bounded, and refused when it
// would still not be read back: a snapshot whose record cannot be kept is
// not stored (the run fails) rather than stored unlisted.
func encodeRecord(e Entry) ([]byte, error) {
	e.Bound()
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return nil, err
	}
	data = append(data, '\n')
	if len(data) > MaxRecordSize {
		return nil, fmt.Errorf("its record would be %d bytes, more than the %d a store reads back", len(data), MaxRecordSize)
	}
	return data, nil
}
