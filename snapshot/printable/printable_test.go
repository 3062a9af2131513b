package printable

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	cases := []struct{ in, want string }{
		{"consul-main-20261122T051000Z-42.snap", "consul-main-20261122T051000Z-42.snap"},
		{"naïve café ✓", "naïve café ✓"},
		{"srv\x1b]0;pwned\x07", `srv\x1b]0;pwned\a`},
		{"\x1b[2J\x1b[Hfake prompt", `\x1b[2J\x1b[Hfake prompt`},
		{"a\nb\tc\rd", "a b c d"},
		{"\u009b31m", `\u009b31m`},
		{"del\x7f", `del\x7f`},
		{"bad \xff utf8", `bad \xff utf8`},
		{"evil\u202etxt.exe", `evil\u202etxt.exe`},
	}
	for _, c := range cases {
		if got := String(c.in); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzString(f *testing.F) {
	f.Add("\x1b[31mred")
	f.Add("plain")
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		for _, r := range out {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x202e {
				t.Fatalf("String(%q) = %q still holds %U", s, out, r)
			}
		}
		if allSafe(s) && out != s {
			t.Fatalf("String(%q) changed safe text to %q", s, out)
		}
		if strings.ContainsRune(out, '\x1b') {
			t.Fatalf("escape left in %q", out)
		}
	})
}

func TestStrings(t *testing.T) {
	type run struct {
		Error    string
		Warnings []string
	}
	type report struct {
		Name    string
		Last    *run
		History []run
		Headers map[string]string
		Count   int
	}
	r := &report{
		Name:    "ok",
		Last:    &run{Error: "boom\x1b[2J"},
		History: []run{{Warnings: []string{"\x1b]0;x\x07"}}},
		Headers: map[string]string{"X-\x1bKey": "v\x1b"},
		Count:   3,
	}
	Strings(r)
	if r.Last.Error != `boom\x1b[2J` || r.History[0].Warnings[0] != `\x1b]0;x\a` || r.Name != "ok" || r.Count != 3 {
		t.Fatalf("after Strings: %+v %+v %+v", r, *r.Last, r.History)
	}
	if r.Headers[`X-\x1bKey`] != `v\x1b` || len(r.Headers) != 1 {
		t.Fatalf("map after Strings: %q", r.Headers)
	}
}
