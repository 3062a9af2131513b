package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
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
	e.VerifyError = cutField(e.VerifyError)
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
	if d := e.Drill; d != nil {
		b := *d
		b.Job, b.Result, b.Reason, b.Server = cutField(b.Job), cutField(b.Result), cutField(b.Reason), cutField(b.Server)
		e.Drill = &b
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

// EncodeRecord is e as a store writes it (a sidecar, a manifest): bounded,
// with the fields of Extra that Entry does not know, and refused when it
// would still not be read back: a snapshot whose record cannot be kept is
// not stored (the run fails) rather than stored unlisted.
func EncodeRecord(e Entry) ([]byte, error) {
	e.Bound()
	data, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if len(e.Extra) > 0 {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(data, &fields); err != nil {
			return nil, err
		}
		for k, v := range e.Extra {
			if _, known := fields[k]; !known && !knownRecordFields[k] {
				fields[k] = v
			}
		}
		if data, err = json.Marshal(fields); err != nil {
			return nil, err
		}
	}
	var out bytes.Buffer
	if err := json.Indent(&out, data, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	if out.Len() > MaxRecordSize {
		return nil, fmt.Errorf("its record would be %d bytes, more than the %d a store reads back", out.Len(), MaxRecordSize)
	}
	return out.Bytes(), nil
}

// DecodeRecord reads a record written by EncodeRecord (by this or another
// version): the fields Entry does not know go to Extra. It checks nothing;
// see CheckRecord.
func DecodeRecord(data []byte) (Entry, error) {
	var e Entry
	if len(data) > MaxRecordSize {
		return e, fmt.Errorf("larger than %d bytes", MaxRecordSize)
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return Entry{}, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err == nil {
		for k, v := range fields {
			if !knownRecordFields[k] {
				if e.Extra == nil {
					e.Extra = map[string]json.RawMessage{}
				}
				var compact bytes.Buffer
				if json.Compact(&compact, v) == nil {
					v = compact.Bytes()
				}
				e.Extra[k] = v
			}
		}
	}
	return e, nil
}

// CheckRecord says what is wrong with a decoded record that must describe
// the snapshot called name; "" when it may be listed.
func CheckRecord(e *Entry, name string) string {
	switch {
	case e.Schema != SidecarSchema:
		return fmt.Sprintf("record schema %d is not supported (want %d)", e.Schema, SidecarSchema)
	case e.Name != name:
		return fmt.Sprintf("record names %q, not this archive", e.Name)
	case e.Job == "":
		return "record names no job"
	case len(e.SHA256) != sha256.Size*2:
		return "record has no valid sha256"
	case e.Object != "" && (e.Object == e.Name || !strings.HasPrefix(e.Object, e.Name) || strings.ContainsAny(e.Object, "/\\")):
		return fmt.Sprintf("record's object %q is not a form of its name", e.Object)
	}
	return ""
}

// knownRecordFields are the JSON names of Entry's stored fields.
var knownRecordFields = func() map[string]bool {
	known := map[string]bool{}
	t := reflect.TypeFor[Entry]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			known[name] = true
		}
	}
	return known
}()
