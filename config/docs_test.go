package config

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/raftsnap/raftsnap/snapshot/source"
)

// The configuration reference must not drift from the structs: every YAML
// key is documented in its section of docs/configuration.md, and every key
// a reference table names exists.

const configurationDoc = "../docs/configuration.md"

// docSections maps a "## " heading of docs/configuration.md to the struct
// whose keys it documents. Keys are written relative to that struct
// (`logging.level` under `global`, `tls.ca_file` under Source blocks).
var docSections = []struct {
	heading string
	root    reflect.Type
}{
	{"## `global`", reflect.TypeFor[Global]()},
	{"## `jobs`", reflect.TypeFor[Job]()},
	{"## Source blocks", reflect.TypeFor[source.Config]()},
	{"## Store blocks", reflect.TypeFor[Store]()},
	{"## Pruning", reflect.TypeFor[KeepRule]()},
	{"## HA blocks", reflect.TypeFor[HA]()},
}

// blockTypes have a section of their own: a field of one of these types is
// documented by its key alone, its keys in that section.
var blockTypes = map[reflect.Type]bool{
	reflect.TypeFor[source.Config](): true,
	reflect.TypeFor[Store]():         true,
	reflect.TypeFor[KeepRule]():      true,
	reflect.TypeFor[HA]():            true,
}

// yamlKeys lists the dotted key paths of t (a struct), descending into
// nested structs that are not blocks.
func yamlKeys(t *testing.T, typ reflect.Type, prefix string) []string {
	t.Helper()
	var keys []string
	for field := range typ.Fields() {
		tag := strings.Split(field.Tag.Get("yaml"), ",")[0]
		if tag == "-" || !field.IsExported() {
			continue
		}
		if tag == "" {
			t.Errorf("%s.%s has no yaml tag", typ.Name(), field.Name)
			continue
		}
		key := prefix + tag
		keys = append(keys, key)
		ft := field.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && !blockTypes[ft] && ft != reflect.TypeFor[Duration]() {
			keys = append(keys, yamlKeys(t, ft, key+".")...)
		}
	}
	return keys
}

// documentedKeys collects, from one section of the doc, every key written
// in a code span: a plain dotted name (`tls.ca_file`) as it is, and a YAML
// example (`calendar: {hourly: 24, timezone: UTC}`) as the paths of its
// mapping (calendar, calendar.hourly, calendar.timezone).
func documentedKeys(section string) map[string]bool {
	keys := map[string]bool{}
	for _, m := range regexp.MustCompile("`([^`\n]+)`").FindAllStringSubmatch(section, -1) {
		span := strings.ReplaceAll(m[1], `\|`, "|")
		if regexp.MustCompile(`^[a-z_]+(\.[a-z_]+)*$`).MatchString(span) {
			keys[span] = true
			continue
		}
		var example map[string]any
		if yaml.Unmarshal([]byte(span), &example) == nil {
			addPaths(keys, "", example)
		}
	}
	return keys
}

func addPaths(keys map[string]bool, prefix string, m map[string]any) {
	for k, v := range m {
		keys[prefix+k] = true
		if sub, ok := v.(map[string]any); ok {
			addPaths(keys, prefix+k+".", sub)
		}
	}
}

// tableKeys returns the code spans of the first column of the section's
// tables: the keys the reference claims exist.
func tableKeys(section string) []string {
	var keys []string
	for line := range strings.SplitSeq(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.SplitN(strings.TrimPrefix(line, "|"), " | ", 2)[0]
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(first, -1) {
			keys = append(keys, m[1])
		}
	}
	return keys
}

// documentedBelow reports whether a nested key of key is documented: a
// mapping such as `logging` is documented by its keys (`logging.level`).
func documentedBelow(documented map[string]bool, key string) bool {
	for k := range documented {
		if strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}

func docSection(t *testing.T, doc, heading string) string {
	t.Helper()
	start := strings.Index(doc, "\n"+heading+"\n")
	if start < 0 {
		t.Fatalf("%s has no section %q", configurationDoc, heading)
	}
	rest := doc[start+len(heading)+2:]
	if end := strings.Index(rest, "\n## "); end >= 0 {
		rest = rest[:end]
	}
	return rest
}

func TestConfigurationReferenceCoversEveryKey(t *testing.T) {
	data, err := os.ReadFile(configurationDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	total := 0
	for _, s := range docSections {
		section := docSection(t, doc, s.heading)
		documented := documentedKeys(section)
		keys := yamlKeys(t, s.root, "")
		total += len(keys)
		var missing []string
		for _, key := range keys {
			if !documented[key] && !documentedBelow(documented, key) {
				missing = append(missing, key)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("section %q of %s does not document: %s", s.heading, configurationDoc, strings.Join(missing, ", "))
		}

		known := map[string]bool{}
		for _, key := range keys {
			known[key] = true
		}
		for _, key := range tableKeys(section) {
			if !known[key] {
				t.Errorf("section %q of %s documents %q, which is not a configuration key", s.heading, configurationDoc, key)
			}
		}
	}
	// A walk that found almost nothing would pass vacuously.
	if total < 50 {
		t.Fatalf("found only %d keys in the config structs", total)
	}
}

// TestExampleConfigs checks that the commented examples the packages ship
// exist and back up what their names promise (TestGoodConfigs loads every
// file of dist/examples).
func TestExampleConfigs(t *testing.T) {
	for file, wantKinds := range map[string][]string{
		"consul.yml":        {"consul"},
		"nomad.yml":         {"nomad"},
		"vault.yml":         {"vault"},
		"nomad-vault.yml":   {"nomad", "vault"},
		"multi-cluster.yml": {"consul", "nomad", "vault"},
	} {
		cfg, err := Load("../dist/examples/" + file)
		if err != nil {
			t.Errorf("%s:\n%v", file, err)
			continue
		}
		kinds := map[string]bool{}
		for _, job := range cfg.Jobs {
			if job.Type == "snapshot" {
				kinds[string(job.Source.Kind)] = true
			}
		}
		for _, kind := range wantKinds {
			if !kinds[kind] {
				t.Errorf("%s has no snapshot job of a %s source", file, kind)
			}
		}
	}
}
