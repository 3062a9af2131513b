package source

import "net/http"

// Consul is HashiCorp Consul's snapshot API.
const Consul Kind = "consul"

func init() {
	register(Spec{
		Kind:           Consul,
		Title:          "HashiCorp Consul",
		DefaultAddress: "http://127.0.0.1:8500",
		Env: EnvVars{
			Address: "CONSUL_HTTP_ADDR",
			Token:   "CONSUL_HTTP_TOKEN",
		},
		Path:          "/v1/snapshot",
		RestoreMethod: http.MethodPut,
		TokenHeader:   "X-Consul-Token",
		// Consul takes a bare ?stale.
		StaleQuery:      "stale",
		DatacenterParam: "dc",
		RecordHeaders:   []string{"X-Consul-Index", "X-Consul-KnownLeader", "X-Consul-LastContact"},
		order:           10,
	})
}
