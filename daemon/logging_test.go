package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/raftsnap/raftsnap/config"
)

// journalFile returns a file standing in for the journal stream, and the
// JOURNAL_STREAM value systemd would set for it.
func journalFile(t *testing.T) (*os.File, string) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "journal"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	return f, fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

func logLines(t *testing.T, logging config.Logging, stderr *os.File) []string {
	t.Helper()
	logger, closer, err := NewLogger(logging, os.Stdout, stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	logger.Debug("d", "job", "j", "run", "r1")
	logger.Info("i", "job", "j", "run", "r1")
	logger.Warn("w")
	logger.Error("e", "err", "multi\nline")
	data, err := os.ReadFile(stderr.Name())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func TestJournaldFormatWhenFormatUnset(t *testing.T) {
	f, stream := journalFile(t)
	t.Setenv("JOURNAL_STREAM", stream)
	got := logLines(t, config.Logging{Level: "debug", Format: "text", Output: "stderr"}, f)
	want := []string{
		`<7>level=DEBUG msg=d job=j run=r1`,
		`<6>level=INFO msg=i job=j run=r1`,
		`<4>level=WARN msg=w`,
		`<3>level=ERROR msg=e err="multi\nline"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("journald lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestJournaldFormatNotUsed(t *testing.T) {
	for _, c := range []struct {
		name    string
		logging config.Logging
		stream  func(real string) string
	}{
		{"JOURNAL_STREAM names another stream", config.Logging{Level: "info", Format: "text", Output: "stderr"},
			func(string) string { return "1:1" }},
		{"JOURNAL_STREAM malformed", config.Logging{Level: "info", Format: "text", Output: "stderr"},
			func(string) string { return "journal" }},
		{"not under systemd", config.Logging{Level: "info", Format: "text", Output: "stderr"},
			func(string) string { return "" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, stream := journalFile(t)
			t.Setenv("JOURNAL_STREAM", c.stream(stream))
			lines := logLines(t, c.logging, f)
			if len(lines) != 3 {
				t.Fatalf("want 3 lines at level info, got %q", lines)
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, "time=") {
					t.Errorf("want the plain text format with a timestamp, got %q", l)
				}
			}
		})
	}
}

// TestJournaldPriorityWithExplicitFormat: a format set in the file keeps
// its timestamps, and under journald every line still carries its
// priority, so that journalctl -p warning works whatever the format.
func TestJournaldPriorityWithExplicitFormat(t *testing.T) {
	for _, format := range []string{"text", "logfmt", "json"} {
		t.Run(format, func(t *testing.T) {
			f, stream := journalFile(t)
			t.Setenv("JOURNAL_STREAM", stream)
			lines := logLines(t, config.Logging{Level: "info", Format: format, Output: "stderr", FormatExplicit: true}, f)
			want := []string{"<6>", "<4>", "<3>"}
			if len(lines) != len(want) {
				t.Fatalf("lines: %q", lines)
			}
			for i, l := range lines {
				rest, ok := strings.CutPrefix(l, want[i])
				if !ok {
					t.Errorf("line %d %q lacks the priority %s", i, l, want[i])
				}
				if !strings.Contains(rest, "time") {
					t.Errorf("line %d %q lost its timestamp although the format was set", i, l)
				}
			}
		})
	}
}

func TestConfigRecordsWhetherFormatWasSet(t *testing.T) {
	dir := t.TempDir()
	base := "jobs:\n  - {name: p, type: prune, store: {path: " + dir + "}, interval: 1h, pruning: {keep: [{last_n: {count: 1}}]}}\n"
	unset, err := config.Parse([]byte(base), "a.yml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := config.Parse([]byte("global: {logging: {format: text}}\n"+base), "b.yml")
	if err != nil {
		t.Fatal(err)
	}
	if unset.Global.Logging.FormatExplicit || !set.Global.Logging.FormatExplicit {
		t.Errorf("FormatExplicit: unset file %v, file with format: text %v", unset.Global.Logging.FormatExplicit, set.Global.Logging.FormatExplicit)
	}
}
