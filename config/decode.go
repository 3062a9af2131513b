package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/raftsnap/raftsnap/snapshot/source"
)

// maxDecodeSteps bounds the work of decoding one file. Aliases can make a
// small file expand into a huge tree ("billion laughs"); no real
// configuration comes near this.
const maxDecodeSteps = 200_000

// rejectedKeys are keys refused with a specific message instead of "unknown
// key", because a user is likely to try them.
var rejectedKeys = map[reflect.Type]map[string]string{
	reflect.TypeFor[source.Config](): {
		"token": "tokens must not be written in the configuration file: " +
			"name a file holding it with token_file (mode 0600) or an environment variable with token_env",
	},
	reflect.TypeFor[source.AppRoleConfig](): {
		"role_id": "the role ID is not written in the configuration file: " +
			"name a file holding it with role_id_file (mode 0600)",
		"secret_id": "secret IDs must not be written in the configuration file: " +
			"name a file holding it with secret_id_file (mode 0600), which raftsnap reads again at each login",
	},
	reflect.TypeFor[Store](): credentialKeys(),
}

// credentialKeys are keys refused in a store block: credentials come from
// each cloud's standard chain (environment, config files, instance
// metadata), never from this file.
func credentialKeys() map[string]string {
	const msg = "credentials must not be written in the configuration file: they come from the cloud's standard chain " +
		"(the environment, e.g. AWS_ACCESS_KEY_ID or AZURE_STORAGE_KEY in the service's EnvironmentFile, the cloud's config files, " +
		"or the instance's identity); see docs/storage.md"
	keys := map[string]string{}
	for _, k := range []string{"access_key", "access_key_id", "secret_key", "secret_access_key", "session_token", "secret",
		"password", "credentials", "credentials_file", "account_key", "key", "sas_token", "connection_string", "token"} {
		keys[k] = msg
	}
	return keys
}

// decoder turns a yaml.Node tree into the schema structs, strictly, and
// remembers where every value was so that later checks can point at it.
type decoder struct {
	file  string
	errs  *Errors
	steps int
	// values and keys map a YAML path to its value node and key node, for
	// every path present in the file.
	values map[string]*yaml.Node
	keys   map[string]*yaml.Node
	// failed holds paths whose value could not be decoded; later checks
	// skip them so that one mistake is reported once.
	failed map[string]bool
	// tooBig is set once maxDecodeSteps is exceeded.
	tooBig bool
}

func newDecoder(file string, errs *Errors) *decoder {
	return &decoder{
		file:   file,
		errs:   errs,
		values: map[string]*yaml.Node{},
		keys:   map[string]*yaml.Node{},
		failed: map[string]bool{},
	}
}

func (d *decoder) errorAt(n *yaml.Node, path, format string, args ...any) {
	e := &Error{File: d.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs.add(e)
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.failed[path] = true
	d.errorAt(n, path, format, args...)
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// Durations and sizes have their own syntax ("2d", "10GiB"). Our own
// fields use the Duration and Size types; the source settings, which
// snapshot/source defines without importing this package, use
// time.Duration and an int64 tagged format:"size".
var (
	durationTypes = map[reflect.Type]bool{reflect.TypeFor[Duration](): true, reflect.TypeFor[time.Duration](): true}
	sizeType      = reflect.TypeFor[Size]()
)

// sizeFormat is the struct tag value marking an integer field as a size.
const sizeFormat = "size"

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	d.decodeAs(n, v, path, "")
}

// decodeAs decodes n into v; format is the field's format tag.
func (d *decoder) decodeAs(n *yaml.Node, v reflect.Value, path, format string) {
	if d.tooBig {
		return
	}
	d.steps++
	if d.steps > maxDecodeSteps {
		d.tooBig = true
		d.errorAt(n, "", "the file expands into too many values (aliases used too often?)")
		return
	}
	n = resolve(n)
	if n == nil || n.Kind == yaml.AliasNode {
		d.fail(n, path, "alias refers to itself")
		return
	}
	d.values[path] = n
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		// "key:" with no value leaves the field unset, as if absent, so
		// that required fields are reported as missing.
		delete(d.values, path)
		return
	}

	if durationTypes[v.Type()] {
		d.decodeDuration(n, v, path)
		return
	}
	if v.Type() == sizeType || (format == sizeFormat && v.Kind() == reflect.Int64) {
		d.decodeSize(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decodeAs(n, v.Elem(), path, format)
		// Decode recorded the path; keep it.
		d.values[path] = n
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			if n.Kind == yaml.ScalarNode {
				d.fail(n, path, "want a string, got %s (put it in quotes if you mean the text)", describe(n))
			} else {
				d.fail(n, path, "want a string, got %s", describe(n))
			}
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		var i int
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
			d.fail(n, path, "want a whole number, got %s", describe(n))
			return
		}
		v.SetInt(int64(i))
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
			d.fail(n, path, "want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	default:
		// A schema field of a kind this decoder does not know is a bug
		// here, not in the user's file; say so rather than panic.
		d.fail(n, path, "internal error: cannot decode a %s", v.Kind())
	}
}

func (d *decoder) decodeDuration(n *yaml.Node, v reflect.Value, path string) {
	d.decodeParsed(n, v, path, "a duration such as 5m, 1h or 2d", func(s string) (int64, error) {
		dur, err := ParseDuration(s)
		return int64(dur), err
	})
}

func (d *decoder) decodeSize(n *yaml.Node, v reflect.Value, path string) {
	d.decodeParsed(n, v, path, "a size such as 512MiB or 10GiB", ParseSize)
}

// decodeParsed decodes a scalar that parse turns into v's integer; want
// says what is expected.
func (d *decoder) decodeParsed(n *yaml.Node, v reflect.Value, path, want string, parse func(string) (int64, error)) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want %s, got %s", want, describe(n))
		return
	}
	x, err := parse(n.Value)
	if err != nil {
		d.fail(n, path, "%v", err)
		return
	}
	v.SetInt(x)
}

// fieldsOf maps YAML keys to struct field indexes, in declaration order.
func fieldsOf(t reflect.Type) (names []string, index map[string]int) {
	index = map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		names = append(names, tag)
		index[tag] = i
	}
	return names, index
}

type mapEntry struct {
	key, value *yaml.Node
	merged     bool // came from a "<<" merge key
}

// mappingEntries lists a mapping's pairs with "<<" merge keys expanded:
// merged pairs first, so the mapping's own keys override them.
func (d *decoder) mappingEntries(n *yaml.Node, path string) []mapEntry {
	var merged, own []mapEntry
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if key.Kind == yaml.ScalarNode && key.Tag == "!!merge" {
			sources := []*yaml.Node{resolve(value)}
			if sources[0] != nil && sources[0].Kind == yaml.SequenceNode {
				sources = sources[0].Content
			}
			for _, src := range sources {
				src = resolve(src)
				if src == nil || src.Kind != yaml.MappingNode {
					d.fail(value, path, "a merge (<<) needs a mapping or a list of mappings")
					continue
				}
				for _, e := range d.mappingEntries(src, path) {
					merged = append(merged, mapEntry{key: e.key, value: e.value, merged: true})
				}
			}
			continue
		}
		own = append(own, mapEntry{key: key, value: value})
	}
	return append(merged, own...)
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping (key: value lines), got %s", describe(n))
		return
	}
	names, index := fieldsOf(v.Type())
	rejected := rejectedKeys[v.Type()]
	seen := map[string]*yaml.Node{}
	fromMerge := map[string]bool{}
	for _, e := range d.mappingEntries(n, path) {
		key := resolve(e.key)
		if key == nil || key.Kind != yaml.ScalarNode {
			d.errorAt(e.key, path, "keys must be plain words, got %s", describe(key))
			continue
		}
		name := key.Value
		childPath := joinPath(path, name)
		if prev, dup := seen[name]; dup && !fromMerge[name] && !e.merged {
			d.errorAt(key, childPath, "duplicate key (first given at line %d)", prev.Line)
			continue
		}
		if e.merged && seen[name] != nil {
			continue // the earlier merge source wins
		}
		seen[name] = key
		fromMerge[name] = e.merged
		if path == "" && strings.HasPrefix(name, "x-") {
			// Top-level x- keys hold YAML anchors for reuse and are
			// otherwise ignored, as in Docker Compose files.
			continue
		}
		if msg, ok := rejected[name]; ok {
			d.errorAt(key, childPath, "%s", msg)
			continue
		}
		i, ok := index[name]
		if !ok {
			hint := suggest(name, names)
			if path == "" {
				hint += " (top-level keys starting with x- are ignored and may hold YAML anchors)"
			}
			d.errorAt(key, childPath, "unknown key %s%s", quote(name), hint)
			continue
		}
		d.keys[childPath] = key
		field := v.Field(i)
		if !e.merged {
			// An own key replaces whatever a merge put there.
			field.Set(reflect.Zero(field.Type()))
		}
		d.decodeAs(e.value, field, childPath, v.Type().Field(i).Tag.Get("format"))
	}
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// suggest names the closest valid key, or lists them all.
func suggest(name string, valid []string) string {
	best, bestDist := "", 3
	for _, v := range valid {
		if dist := editDistance(strings.ToLower(name), v); dist < bestDist {
			best, bestDist = v, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	sorted := append([]string(nil), valid...)
	sort.Strings(sorted)
	return "; valid keys here: " + strings.Join(sorted, ", ")
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// describe names what a node holds, in user words.
func describe(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return n.Value
		case "!!null":
			return "nothing"
		case "!!str":
			return "the text " + quote(n.Value)
		default:
			return strconv.Quote(n.Value)
		}
	}
	return "an unexpected value"
}
