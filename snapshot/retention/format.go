package retention

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Counts returns how many decisions keep and destroy.
func Counts(decisions []Decision) (kept, destroyed int) {
	for _, d := range decisions {
		if d.Keep {
			kept++
		} else {
			destroyed++
		}
	}
	return kept, destroyed
}

// WriteTable writes decisions as an aligned, human-readable table, one
// snapshot per line: verdict, creation time (UTC), name, raft term/index,
// verified or not, and the reasons.
func WriteTable(w io.Writer, decisions []Decision) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DECISION\tCREATED\tNAME\tTERM/INDEX\tVERIFIED\tREASONS")
	for _, d := range decisions {
		verdict := "DESTROY"
		if d.Keep {
			verdict = "KEEP"
		}
		verified := "no"
		if d.Snapshot.Verified {
			verified = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", verdict,
			d.Snapshot.Created.UTC().Format(time.RFC3339), d.Snapshot.Name,
			d.Snapshot.Term, d.Snapshot.Index, verified, strings.Join(d.Reasons, "; "))
	}
	return tw.Flush()
}
