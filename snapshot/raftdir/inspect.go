package raftdir

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/printable"
)

// Inspection describes a raft directory: every snapshot with its checks,
// the log store and its range, and what Save would archive.
type Inspection struct {
	Dir Dir     `json:"dir"`
	Log LogInfo `json:"log"`
	// Snapshots are the snapshot directories, newest first, each checked
	// (meta.json, size, CRC-64 of state.bin); at most 64 are listed, the
	// newest, and Omitted counts the others.
	Snapshots []Snapshot `json:"snapshots"`
	Omitted   int        `json:"omitted,omitempty"`
	// Temporary names the .tmp directories (snapshots being written when
	// the server stopped), which are ignored; at most 16 names,
	// TemporaryCount counts them all.
	Temporary      []string `json:"temporary,omitempty"`
	TemporaryCount int      `json:"temporary_count,omitempty"`
	// Selected names the snapshot Save would archive ("" when none is
	// intact), and LogLag how far it lags the log.
	Selected string           `json:"selected,omitempty"`
	LogLag   *snapshot.LogLag `json:"log_lag,omitempty"`
}

// Inspect locates the raft directory at or below path (see Locate), opens
// its log store read-only (refusing a running server, as Save does) and
// checks every listed snapshot, reading each state.bin once. Damaged
// snapshots are reported in the Inspection, not as an error.
func Inspect(ctx context.Context, path string, opts Options) (*Inspection, error) {
	d, log, l, err := open(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	ins := &Inspection{Dir: d, Log: log.info, Snapshots: l.snapshots, Omitted: l.omitted,
		Temporary: l.temporary, TemporaryCount: l.tmpCount}
	if ins.Snapshots == nil {
		ins.Snapshots = []Snapshot{}
	}
	for i := range ins.Snapshots {
		s := &ins.Snapshots[i]
		if err := check(ctx, s); err != nil && ctx.Err() != nil {
			return nil, err
		}
		if s.Status == StatusOK && ins.Selected == "" {
			ins.Selected = s.Name
			lag := snapshot.NewLogLag(log.info.Store, s.Index, log.info.FirstIndex, log.info.LastIndex)
			ins.LogLag = &lag
		}
	}
	return ins, nil
}

// WriteText prints the inspection for a terminal.
func (ins *Inspection) WriteText(w io.Writer) error {
	var b strings.Builder
	raft := printable.String(ins.Dir.Raft)
	if ins.Dir.Raft != ins.Dir.Given {
		raft += fmt.Sprintf(" (in %s, read as %s)", printable.String(ins.Dir.Given), ins.Dir.Layout)
	}
	fmt.Fprintf(&b, "Raft directory:  %s\n", raft)
	switch ins.Log.Store {
	case LogStoreNone:
		fmt.Fprintf(&b, "Log store:       none (no %s or %s/)\n", BoltFile, WALDir)
	default:
		r := "empty"
		if ins.Log.LastIndex > 0 {
			r = fmt.Sprintf("indexes %d to %d", ins.Log.FirstIndex, ins.Log.LastIndex)
		}
		fmt.Fprintf(&b, "Log store:       %s (%s), %s\n", ins.Log.Store, printable.String(ins.Log.Path), r)
	}
	fmt.Fprintf(&b, "Snapshots:       %d", len(ins.Snapshots)+ins.Omitted)
	if ins.Omitted > 0 {
		fmt.Fprintf(&b, " (the newest %d listed)", len(ins.Snapshots))
	}
	b.WriteString("\n")
	if len(ins.Snapshots) > 0 {
		b.WriteString("\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  NAME\tTERM\tINDEX\tSIZE\tCREATED\tCRC-64\tSTATUS")
		for _, s := range ins.Snapshots {
			created, size, crc := "-", "-", s.CRC
			if !s.Created.IsZero() {
				created = s.Created.Format(time.RFC3339)
			}
			if s.Status != StatusBadName && s.Status != StatusInvalidMeta {
				size = humanize.IBytes(uint64(s.Size))
			}
			if crc == "" {
				crc = "-"
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\t%s\t%s\n", printable.String(s.Name), s.Term, s.Index, size, created, crc, s.Status)
		}
		tw.Flush()
		for _, s := range ins.Snapshots {
			if s.Problem != "" {
				fmt.Fprintf(&b, "  ! %s\n", printable.String(s.Problem))
			}
		}
		b.WriteString("\n")
	}
	if ins.TemporaryCount > 0 {
		fmt.Fprintf(&b, "Ignored:         %d unfinished .tmp snapshot directories: %s\n", ins.TemporaryCount, printable.String(strings.Join(ins.Temporary, ", ")))
	}
	if ins.Selected == "" {
		b.WriteString("Save would fail: no intact snapshot\n")
	} else {
		fmt.Fprintf(&b, "Save would archive %s: %s\n", printable.String(ins.Selected), ins.LogLag)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
