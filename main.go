// Command raftsnap takes periodic, verified snapshots of Raft-based systems.
package main

import (
	"os"

	"github.com/raftsnap/raftsnap/client"
)

func main() {
	os.Exit(client.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
