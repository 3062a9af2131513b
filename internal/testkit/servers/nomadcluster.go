package servers

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/raftsnap/raftsnap/daemon/drill/loopback"
)

// StartNomadCluster starts n Nomad servers for the test (no clients),
// joined on their serf ports, waits until they elected a leader and have
// their keyring, and kills them when the test ends.
func StartNomadCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	return startCluster(t, "nomad", n, func(i int, dir string, ports, serfPorts []int) ([]string, error) {
		server := fmt.Sprintf(`  bootstrap_expect = %d
  server_join {
    retry_join     = [%s]
    retry_interval = "1s"
  }
`, n, quoted(serfPorts))
		// ports are HTTP, serf, RPC: Nomad's order is HTTP, RPC, serf.
		hcl := fmt.Sprintf("name = \"raftsnap-ha-%d\"\n", i) + loopback.Nomad(filepath.Join(dir, "data"), ports[0], ports[2], ports[1], server)
		configFile := filepath.Join(dir, "nomad.hcl")
		return []string{"agent", "-config=" + configFile}, os.WriteFile(configFile, []byte(hcl), 0o600)
	})
}
