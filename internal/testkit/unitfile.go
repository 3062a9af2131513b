package testkit

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// ParseUnit reads a systemd unit file: each key's values, in file order,
// whatever their section. Comments and blank lines are skipped; a line
// that is not key=value, or one continued with a backslash, fails the test.
func ParseUnit(t testing.TB, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a key=value line: %q", path, line)
		}
		if strings.HasSuffix(value, `\`) {
			t.Fatalf("%s: continued lines are not supported here: %q", path, line)
		}
		settings[key] = append(settings[key], value)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return settings
}
