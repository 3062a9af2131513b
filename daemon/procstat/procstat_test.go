package procstat

import (
	"os"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	// A command name with spaces and parentheses, as a process may set.
	line := "4242 (a (b) c) S 17 4240 26791 0 -1 4194304 102 0 0 0 31 7 0 0 20 0 1 0 4082787 3133440 380 18446744073709551615 0\n"
	s, err := Parse([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := Stat{PID: 4242, Comm: "a (b) c", State: "S", PPID: 17, PGRP: 4240, UTime: 31, STime: 7, StartTime: 4082787}
	if s != want {
		t.Errorf("got %+v\nwant %+v", s, want)
	}
	if !s.Live() {
		t.Error("a sleeping process is not live")
	}
	for _, state := range []string{"Z", "X"} {
		if (Stat{State: state}).Live() {
			t.Errorf("state %s is live", state)
		}
	}
	for _, bad := range []string{"", "4242 a b c", "x (sh) S 1 1", "4242 (sh) S 1 1 0", strings.Replace(line, " 31 ", " -31 ", 1)} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) did not fail", bad)
		}
	}
}

func TestReadAndAll(t *testing.T) {
	self, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if self.PID != os.Getpid() || self.PPID != os.Getppid() || !self.Live() || self.StartTime == 0 {
		t.Errorf("this process reads as %+v", self)
	}
	found := false
	for _, s := range All() {
		if s.PID == self.PID && s.StartTime == self.StartTime {
			found = true
		}
	}
	if !found {
		t.Error("All does not list this process")
	}
}
