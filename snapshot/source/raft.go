package source

import "net/http"

// Raft is a Go service exposing snapshot.NewHandler over HTTP.
const Raft Kind = "raft"

func init() {
	register(Spec{
		Kind:  Raft,
		Title: "a Go service serving snapshot.NewHandler",
		// No vendor CLI, so no default address or address variable.
		Env: EnvVars{
			Token: "RAFTSNAP_RAFT_TOKEN",
		},
		Path:          "/v1/snapshot",
		RestoreMethod: http.MethodPut,
		TokenHeader:   "X-Raft-Token",
		StaleQuery:    "stale=true",
		RecordHeaders: []string{"Digest", "X-Raft-Index", "X-Raft-Term", "X-Raft-Known-Leader"},
		CheckDigest:   true,
		order:         40,
	})
}
