package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "1s", "1h30m", "1d12h", "2w", "1.5d", "-5m", "+3h", ".5h", "5 minutes",
		"3y", "99999999999w", "1e3s", "", "h", "1..2h", "µs", "1µs2ns", "9223372036854775807ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid duration ") {
				t.Fatalf("error without the usual prefix: %v", err)
			}
			return
		}
		// What String prints must read back as the same value.
		back, err := ParseDuration(Duration(d).String())
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v; String %q reads back as %v, %v", s, d, Duration(d).String(), back, err)
		}
		// Where Go reads the string too, both must agree.
		if goD, goErr := time.ParseDuration(s); goErr == nil && goD != d {
			t.Fatalf("ParseDuration(%q) = %v, time.ParseDuration = %v", s, d, goD)
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/good", "testdata/bad"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "fuzz.yml")
		if err == nil {
			if cfg == nil || len(cfg.Jobs) == 0 {
				t.Fatal("nil error but no usable config")
			}
			return
		}
		var list *Errors
		if !errors.As(err, &list) || len(list.List) == 0 {
			t.Fatalf("error is %T, want *Errors: %v", err, err)
		}
		for _, e := range list.List {
			if !strings.HasPrefix(e.Error(), "fuzz.yml") || e.Msg == "" {
				t.Fatalf("malformed error line: %q", e.Error())
			}
			if strings.Contains(e.Msg, "internal error") {
				t.Fatalf("decoder hit an internal error: %v", e)
			}
		}
	})
}
