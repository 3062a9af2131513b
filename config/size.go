package config

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// Size is a byte count written as "10GiB", "500MB" or "1048576" in YAML.
type Size int64

// sizeUnits are the accepted units: binary (KiB = 1024) and decimal (KB =
// 1000), as operators read them on disks and in dashboards. Bare K/M/G are
// refused: whether they mean 1000 or 1024 is exactly the doubt to avoid.
var sizeUnits = map[string]int64{
	"":    1,
	"B":   1,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
}

var errSizeSyntax = errors.New("use a whole or decimal number with a unit, e.g. 512MiB, 10GiB or 2TB")

// ParseSize parses a size: a number, optionally with a fraction, then one
// of B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of
// 1000), optionally separated by one space. A bare number is bytes.
func ParseSize(s string) (int64, error) {
	n, err := parseSize(s)
	if err != nil {
		return 0, fmt.Errorf("invalid size %s: %w", quote(s), err)
	}
	return n, nil
}

func parseSize(s string) (int64, error) {
	i := 0
	for i < len(s) && (s[i] == '.' || ('0' <= s[i] && s[i] <= '9')) {
		i++
	}
	number, unit := s[:i], strings.TrimPrefix(s[i:], " ")
	if !numberPattern.MatchString(number) {
		return 0, errSizeSyntax
	}
	factor, ok := sizeUnits[unit]
	if !ok {
		if strings.EqualFold(unit, "k") || strings.EqualFold(unit, "m") || strings.EqualFold(unit, "g") || strings.EqualFold(unit, "t") {
			return 0, fmt.Errorf("unit %s is ambiguous: write %siB (powers of 1024) or %sB (powers of 1000)", quote(unit), strings.ToUpper(unit), strings.ToUpper(unit))
		}
		return 0, fmt.Errorf("unknown unit %s: use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB", quote(unit))
	}
	// Exact arithmetic: "1.5GiB" is 1610612736 bytes, not a float's guess.
	value, ok := new(big.Rat).SetString(number)
	if !ok {
		return 0, errSizeSyntax
	}
	value.Mul(value, new(big.Rat).SetInt64(factor))
	if !value.IsInt() {
		return 0, fmt.Errorf("%s is not a whole number of bytes", quote(s))
	}
	if value.Num().Cmp(big.NewInt(math.MaxInt64)) > 0 {
		return 0, errors.New("too large (at most about 8 EiB)")
	}
	return value.Num().Int64(), nil
}

// Bytes is the size as a byte count.
func (s Size) Bytes() int64 { return int64(s) }

// String writes the size in the largest binary unit dividing it exactly.
func (s Size) String() string {
	for _, u := range []string{"TiB", "GiB", "MiB", "KiB"} {
		if f := sizeUnits[u]; int64(s) >= f && int64(s)%f == 0 {
			return fmt.Sprintf("%d%s", int64(s)/f, u)
		}
	}
	return fmt.Sprintf("%dB", int64(s))
}

// MarshalText writes the size as String does, so a dumped configuration
// reads back.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses the forms ParseSize accepts.
func (s *Size) UnmarshalText(text []byte) error {
	n, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}
