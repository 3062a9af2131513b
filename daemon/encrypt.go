package daemon

import (
	"fmt"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// encryptedStore is st as job c uses the store block cs
// (config.EncryptedStore): encrypting its writes when cs has an encrypt
// block, decrypting its reads with the job's identity_file (restore and
// drill jobs; read at each run, never here).
func encryptedStore(c *config.Job, cs *config.Store, st store.Store) (store.Store, error) {
	wrapped, err := config.EncryptedStore(cs, st, true, c.IdentityFile)
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", c.Name, err)
	}
	return wrapped, nil
}
