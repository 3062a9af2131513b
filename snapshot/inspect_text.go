package snapshot

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/raftsnap/raftsnap/snapshot/printable"
	"github.com/raftsnap/raftsnap/snapshot/statebin"
)

// createdLayout is RFC 3339 with the milliseconds the snapshot ID carries.
const createdLayout = "2006-01-02T15:04:05.000Z07:00"

// WriteText renders the inspection as aligned human-readable tables.
//
// Everything in it came from the archive, so every string is made
// printable first: a server ID holding a terminal escape sequence must not
// reach the terminal raw.
func (ins *Inspection) WriteText(w io.Writer) error {
	safe := *ins
	ins = &safe
	ins.Servers = append([]InspectServer(nil), safe.Servers...)
	printable.Strings(ins)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }

	row("ID", ins.ID)
	if ins.CreatedAt != nil {
		row("Created", ins.CreatedAt.Format(createdLayout))
	}
	row("Index", fmt.Sprint(ins.Index))
	row("Term", fmt.Sprint(ins.Term))
	row("Version", fmt.Sprint(ins.Version))
	row("State size", exactSize(ins.Size))
	row("Archive", ins.Path)
	row("Archive size", exactSize(ins.ArchiveBytes))
	row("Archive SHA-256", ins.ArchiveSHA256)
	verified := "yes"
	if ins.Sealed {
		verified = "yes (with SHA256SUMS.sealed)"
	}
	row("Verified", verified)
	row("Flavor", string(ins.Flavor))
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(tw, "\nConfiguration (index %d)\n", ins.ConfigurationIndex)
	if len(ins.Servers) == 0 {
		row("  (no servers recorded)")
	} else {
		row("  ID", "Address", "Suffrage")
		for _, s := range ins.Servers {
			row("  "+s.ID, s.Address, s.Suffrage)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(tw, "\nMembers")
	row("  Name", "Size", "SHA-256")
	for _, m := range ins.Members {
		row("  "+m.Name, sizeText(m.Size), m.SHA256)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if ins.State == nil {
		if ins.StateError != "" {
			fmt.Fprintf(tw, "\nState: not decoded (%s)\n", ins.StateError)
		}
		return tw.Flush()
	}
	st := ins.State
	title := fmt.Sprintf("\nState (%s", st.Flavor)
	if st.Header.HasLastIndex {
		title += fmt.Sprintf(", last index %d", st.Header.LastIndex)
	}
	title += ")"
	fmt.Fprintln(tw, title)
	// Numbers read best right-aligned; AlignRight applies to every column,
	// so the name column is padded to one width by hand.
	nw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if err := tw.Flush(); err != nil {
		return err
	}
	nrow := func(name string, cells ...string) {
		fmt.Fprintf(nw, "%s\t%s\t\n", padRight(name, nameWidth(st.Types)), strings.Join(cells, "\t"))
	}
	nrow("Type", "Count", "Size", "Share")
	total := st.TotalBytes
	for _, t := range st.Types {
		name := t.Name
		if t.Ignorable && t.Known {
			name += " (ignorable)"
		}
		nrow(name, fmt.Sprint(t.Count), sizeText(t.Bytes), share(t.Bytes, total))
	}
	nrow("(header)", "", sizeText(st.Header.Bytes), share(st.Header.Bytes, total))
	nrow("Total", fmt.Sprint(st.Records), sizeText(total), share(total, total))
	if err := nw.Flush(); err != nil {
		return err
	}
	if st.UnknownRecords > 0 {
		_, err := fmt.Fprintf(w, "  Records of unknown types: %d (written by a newer or enterprise server)\n", st.UnknownRecords)
		return err
	}
	return nil
}

func nameWidth(types []statebin.TypeStats) int {
	width := len("(header)")
	for _, t := range types {
		n := len(t.Name)
		if t.Ignorable && t.Known {
			n += len(" (ignorable)")
		}
		width = max(width, n)
	}
	return width
}

func padRight(s string, width int) string {
	return s + strings.Repeat(" ", max(0, width-len(s)))
}

func share(part, total int64) string {
	if total <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(total))
}

// exactSize gives a size in IEC units followed by the exact byte count.
func exactSize(n int64) string {
	if n < 1024 {
		return sizeText(n)
	}
	return fmt.Sprintf("%s (%d bytes)", sizeText(n), n)
}

// sizeText gives a size in IEC units.
func sizeText(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, 0
	for v >= 1024 && unit < len(units)-1 {
		v /= 1024
		unit++
	}
	return fmt.Sprintf("%.1f %ciB", v, units[unit])
}
