package client

import (
	"bytes"
	"fmt"
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
	// Every page has the sections man-pages(7) asks of a command, with
	// every exit code and the variables and files the code uses.
	pages, _ := filepath.Glob(filepath.Join(man, "*.1"))
	if len(pages) < 10 {
		t.Fatalf("only %d section-1 pages", len(pages))
	}
	for _, page := range pages {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		exit, env, files, see := strings.Index(text, "\n.SH EXIT STATUS\n"), strings.Index(text, "\n.SH ENVIRONMENT\n"),
			strings.Index(text, "\n.SH FILES\n"), strings.Index(text, "\n.SH SEE ALSO\n")
		if exit < 0 || env < exit || files < env || see < files {
			t.Errorf("%s: want EXIT STATUS, ENVIRONMENT, FILES, SEE ALSO in that order (at %d, %d, %d, %d)", filepath.Base(page), exit, env, files, see)
			continue
		}
		for _, code := range []int{ExitOK, ExitError, ExitUsage, ExitInvalid} {
			if !strings.Contains(text[exit:env], fmt.Sprintf(".TP\n\\fB%d\\fP\n", code)) {
				t.Errorf("%s: EXIT STATUS does not describe exit code %d", filepath.Base(page), code)
			}
		}
		for _, v := range []string{"CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "NOMAD_TOKEN", "VAULT_ADDR", "NOTIFY_SOCKET"} {
			if !strings.Contains(text[env:files], v) {
				t.Errorf("%s: ENVIRONMENT lacks %s", filepath.Base(page), v)
			}
		}
		for _, f := range []string{"/etc/raftsnap/raftsnap.yml", "/etc/raftsnap/raftsnap.env", "/run/raftsnap/control"} {
			if !strings.Contains(text[files:see], f) {
				t.Errorf("%s: FILES lacks %s", filepath.Base(page), f)
			}
		}
	}
	for _, page := range []string{"raftsnap.1", "raftsnap-daemon.1", "raftsnap-configcheck.1"} {
		data, _ := os.ReadFile(filepath.Join(man, page))
		if !bytes.Contains(data, []byte(`\fBraftsnap.yml(5)\fP`)) {
			t.Errorf("%s: SEE ALSO does not name raftsnap.yml(5)", page)
		}
	}
	if _, err := os.Stat(filepath.Join(man, "raftsnap.yml.5")); !os.IsNotExist(err) {
		t.Errorf("raftsnap.yml.5 written without --config-reference (stat: %v)", err)
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

// TestGenDocsConfigManPage renders the committed configuration reference as
// raftsnap.yml(5): a section-5 header, NAME in the form whatis(1) and
// lintian read, every key of the reference, and no Markdown table left
// (tables do not fit a terminal; they become tagged paragraphs).
func TestGenDocsConfigManPage(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600")
	man := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"gen-docs", "--man", man, "--config-reference", "../docs/configuration.md"}, nil, &stdout, &stderr); code != ExitOK {
		t.Fatalf("gen-docs exited %d: %s", code, stderr.String())
	}
	data, err := os.ReadFile(filepath.Join(man, "raftsnap.yml.5"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(data)
	for _, want := range []string{
		"'\\\" t\n",
		`.TH "RAFTSNAP.YML" "5" "Jan 2026"`,
		".SH NAME\nraftsnap.yml \\- ",
		".SH FILES\n",
		".SH SEE ALSO\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("raftsnap.yml.5 lacks %q", want)
		}
	}
	if !strings.HasPrefix(page, "'\\\" t\n") {
		t.Error("the tbl hint is not the first line")
	}
	for _, key := range []string{"logging.level", "control.sockpath", "shutdown_timeout", "on_cluster_change", "allow_overwrite", "token_env", "tls.ca_file", "last_n", "calendar"} {
		if !strings.Contains(page, "\\fB"+key+"\\fR") {
			t.Errorf("raftsnap.yml.5 does not describe %s", key)
		}
	}
	for _, bad := range []string{".TS", "For Go code", "](", "|---"} {
		if strings.Contains(page, bad) {
			t.Errorf("raftsnap.yml.5 contains %q", bad)
		}
	}
	if code := Main([]string{"gen-docs", "--config-reference", "../docs/configuration.md", "--completions", t.TempDir()}, nil, &stdout, &stderr); code != ExitUsage {
		t.Errorf("--config-reference without --man exited %d, want %d", code, ExitUsage)
	}
}
