package source

import (
	"net/http"

	"github.com/raftsnap/raftsnap/snapshot"
)

// Nomad is HashiCorp Nomad's snapshot API.
const Nomad Kind = "nomad"

func init() {
	register(Spec{
		Kind:           Nomad,
		Title:          "HashiCorp Nomad",
		DefaultAddress: "http://127.0.0.1:4646",
		UnixSocket:     true,
		Env: EnvVars{
			Address:       "NOMAD_ADDR",
			Token:         "NOMAD_TOKEN",
			CACert:        "NOMAD_CACERT",
			CAPath:        "NOMAD_CAPATH",
			ClientCert:    "NOMAD_CLIENT_CERT",
			ClientKey:     "NOMAD_CLIENT_KEY",
			TLSServerName: "NOMAD_TLS_SERVER_NAME",
			SkipVerify:    "NOMAD_SKIP_VERIFY",
			Region:        "NOMAD_REGION",
		},
		Path:          "/v1/operator/snapshot",
		RestoreMethod: http.MethodPut,
		TokenHeader:   "X-Nomad-Token",
		StaleQuery:    "stale=true",
		RegionParam:   "region",
		RecordHeaders: []string{"Digest", "X-Nomad-Index", "X-Nomad-KnownLeader", "X-Nomad-LastContact"},
		CheckDigest:   true,
		Flavor:        snapshot.FlavorNomad,
		order:         20,
	})
}
