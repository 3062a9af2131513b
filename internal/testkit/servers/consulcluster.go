package servers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Cluster is several real Consul or Nomad servers on loopback ports,
// joined into one Raft cluster (-bootstrap-expect=N, retry_join on every
// serf port), each with its own data dir and node name.
type Cluster struct {
	Servers []*Server
	// RPC is each server's raft (server RPC) address, as
	// /v1/status/leader names the leader: 127.0.0.1:PORT.
	RPC []string
}

// StartConsulCluster starts n servers for the test, waits until they
// elected a leader, and kills them when the test ends.
func StartConsulCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := Binary(t, "consul")
	c := &Cluster{}
	ports, err := freePorts(3 * n)
	if err != nil {
		t.Fatal(err)
	}
	var joins []string
	for i := range n {
		joins = append(joins, fmt.Sprintf("%q", fmt.Sprintf("127.0.0.1:%d", ports[3*i+1])))
	}
	for i := range n {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("consul-%d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		http, serf, server := ports[3*i], ports[3*i+1], ports[3*i+2]
		hcl := consulBaseHCL(http, serf, server) + fmt.Sprintf(`retry_join = [%s]
retry_interval = "1s"
log_level = "warn"
`, strings.Join(joins, ", "))
		configFile := filepath.Join(dir, "consul.hcl")
		if err := os.WriteFile(configFile, []byte(hcl), 0o600); err != nil {
			t.Fatal(err)
		}
		s := &Server{kind: "consul", Dir: dir, Addr: fmt.Sprintf("http://127.0.0.1:%d", http), DataDir: filepath.Join(dir, "data")}
		err := s.start(bin, false, "agent", "-server", fmt.Sprintf("-bootstrap-expect=%d", n), "-bind=127.0.0.1", "-client=127.0.0.1",
			"-advertise=127.0.0.1", fmt.Sprintf("-node=raftsnap-ha-%d", i), "-data-dir="+s.DataDir, "-config-file="+configFile)
		stopAtCleanup(t, s, err)
		c.Servers = append(c.Servers, s)
		c.RPC = append(c.RPC, fmt.Sprintf("127.0.0.1:%d", server))
	}
	for _, s := range c.Servers {
		if err := s.waitLeader(); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// Leader is the index of the server the live ones name as leader, -1 when
// none is named (or the answers disagree).
func (c *Cluster) Leader() int {
	found := -1
	for _, s := range c.Servers {
		select {
		case <-s.exited:
			continue
		default:
		}
		code, body, err := s.Do(http.MethodGet, "/v1/status/leader", "", nil)
		if err != nil || code != http.StatusOK {
			continue
		}
		var addr string
		if json.Unmarshal(body, &addr) != nil || addr == "" {
			return -1
		}
		i := c.index(addr)
		if found != -1 && i != found {
			return -1
		}
		found = i
	}
	return found
}

func (c *Cluster) index(rpc string) int {
	for i, a := range c.RPC {
		if a == rpc {
			return i
		}
	}
	return -1
}

// TransferLeader asks the cluster (through server via) to hand its
// leadership to another server (consul operator raft transfer-leader).
func (c *Cluster) TransferLeader(t testing.TB, via int) {
	t.Helper()
	c.Servers[via].MustDo(t, http.MethodPost, "/v1/operator/raft/transfer-leader", "", nil)
}

// consulBaseHCL is a test server's configuration: fast elections
// (raft_multiplier 1), its HTTP, serf LAN and server ports on loopback,
// every other listener off.
func consulBaseHCL(http, serf, server int) string {
	return fmt.Sprintf(`
performance { raft_multiplier = 1 }
ports {
  http = %d
  serf_lan = %d
  server = %d
  dns = -1
  serf_wan = -1
  grpc = -1
  grpc_tls = -1
  https = -1
}
disable_update_check = true
`, http, serf, server)
}
