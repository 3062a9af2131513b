package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/raftsnap/raftsnap/"

// TestImportArrows keeps the rules of docs/architecture.md: arrows point
// down (client → daemon → config → snapshot), the status rendering does
// not import the scheduler, the control API's contract depends on nothing
// but the socket helpers. Test files may reach further (test kits).
func TestImportArrows(t *testing.T) {
	rules := []struct {
		from      string   // package path prefix, relative to the module
		forbidden []string // import path prefixes, relative to the module
	}{
		{"config", []string{"daemon", "client"}},
		{"snapshot", []string{"daemon", "client", "config", "nethelpers"}},
		{"nethelpers", []string{"daemon", "client", "config"}},
		{"daemon", []string{"client"}},
		{"client/statusview", []string{"daemon/job"}},
		{"client/tui", []string{"daemon/job"}},
		{"daemon/controlapi", []string{"daemon/job", "config", "snapshot", "client"}},
	}
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "out") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			rel, ok := strings.CutPrefix(p, module)
			if !ok {
				continue
			}
			checked++
			for _, r := range rules {
				if !under(dir, r.from) {
					continue
				}
				for _, bad := range r.forbidden {
					if under(rel, bad) {
						t.Errorf("%s imports %s: %s/ must import nothing from %s/ (docs/architecture.md)", path, rel, r.from, bad)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d raftsnap imports seen: the walk is broken", checked)
	}
}

func under(path, prefix string) bool { return path == prefix || strings.HasPrefix(path, prefix+"/") }
