package source

import (
	"net/http"

	"github.com/raftsnap/raftsnap/snapshot"
)

// Vault is HashiCorp Vault's raft storage snapshot API.
const Vault Kind = "vault"

func init() {
	register(Spec{
		Kind:           Vault,
		Title:          "HashiCorp Vault",
		DefaultAddress: "https://127.0.0.1:8200",
		UnixSocket:     true,
		Env: EnvVars{
			Address:       "VAULT_ADDR",
			Token:         "VAULT_TOKEN",
			HomeTokenFile: ".vault-token",
			CACert:        "VAULT_CACERT",
			CAPath:        "VAULT_CAPATH",
			ClientCert:    "VAULT_CLIENT_CERT",
			ClientKey:     "VAULT_CLIENT_KEY",
			TLSServerName: "VAULT_TLS_SERVER_NAME",
			SkipVerify:    "VAULT_SKIP_VERIFY",
			Namespace:     "VAULT_NAMESPACE",
		},
		Path:             "/v1/sys/storage/raft/snapshot",
		RestoreMethod:    http.MethodPost,
		ForceRestorePath: "/v1/sys/storage/raft/snapshot-force",
		TokenHeader:      "X-Vault-Token",
		NoStaleReason:    "snapshots always come from the active node",
		NamespaceHeader:  "X-Vault-Namespace",
		RequireSealed:    true,
		Flavor:           snapshot.FlavorVault,
		AppRoleLoginPath: "/v1/auth/%s/login",
		RenewSelfPath:    "/v1/auth/token/renew-self",
		order:            30,
	})
}
