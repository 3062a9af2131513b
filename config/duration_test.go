package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"0":        0,
		"90s":      90 * time.Second,
		"1h30m":    90 * time.Minute,
		"1.5h":     90 * time.Minute,
		"1d":       24 * time.Hour,
		"1d12h":    36 * time.Hour,
		"1.5d":     36 * time.Hour,
		"2w":       14 * 24 * time.Hour,
		"1w1d1h":   (7*24 + 24 + 1) * time.Hour,
		"-5m":      -5 * time.Minute,
		"250ms":    250 * time.Millisecond,
		"3µs":      3 * time.Microsecond,
		"15250w":   15250 * 7 * 24 * time.Hour,
		"2562047h": 2562047 * time.Hour,
	}
	for in, want := range good {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":               `invalid duration "": use a number with a unit, e.g. 5m, 1h, 2d`,
		"5":              `invalid duration "5": use a number with a unit, e.g. 5m, 1h, 2d`,
		"5 minutes":      `invalid duration "5 minutes": use a number with a unit, e.g. 5m, 1h, 2d`,
		"3y":             `invalid duration "3y": unknown unit "y": use ns, us, ms, s, m, h, d (days) or w (weeks)`,
		"1..5h":          `invalid duration "1..5h": use a number with a unit, e.g. 5m, 1h, 2d`,
		"99999999999w":   `invalid duration "99999999999w": too large (at most about 292 years)`,
		"200000w200000w": `invalid duration "200000w200000w": too large (at most about 292 years)`,
		"h":              `invalid duration "h": use a number with a unit, e.g. 5m, 1h, 2d`,
	}
	for in, want := range bad {
		if _, err := ParseDuration(in); err == nil || err.Error() != want {
			t.Errorf("ParseDuration(%q) error = %v\nwant %s", in, err, want)
		}
	}
}

func TestDurationString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "0s",
		90 * time.Second:        "1m30s",
		time.Hour:               "1h",
		36 * time.Hour:          "1d12h",
		15 * 24 * time.Hour:     "2w1d",
		-5 * time.Minute:        "-5m",
		1500 * time.Millisecond: "1.5s",
	} {
		if got := Duration(d).String(); got != want {
			t.Errorf("Duration(%v).String() = %q, want %q", d, got, want)
		}
	}
}

// TestAliasExpansionBounded feeds a file whose aliases expand to millions
// of values: it must fail fast with a clear error, not eat memory.
func TestAliasExpansionBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-rules: &rules\n")
	for i := 0; i < 2000; i++ {
		b.WriteString("  - last_n: {count: 1}\n")
	}
	b.WriteString("x-job: &job {name: a, type: prune, interval: 1h, store: {path: /s}, pruning: {keep: *rules}}\njobs:\n")
	for i := 0; i < 2000; i++ {
		b.WriteString("  - *job\n")
	}
	start := time.Now()
	_, err := Parse([]byte(b.String()), "bomb.yml")
	if err == nil || !strings.Contains(err.Error(), "expands into too many values") {
		t.Fatalf("want the expansion error, got %v", err)
	}
	if len(strings.Split(err.Error(), "\n")) != 1 {
		t.Errorf("want exactly one error line, got:\n%s", err)
	}
	t.Logf("rejected in %v", time.Since(start))
}
