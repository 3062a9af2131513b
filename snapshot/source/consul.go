package source

import (
	"net/http"

	"github.com/raftsnap/raftsnap/snapshot"
)

// Consul is HashiCorp Consul's snapshot API.
const Consul Kind = "consul"

func init() {
	register(Spec{
		Kind:  Consul,
		Title: "HashiCorp Consul",
		// Scheme-less, as Consul's own default: CONSUL_HTTP_SSL picks https.
		DefaultAddress:    "127.0.0.1:8500",
		SchemelessAddress: true,
		UnixSocket:        true,
		Env: EnvVars{
			Address:       "CONSUL_HTTP_ADDR",
			Token:         "CONSUL_HTTP_TOKEN",
			TokenFile:     "CONSUL_HTTP_TOKEN_FILE",
			CACert:        "CONSUL_CACERT",
			CAPath:        "CONSUL_CAPATH",
			ClientCert:    "CONSUL_CLIENT_CERT",
			ClientKey:     "CONSUL_CLIENT_KEY",
			TLSServerName: "CONSUL_TLS_SERVER_NAME",
			HTTPS:         "CONSUL_HTTP_SSL",
			Verify:        "CONSUL_HTTP_SSL_VERIFY",
		},
		Path:          "/v1/snapshot",
		RestoreMethod: http.MethodPut,
		TokenHeader:   "X-Consul-Token",
		// Consul takes a bare ?stale.
		StaleQuery:      "stale",
		DatacenterParam: "dc",
		RecordHeaders:   []string{"X-Consul-Index", "X-Consul-KnownLeader", "X-Consul-LastContact"},
		Flavor:          snapshot.FlavorConsul,
		order:           10,
	})
}
