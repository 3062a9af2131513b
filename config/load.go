package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"

	"github.com/raftsnap/raftsnap/snapshot/smallfile"
	"gopkg.in/yaml.v3"
)

// DefaultPath is where the daemon and configcheck look without --config.
const DefaultPath = "/etc/raftsnap/raftsnap.yml"

// configFile is what Load and ReadSockPath read: configurations are
// kilobytes, so 4 MiB is plenty.
var configFile = smallfile.Spec{What: "configuration", Kind: "a raftsnap configuration", Max: 4 << 20}

// Options change how a configuration is checked.
type Options struct {
	// UID is the user the daemon runs as: store directories must be owned
	// by it (see store.CheckDir). Load uses this process's user.
	UID int
	// SkipDirChecks leaves out the checks of store directories on this
	// machine: for examples and test files that name system paths, checked
	// on any machine as any user.
	SkipDirChecks bool
}

// Load reads and parses the configuration file at path, checking it for
// this process's user. See Parse.
func Load(path string) (*Config, error) {
	return LoadWith(path, Options{UID: os.Geteuid()})
}

// LoadWith is Load with options.
func LoadWith(path string, opts Options) (*Config, error) {
	data, err := configFile.Read(path)
	if err != nil {
		return nil, err
	}
	return ParseWith(data, path, opts)
}

// Parse parses and validates a configuration; filename is only used in
// messages. Parsing is strict: unknown keys, duplicate keys, wrong types,
// missing required fields, several YAML documents and empty files are all
// errors. Defaults are then applied (see applyDefaults) and every value
// that could fail later is checked now, including that token, CA,
// certificate and key files exist and are readable (token files are not
// read; the daemon reads them with source.Config.Resolve).
//
// The error, if any, is a *Errors listing every problem found, one line
// each, in file order. Non-fatal findings are in Config.Warnings.
func Parse(data []byte, filename string) (*Config, error) {
	return ParseWith(data, filename, Options{UID: os.Geteuid()})
}

// ParseWith is Parse with options.
func ParseWith(data []byte, filename string, opts Options) (cfg *Config, err error) {
	errs := &Errors{}
	root, ok := parseYAML(data, filename, errs)
	if !ok {
		return nil, errs
	}
	cfg = &Config{}
	d := newDecoder(filename, errs)
	d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	if d.tooBig {
		return nil, errs
	}
	if _, ok := d.values[""]; !ok || root.Kind != yaml.MappingNode {
		if len(errs.List) == 0 {
			d.errorAt(root, "", "want a mapping with global and jobs, got %s", describe(root))
		}
		errs.sort()
		return nil, errs
	}
	applyDefaults(cfg, d.isSet)
	v := &validator{decoder: d, cfg: cfg, opts: opts}
	v.validate()
	if len(errs.List) > 0 {
		errs.sort()
		return nil, errs
	}
	return cfg, nil
}

func (d *decoder) isSet(path string) bool {
	_, ok := d.values[path]
	return ok
}

// yamlLine matches yaml.v3's syntax errors ("yaml: line 3: did not find
// expected key") so that they can be given our file:line form.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML reads exactly one YAML document into a node tree.
func parseYAML(data []byte, filename string, errs *Errors) (root *yaml.Node, ok bool) {
	defer func() {
		// yaml.v3 is third-party code; a panic on a malformed file must
		// still become an error, never a crash of configcheck or the daemon.
		if r := recover(); r != nil {
			errs.add(&Error{File: filename, Msg: fmt.Sprintf("cannot parse the file as YAML (%v)", r)})
			root, ok = nil, false
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			errs.add(&Error{File: filename, Msg: "the file is empty: a configuration needs at least a jobs list"})
		} else {
			errs.add(syntaxError(filename, err))
		}
		return nil, false
	}
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case errors.Is(err, io.EOF):
	case err != nil:
		errs.add(syntaxError(filename, err))
		return nil, false
	default:
		errs.add(&Error{File: filename, Line: second.Line, Column: second.Column,
			Msg: "a second YAML document (after ---): put everything in one document"})
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		errs.add(&Error{File: filename, Msg: "the file is empty: a configuration needs at least a jobs list"})
		return nil, false
	}
	root = doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		errs.add(&Error{File: filename, Msg: "the file is empty: a configuration needs at least a jobs list"})
		return nil, false
	}
	return root, true
}

func syntaxError(filename string, err error) *Error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: filename, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	msg := err.Error()
	if len(msg) > 6 && msg[:6] == "yaml: " {
		msg = msg[6:]
	}
	return &Error{File: filename, Msg: "invalid YAML: " + msg}
}

// ReadSockPath reads only global.control.sockpath from the file at path,
// leniently: the rest of the file may be invalid (a half-edited file, a
// key this version does not know), since `raftsnap status --config` and
// `signal --config` are needed most when something is wrong. The default is
// returned when the file does not set it.
func ReadSockPath(path string) (string, error) {
	data, err := configFile.Read(path)
	if err != nil {
		return "", err
	}
	// Only the first document; nothing outside global.control is looked
	// at. That mapping itself is read strictly: a misspelt sockpath is the
	// one mistake that matters here.
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("%s: cannot find global.control.sockpath: %w", path, err)
	}
	control := mappingValue(mappingValue(documentBody(&root), "global"), "control")
	if control == nil {
		return DefaultSockPath, nil
	}
	sock := ""
	for i := 0; i+1 < len(control.Content); i += 2 {
		key, value := control.Content[i], resolve(control.Content[i+1])
		if key.Value != "sockpath" {
			return "", fmt.Errorf("%s:%d:%d: global.control.%s: unknown key (the control block takes sockpath)", path, key.Line, key.Column, key.Value)
		}
		if value == nil || value.Kind != yaml.ScalarNode {
			return "", fmt.Errorf("%s:%d:%d: global.control.sockpath: want a path", path, key.Line, key.Column)
		}
		sock = value.Value
	}
	if sock == "" {
		return DefaultSockPath, nil
	}
	return sock, nil
}

func documentBody(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return resolve(n.Content[0])
	}
	return nil
}

// mappingValue returns the value of key in mapping n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return nil
}
