package servers

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// StartNomadCluster starts n Nomad servers for the test (no clients),
// joined on their serf ports, waits until they elected a leader, and kills
// them when the test ends.
func StartNomadCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := Binary(t, "nomad")
	c := &Cluster{}
	ports, err := freePorts(3 * n)
	if err != nil {
		t.Fatal(err)
	}
	var joins []string
	for i := range n {
		joins = append(joins, fmt.Sprintf("%q", fmt.Sprintf("127.0.0.1:%d", ports[3*i+2])))
	}
	for i := range n {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("nomad-%d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		httpPort, rpc, serf := ports[3*i], ports[3*i+1], ports[3*i+2]
		dataDir := filepath.Join(dir, "data")
		config := fmt.Sprintf(`
name = "raftsnap-ha-%d"
data_dir = %q
bind_addr = "127.0.0.1"
log_level = "WARN"
disable_update_check = true
advertise {
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}
ports {
  http = %d
  rpc  = %d
  serf = %d
}
server {
  enabled          = true
  bootstrap_expect = %d
  server_join {
    retry_join     = [%s]
    retry_interval = "1s"
  }
}
client { enabled = false }
`, i, dataDir, httpPort, rpc, serf, n, strings.Join(joins, ", "))
		configFile := filepath.Join(dir, "nomad.hcl")
		if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		s := &Server{kind: "nomad", Dir: dir, DataDir: dataDir, Addr: fmt.Sprintf("http://127.0.0.1:%d", httpPort)}
		err := s.start(bin, false, "agent", "-config="+configFile)
		stopAtCleanup(t, s, err)
		c.Servers = append(c.Servers, s)
		c.RPC = append(c.RPC, fmt.Sprintf("127.0.0.1:%d", rpc))
	}
	for _, s := range c.Servers {
		if err := s.waitLeader(); err != nil {
			t.Fatal(err)
		}
		// Snapshots need the keyring the leader creates after winning.
		if err := s.WaitUntil("keyring initialized", StartTimeout, func() bool {
			code, body, err := s.Do(http.MethodGet, "/v1/operator/keyring/keys", "", nil)
			return err == nil && code == http.StatusOK && strings.Contains(string(body), `"active"`)
		}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}
