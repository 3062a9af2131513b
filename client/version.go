package client

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at build time: go build -ldflags "-X github.com/raftsnap/raftsnap/client.version=v1.2.3 -X ...client.commit=abc123"
var (
	version = ""
	commit  = ""
)

// Version is raftsnap's version: the -ldflags value, else the module
// version `go install ...@vX` records, else "devel".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// Commit is the VCS revision raftsnap was built from, if known.
func Commit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

func newVersionCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print raftsnap's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintf(g.stdout, "raftsnap %s (commit %s, %s, %s/%s)\n",
				Version(), Commit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
