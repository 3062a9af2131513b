package client

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestCLIReferenceUpToDate fails when docs/cli-reference no longer matches
// the command tree (a flag, command or help text changed without
// `make docs-cli`).
func TestCLIReferenceUpToDate(t *testing.T) {
	t.Setenv("TMPDIR", "") // gen-docs unsets it; restore the caller's afterwards
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"gen-docs", "--markdown", out}, nil, &stdout, &stderr); code != ExitOK {
		t.Fatalf("gen-docs exited %d: %s", code, stderr.String())
	}
	committed := "../docs/cli-reference"
	want := markdownPages(t, out)
	got := markdownPages(t, committed)
	if len(want) < 10 {
		t.Fatalf("gen-docs wrote only %d pages", len(want))
	}
	var stale []string
	for name, content := range want {
		if old, ok := got[name]; !ok {
			stale = append(stale, name+" (missing)")
		} else if old != content {
			stale = append(stale, name+" (differs)")
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			stale = append(stale, name+" (no such command any more)")
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("docs/cli-reference is out of date; run `make docs-cli`:\n  %s", strings.Join(stale, "\n  "))
	}
	if _, ok := want["raftsnap_gen-docs.md"]; ok {
		t.Error("the hidden gen-docs command has a page in the reference")
	}
}

func markdownPages(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pages[filepath.Base(f)] = string(data)
	}
	return pages
}

// TestGenDocsManAndCompletions checks the packaged artefacts: a man page
// per visible command and a completion script per shell that knows the
// subcommands.
func TestGenDocsManAndCompletions(t *testing.T) {
	t.Setenv("TMPDIR", "")
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600") // 2026-01-01: reproducible page dates
	man, comp := t.TempDir(), t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"gen-docs", "--man", man, "--completions", comp}, nil, &stdout, &stderr); code != ExitOK {
		t.Fatalf("gen-docs exited %d: %s", code, stderr.String())
	}
	for _, page := range []string{"raftsnap.1", "raftsnap-daemon.1", "raftsnap-snapshot-restore.1", "raftsnap-signal.1"} {
		data, err := os.ReadFile(filepath.Join(man, page))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, []byte(`.TH "RAFTSNAP" "1" "Jan 2026"`)) {
			t.Errorf("%s: unexpected header:\n%.200s", page, data)
		}
	}
	if _, err := os.Stat(filepath.Join(man, "raftsnap-gen-docs.1")); !os.IsNotExist(err) {
		t.Errorf("hidden gen-docs has a man page (stat: %v)", err)
	}
	for file, marker := range map[string]string{
		"raftsnap.bash": "__start_raftsnap",
		"_raftsnap":     "#compdef raftsnap",
		"raftsnap.fish": "complete -c raftsnap",
	} {
		data, err := os.ReadFile(filepath.Join(comp, file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, []byte(marker)) {
			t.Errorf("%s lacks %q", file, marker)
		}
	}
}

func TestGenDocsNeedsAnOutput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"gen-docs"}, nil, &stdout, &stderr); code != ExitUsage {
		t.Fatalf("exit %d, want %d (usage); stderr: %s", code, ExitUsage, stderr.String())
	}
	if !strings.Contains(stderr.String(), "--markdown") {
		t.Errorf("error does not name the flags: %s", stderr.String())
	}
}
