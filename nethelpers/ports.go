package nethelpers

import (
	"fmt"
	"net"
)

// FreeLoopbackPorts returns n distinct TCP ports on 127.0.0.1 that were
// free a moment ago, for a server started next (a drill's throwaway
// server, the tests' Consul and Nomad). All are held until all are picked,
// so that the kernel cannot hand the same one out twice. Another process
// may still take one before the server binds it: callers retry on a clash.
func FreeLoopbackPorts(n int) ([]int, error) {
	ports := make([]int, n)
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		held = append(held, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}
