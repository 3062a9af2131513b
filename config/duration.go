package config

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// ParseDuration parses a duration: Go's syntax ("90s", "1h30m", "1.5h",
// units ns, us, µs, ms, s, m, h) plus d (24 hours) and w (7 days), e.g.
// "1d12h" or "2w". A leading sign is accepted; callers decide whether a
// negative or zero value makes sense. "0" needs no unit.
func ParseDuration(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %s: %w", quote(s), err)
	}
	return d, nil
}

var errDurationSyntax = errors.New("use a number with a unit, e.g. 5m, 1h, 2d")

func parseDuration(s string) (time.Duration, error) {
	rest := s
	negative := false
	if rest != "" && (rest[0] == '-' || rest[0] == '+') {
		negative = rest[0] == '-'
		rest = rest[1:]
	}
	if rest == "0" {
		return 0, nil
	}
	if rest == "" {
		return 0, errDurationSyntax
	}
	var total time.Duration
	for rest != "" {
		// One component: a number then a unit.
		i := 0
		for i < len(rest) && (rest[i] == '.' || ('0' <= rest[i] && rest[i] <= '9')) {
			i++
		}
		number := rest[:i]
		if number == "" || number == "." {
			return 0, errDurationSyntax
		}
		j := i
		for j < len(rest) && rest[j] != '.' && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		unit := rest[i:j]
		rest = rest[j:]

		var part time.Duration
		switch unit {
		case "d", "w":
			hours, err := time.ParseDuration(number + "h")
			if err != nil {
				return 0, durationError(number)
			}
			factor := time.Duration(24)
			if unit == "w" {
				factor = 24 * 7
			}
			if hours > math.MaxInt64/factor {
				return 0, errDurationTooLarge
			}
			part = hours * factor
		case "ns", "us", "µs", "μs", "ms", "s", "m", "h":
			var err error
			if part, err = time.ParseDuration(number + unit); err != nil {
				return 0, durationError(number)
			}
		case "":
			return 0, errDurationSyntax
		default:
			if strings.ContainsAny(unit, " \t") {
				return 0, errDurationSyntax
			}
			return 0, fmt.Errorf("unknown unit %s: use ns, us, ms, s, m, h, d (days) or w (weeks)", quote(unit))
		}
		if total > math.MaxInt64-part {
			return 0, errDurationTooLarge
		}
		total += part
	}
	if negative {
		total = -total
	}
	return total, nil
}

var errDurationTooLarge = errors.New("too large (at most about 292 years)")

var numberPattern = regexp.MustCompile(`^([0-9]+\.?[0-9]*|\.[0-9]+)$`)

// durationError explains why time.ParseDuration refused a component whose
// unit we know: a well-formed number it refuses can only be too large.
// (Its own message quotes the input again and speaks of "time".)
func durationError(number string) error {
	if numberPattern.MatchString(number) {
		return errDurationTooLarge
	}
	return errDurationSyntax
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d the way ParseDuration reads it back, without zero
// parts: "2w", "1d12h", "1h30m", "90ms". Negative and sub-second values
// use time.Duration's form.
func (d Duration) String() string {
	td := time.Duration(d)
	if td < 0 && td != math.MinInt64 {
		return "-" + Duration(-td).String()
	}
	if td <= 0 || td%time.Second != 0 {
		return td.String()
	}
	var b strings.Builder
	for _, u := range []struct {
		name string
		size time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := td / u.size; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			td -= n * u.size
		}
	}
	return b.String()
}

// MarshalText writes d in ParseDuration's syntax (used by yaml and json).
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads ParseDuration's syntax, so a Duration also decodes
// from JSON or plain yaml.Unmarshal outside Parse.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
