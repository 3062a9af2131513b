package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// series is the repeated runs of one tool within one row.
type series struct {
	tool    string
	command string
	runs    []result
	note    string
}

func (s *series) seconds() []float64 {
	out := make([]float64, len(s.runs))
	for i, r := range s.runs {
		out[i] = r.wall.Seconds()
	}
	return out
}

func (s *series) peakRSS() int64 {
	var m int64
	for _, r := range s.runs {
		m = max(m, r.maxRSS)
	}
	return m
}

// ratioTo is the median over runs of this tool's time divided by ref's
// time in the same run: runs of one round share the machine's load.
func (s *series) ratioTo(ref *series) (med, lo, hi float64) {
	var rs []float64
	for i := range min(len(s.runs), len(ref.runs)) {
		rs = append(rs, s.runs[i].wall.Seconds()/ref.runs[i].wall.Seconds())
	}
	if len(rs) == 0 {
		return 0, 0, 0
	}
	return median(rs), slices.Min(rs), slices.Max(rs)
}

func mib(b int64) string {
	if b < 1<<20 {
		return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// table renders rows of series with times, throughput and ratio to ref.
func table(w *strings.Builder, rows []*series, ref *series, bytes int64, ratioLabel string) {
	fmt.Fprintf(w, "| tool | median s | min–max s | MB/s (median) | %s (median, min–max) | peak RSS of the process | command |\n", ratioLabel)
	w.WriteString("|---|---|---|---|---|---|---|\n")
	for _, s := range rows {
		secs := s.seconds()
		if len(secs) == 0 {
			fmt.Fprintf(w, "| %s | failed | | | | | `%s` |\n", s.tool, s.command)
			continue
		}
		med := median(secs)
		ratio := "—"
		if ref != nil && s != ref {
			m, lo, hi := s.ratioTo(ref)
			ratio = fmt.Sprintf("%.2fx (%.2f–%.2f)", m, lo, hi)
		} else if s == ref {
			ratio = "1 (reference)"
		}
		rss := "—"
		if p := s.peakRSS(); p > 0 {
			rss = mib(p)
		}
		tool := s.tool
		if s.note != "" {
			tool += " " + s.note
		}
		fmt.Fprintf(w, "| %s | %.2f | %.2f–%.2f | %.0f | %s | %s | `%s` |\n", tool, med, slices.Min(secs), slices.Max(secs),
			float64(bytes)/1e6/med, ratio, rss, s.command)
	}
}
