// Package loopback runs Consul and Nomad servers that only 127.0.0.1
// reaches: the base of their configuration (the listeners they need on the
// ports given, every other one off) and their process (Process). The
// drill's throwaway servers and the tests' servers
// (internal/testkit/servers) start from it, so that a listener a new
// version adds is closed in one place, and a server child is started,
// killed and read in one way.
package loopback

import "fmt"

// Consul is a Consul server's HCL: bound, serving and advertised on
// 127.0.0.1, HTTP, serf LAN and server RPC on the ports given, DNS, serf
// WAN, gRPC and HTTPS off; fast elections (raft_multiplier 1), no update
// check.
func Consul(http, serfLAN, server int) string {
	return fmt.Sprintf(`bind_addr = "127.0.0.1"
client_addr = "127.0.0.1"
advertise_addr = "127.0.0.1"
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
performance { raft_multiplier = 1 }
disable_update_check = true
`, http, serfLAN, server)
}

// Nomad is a Nomad server's HCL: its data directory, bound and advertised
// on 127.0.0.1 with HTTP, RPC and serf on the ports given, no update check,
// a server (server holds the server block's other settings, a line each)
// and no client.
func Nomad(dataDir string, http, rpc, serf int, server string) string {
	return fmt.Sprintf(`data_dir = %q
bind_addr = "127.0.0.1"
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
  enabled = true
%s}
client { enabled = false }
`, dataDir, http, rpc, serf, server)
}
