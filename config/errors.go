package config

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a configuration file. It prints as
//
//	raftsnap.yml:14:9: jobs[1].interval: invalid duration "5 minutes": use a number with a unit, e.g. 5m, 1h, 2d
//
// Line and Column are 1-based; 0 means unknown (the part is then left out).
// Path is the YAML path in user words ("jobs[2].pruning.keep[0].grid"),
// empty for problems with the file as a whole.
type Error struct {
	File   string
	Line   int
	Column int
	Path   string
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a configuration, in file order. Its
// message has one line per problem.
type Errors struct {
	List []*Error
}

func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, err := range e.List {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find a single *Error.
func (e *Errors) Unwrap() []error {
	errs := make([]error, len(e.List))
	for i, err := range e.List {
		errs[i] = err
	}
	return errs
}

func (e *Errors) add(err *Error) { e.List = append(e.List, err) }

// sorted orders the list by position; problems without a position (the
// file as a whole) come first. Equal positions keep the order found.
func (e *Errors) sort() {
	sort.SliceStable(e.List, func(i, j int) bool {
		a, b := e.List[i], e.List[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// quote quotes a user's value for an error message, cut short so a pasted
// blob cannot flood the output.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		return fmt.Sprintf("%q...", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}
