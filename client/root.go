// Package client holds raftsnap's command line: one file per subcommand,
// each an options struct, its flags, and a runX function cobra calls.
package client

import (
	"io"
)

// Main runs the CLI and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return 0
}
