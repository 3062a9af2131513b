package config

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"0": 0, "512": 512, "1B": 1, "1KiB": 1024, "10GiB": 10 << 30, "1.5GiB": 3 << 29,
		"500MB": 500e6, "2 TB": 2e12, "1TiB": 1 << 40, ".5KiB": 512,
	}
	for in, want := range good {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":           "use a whole or decimal number",
		"GiB":        "use a whole or decimal number",
		"-1MiB":      "use a whole or decimal number",
		"10G":        `unit "G" is ambiguous`,
		"10gib":      `unknown unit "gib"`,
		"1.5B":       "not a whole number of bytes",
		"1..5MiB":    "use a whole or decimal number",
		"9999999TiB": "too large",
		"10  GiB":    `unknown unit " GiB"`,
	}
	for in, want := range bad {
		_, err := ParseSize(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSize(%q) error %v, want it to say %q", in, err, want)
		}
	}
	for _, n := range []int64{0, 1, 1023, 1024, 10 << 30, 1536} {
		var s Size
		text, _ := Size(n).MarshalText()
		if err := s.UnmarshalText(text); err != nil || int64(s) != n {
			t.Errorf("Size(%d) round trip via %q gave %d, %v", n, text, s, err)
		}
	}
}
