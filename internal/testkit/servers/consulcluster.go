package servers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/daemon/drill/loopback"
	"github.com/raftsnap/raftsnap/nethelpers"
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

// StartConsulCluster starts n Consul servers for the test, waits until
// they elected a leader, and kills them when the test ends.
func StartConsulCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	return startCluster(t, "consul", n, func(i int, dir string, ports, serfPorts []int) ([]string, error) {
		joins := quoted(serfPorts)
		hcl := loopback.Consul(ports[0], ports[1], ports[2]) + fmt.Sprintf(`retry_join = [%s]
retry_interval = "1s"
log_level = "warn"
`, joins)
		configFile := filepath.Join(dir, "consul.hcl")
		return []string{"agent", "-server", fmt.Sprintf("-bootstrap-expect=%d", n), fmt.Sprintf("-node=raftsnap-ha-%d", i),
				"-data-dir=" + filepath.Join(dir, "data"), "-config-file=" + configFile},
			os.WriteFile(configFile, []byte(hcl), 0o600)
	})
}

// clusterConfig writes server i's configuration into dir and returns its
// command line. ports are its HTTP, serf and RPC ports; serfPorts every
// server's serf port.
type clusterConfig func(i int, dir string, ports, serfPorts []int) ([]string, error)

// startCluster starts n servers of kind, waits until each names a leader
// (and, for Nomad, has its keyring), and kills them when the test ends.
func startCluster(t testing.TB, kind string, n int, configure clusterConfig) *Cluster {
	t.Helper()
	bin := Binary(t, kind)
	c := &Cluster{}
	all, err := nethelpers.FreeLoopbackPorts(3 * n)
	if err != nil {
		t.Fatal(err)
	}
	var serfPorts []int
	for i := range n {
		serfPorts = append(serfPorts, all[3*i+1])
	}
	for i := range n {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("%s-%d", kind, i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		ports := all[3*i : 3*i+3]
		args, err := configure(i, dir, ports, serfPorts)
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{kind: kind, Dir: dir, Addr: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), DataDir: filepath.Join(dir, "data")}
		err = s.start(bin, false, args...)
		stopAtCleanup(t, s, err)
		c.Servers = append(c.Servers, s)
		c.RPC = append(c.RPC, fmt.Sprintf("127.0.0.1:%d", ports[2]))
	}
	for _, s := range c.Servers {
		err := s.waitLeader()
		if err == nil && kind == "nomad" {
			err = s.waitKeyring()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// quoted is "127.0.0.1:PORT" for each port, comma-separated, for HCL.
func quoted(ports []int) string {
	var out []string
	for _, p := range ports {
		out = append(out, fmt.Sprintf("%q", fmt.Sprintf("127.0.0.1:%d", p)))
	}
	return strings.Join(out, ", ")
}

// Leader is the index of the server the live ones name as leader, -1 when
// none is named (or the answers disagree).
func (c *Cluster) Leader() int {
	found := -1
	for _, s := range c.Servers {
		if s.proc.HasExited() {
			continue
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
