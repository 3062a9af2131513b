package daemon

import (
	"fmt"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/snapshot/agecrypt"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// encryptedStore is st as job c uses the store block cs: wrapped to
// encrypt its writes when cs has an encrypt block, and to decrypt its
// reads with the job's identity_file (restore and drill jobs; read at each
// run, never here). Jobs without either get st itself: listing, pruning
// and scrubbing an encrypted store need no key.
func encryptedStore(c *config.Job, cs *config.Store, st store.Store) (store.Store, error) {
	if cs == nil || cs.Encrypt == nil && c.IdentityFile == "" {
		return st, nil
	}
	recipients, err := cs.EncryptRecipients()
	if err != nil {
		return nil, fmt.Errorf("job %s: store %s: encrypt: %w", c.Name, cs.Label(), err)
	}
	wrapped, err := agecrypt.WrapIdentityFile(st, recipients, c.IdentityFile)
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", c.Name, err)
	}
	return wrapped, nil
}
