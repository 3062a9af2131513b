package retention

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Grid semantics (see docs/retention.md for pictures):
//
// A grid is a list of sections "NxL", newest first. Every bucket boundary
// is a multiple of its section's length L counted from a fixed origin,
// Monday 1970-01-05 00:00 UTC: 1h buckets start on the hour, 1d buckets at
// midnight UTC, 1w buckets on Monday 00:00 UTC. Buckets do not move when
// time passes, so a snapshot stays in the same bucket as the grid slides
// over it, and jitter in the snapshot schedule cannot make two snapshots
// swap places and lose one, as zrepl's now-relative buckets do.
//
// Bucket 1 of the first section is the period that contains the anchor
// (the newest verified snapshot not in the future); the section then walks
// back N buckets. Each later section starts where the previous one ended:
// its bucket 1 is the period of length L that contains the instant just
// before that edge (cut at the edge, so it may be partial), and it walks
// back N buckets. Verified snapshots older than the last section are not
// kept by the grid.
//
// In each bucket the grid keeps the NEWEST verified snapshot (zrepl keeps
// the oldest, which destroys the snapshot just taken when the schedule
// jitters); a (keep=all) section keeps every verified snapshot in it. When
// each section's length is a multiple of the previous one's (1h, 1d, 30d),
// pruning after every snapshot leaves exactly what pruning the full
// history once would: the newest snapshot of each bucket is never
// destroyed on the way.

// gridOrigin is Monday 1970-01-05 00:00:00 UTC in Unix seconds.
const gridOrigin = 4 * 86400

// Limits keep the arithmetic far from overflow; no real policy nears them.
const (
	maxGridCount   = 1_000_000
	maxGridValue   = 1_000_000
	maxGridSeconds = 10_000 * 366 * 86400 // 10,000 years
)

var gridUnits = map[byte]int64{'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 7 * 86400}

type gridSection struct {
	count   int64
	value   int64 // the length as written, in unit
	unit    byte
	length  int64 // seconds
	keepAll bool
	text    string // normalized, e.g. "24x1h" or "1x1h(keep=all)"
}

type grid struct{ sections []gridSection }

// GridError is a grid specification error at a position.
type GridError struct {
	Spec string
	// Pos is the 1-based character (not byte) position in Spec where the
	// problem is, so a caller can add it to the YAML column of the value.
	Pos int
	Msg string
}

func (e *GridError) Error() string {
	return fmt.Sprintf("grid %q: position %d: %s", e.Spec, e.Pos, e.Msg)
}

// gridParser walks the spec byte by byte; only ASCII is valid syntax.
type gridParser struct {
	spec string
	off  int
}

func (p *gridParser) errorf(off int, format string, args ...any) error {
	return &GridError{Spec: p.spec, Pos: utf8.RuneCountInString(p.spec[:off]) + 1, Msg: fmt.Sprintf(format, args...)}
}

func (p *gridParser) skipSpace() {
	for p.off < len(p.spec) && (p.spec[p.off] == ' ' || p.spec[p.off] == '\t') {
		p.off++
	}
}

// found describes what is at off for an error message.
func (p *gridParser) found(off int) string {
	if off >= len(p.spec) {
		return "the end"
	}
	end := off
	for end < len(p.spec) && p.spec[end] != ' ' && p.spec[end] != '|' {
		end++
	}
	if end == off {
		end = off + 1
	}
	return strconv.Quote(p.spec[off:end])
}

func (p *gridParser) number(what, example string) (int64, int, error) {
	start := p.off
	for p.off < len(p.spec) && p.spec[p.off] >= '0' && p.spec[p.off] <= '9' {
		p.off++
	}
	if p.off == start {
		return 0, start, p.errorf(start, "expected %s (a whole number, as in %s), found %s", what, example, p.found(start))
	}
	n, err := strconv.ParseInt(p.spec[start:p.off], 10, 64)
	if err != nil || n > maxGridCount {
		return 0, start, p.errorf(start, "%s %s is too large (at most %d)", what, p.spec[start:p.off], maxGridCount)
	}
	return n, start, nil
}

func (p *gridParser) literal(word string) bool {
	if strings.HasPrefix(p.spec[p.off:], word) {
		p.off += len(word)
		return true
	}
	return false
}

func (p *gridParser) section() (gridSection, error) {
	var s gridSection
	p.skipSpace()
	if p.off == len(p.spec) || p.spec[p.off] == '|' {
		return s, p.errorf(p.off, "empty interval: expected one such as 24x1h")
	}
	count, countAt, err := p.number("a count", "24x1h")
	if err != nil {
		return s, err
	}
	if count < 1 {
		return s, p.errorf(countAt, "count must be at least 1, found %d", count)
	}
	p.skipSpace()
	if !p.literal("x") {
		return s, p.errorf(p.off, "expected \"x\" after the count %d, found %s", count, p.found(p.off))
	}
	p.skipSpace()
	value, valueAt, err := p.number("a length", "1h in 24x1h")
	if err != nil {
		return s, err
	}
	if p.off == len(p.spec) {
		return s, p.errorf(p.off, "expected a unit (s, m, h, d or w) after the length %d", value)
	}
	unit := p.spec[p.off]
	mult, ok := gridUnits[unit]
	if !ok {
		return s, p.errorf(p.off, "unknown unit %s after the length %d: use s, m, h, d or w", p.found(p.off), value)
	}
	p.off++
	if value < 1 {
		return s, p.errorf(valueAt, "length must be positive, found %d%c", value, unit)
	}
	s = gridSection{count: count, value: value, unit: unit, length: value * mult}
	p.skipSpace()
	if p.off < len(p.spec) && p.spec[p.off] == '(' {
		optAt := p.off
		p.off++
		p.skipSpace()
		if !p.literal("keep") {
			return s, p.errorf(p.off, "unknown option %s: the only option is (keep=all)", p.found(p.off))
		}
		p.skipSpace()
		if !p.literal("=") {
			return s, p.errorf(p.off, "expected \"=\" in (keep=all), found %s", p.found(p.off))
		}
		p.skipSpace()
		if !p.literal("all") {
			return s, p.errorf(p.off, "unknown value %s for keep: the only option is (keep=all)", p.found(p.off))
		}
		p.skipSpace()
		if !p.literal(")") {
			return s, p.errorf(p.off, "expected \")\" to close the option opened at position %d, found %s",
				utf8.RuneCountInString(p.spec[:optAt])+1, p.found(p.off))
		}
		s.keepAll = true
		p.skipSpace()
	}
	s.text = fmt.Sprintf("%dx%d%c", s.count, s.value, s.unit)
	if s.keepAll {
		s.text += "(keep=all)"
	}
	return s, nil
}

// ParseGrid parses a zrepl-style grid such as "1x1h(keep=all) | 24x1h |
// 14x1d": sections "NxL" separated by "|", newest first, with lengths in
// s, m, h, d (24h) or w (7d), and an optional "(keep=all)". Errors are
// *GridError values naming the position of the problem.
func ParseGrid(spec string) (Rule, error) {
	p := &gridParser{spec: spec}
	if strings.TrimSpace(spec) == "" {
		return nil, &GridError{Spec: spec, Pos: 1, Msg: "grid is empty: write intervals such as 1x1h(keep=all) | 24x1h | 14x1d"}
	}
	var g grid
	var total int64
	for {
		p.skipSpace()
		start := p.off
		s, err := p.section()
		if err != nil {
			return nil, err
		}
		// count, value <= 1e6 and unit <= 1w: the products fit easily.
		if span := s.count * s.length; span > maxGridSeconds || total+span > maxGridSeconds {
			return nil, p.errorf(start, "the grid spans more than 10000 years")
		} else {
			total += span
		}
		g.sections = append(g.sections, s)
		if p.off == len(p.spec) {
			return &g, nil
		}
		if p.spec[p.off] != '|' {
			return nil, p.errorf(p.off, "unexpected %s after %s: separate intervals with \"|\"", p.found(p.off), s.text)
		}
		p.off++
	}
}

func (g *grid) String() string {
	texts := make([]string, len(g.sections))
	for i, s := range g.sections {
		texts[i] = s.text
	}
	return "grid " + strings.Join(texts, " | ")
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// clampUnix keeps timestamps from any year time.Time can hold well inside
// int64 arithmetic; no real snapshot is within centuries of the bounds.
func clampUnix(sec int64) int64 {
	const limit = 1 << 60
	return max(-limit, min(limit, sec))
}

// gridBounds is one section laid over time: bucket number b (1-based)
// covers the period with index top-b+1; the section holds every second
// >= low (and below the previous section's low).
type gridBounds struct {
	top int64
	low int64
}

func (g *grid) bounds(anchor int64) []gridBounds {
	b := make([]gridBounds, len(g.sections))
	edge := anchor + 1 // first section: the period holding the anchor
	for i, s := range g.sections {
		top := floorDiv(edge-1-gridOrigin, s.length)
		b[i] = gridBounds{top: top, low: (top-s.count+1)*s.length + gridOrigin}
		edge = b[i].low
	}
	return b
}

// keep walks the snapshots by time, so that each bucket's snapshots come
// together, and keeps the newest (in the newest-first order) of each
// bucket, or all of a (keep=all) section's.
func (g *grid) keep(v *view, mark func(int, string)) {
	if len(v.present) == 0 {
		return
	}
	bounds := g.bounds(clampUnix(v.anchor.Unix()))
	section := 0
	best, bestBucket := -1, int64(-1) // the newest snapshot of the bucket being walked
	flush := func() {
		if best >= 0 {
			mark(best, fmt.Sprintf("grid bucket %d of %s", bestBucket, g.sections[section].text))
		}
		best, bestBucket = -1, -1
	}
	for _, i := range v.byTime {
		if !v.snapshot(i).Verified {
			continue
		}
		sec := clampUnix(v.when(i).Unix())
		for section < len(bounds) && sec < bounds[section].low {
			flush()
			section++
		}
		if section == len(bounds) {
			return // older than the grid
		}
		s, b := g.sections[section], bounds[section]
		bucket := b.top - floorDiv(sec-gridOrigin, s.length) + 1
		switch {
		case s.keepAll:
			mark(i, fmt.Sprintf("grid bucket %d of %s", bucket, s.text))
		case bucket == bestBucket:
			best = min(best, i)
		default:
			flush()
			best, bestBucket = i, bucket
		}
	}
	flush()
}
