// Package printable makes text that came from outside (a server's error
// page, a snapshot's server IDs, a file name) safe to print on a terminal:
// control characters, including the escape that starts a terminal control
// sequence, are shown as Go-style escapes instead of being sent raw.
package printable

import (
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String returns s with every rune a terminal could act on escaped: C0 and
// C1 controls (ESC among them), DEL, invalid UTF-8 and the bidirectional
// overrides that reorder what is shown. Printable text, spaces included,
// is unchanged; tabs, newlines and other whitespace controls become plain
// spaces, since callers print one field per line (a newline in a server's
// message must not forge a line of the report).
func String(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f':
			b.WriteByte(' ')
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[i]), 16))
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			return allSafe(s)
		}
	}
	return true
}

func allSafe(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || unsafeRune(r) {
			return false
		}
	}
	return true
}

func unsafeRune(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f:
		return true // bidirectional embeddings, overrides and isolates
	}
	return false
}

// Strings makes every string reachable from v printable in place (v is a
// pointer to a struct, slice or map): for a whole report that is rendered
// field by field, so that no field can be forgotten.
func Strings(v any) {
	walk(reflect.ValueOf(v))
}

func walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				walk(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walk(v.Index(i))
		}
	case reflect.Map:
		iter := v.MapRange()
		fixed := map[reflect.Value]reflect.Value{}
		for iter.Next() {
			k, e := iter.Key(), reflect.New(iter.Value().Type()).Elem()
			e.Set(iter.Value())
			walk(e)
			if k.Kind() == reflect.String && String(k.String()) != k.String() {
				v.SetMapIndex(k, reflect.Value{})
				k = reflect.ValueOf(String(k.String())).Convert(k.Type())
			}
			fixed[k] = e
		}
		for k, e := range fixed {
			v.SetMapIndex(k, e)
		}
	case reflect.String:
		if v.CanSet() {
			v.SetString(String(v.String()))
		}
	}
}
