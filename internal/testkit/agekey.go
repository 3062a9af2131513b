package testkit

import (
	"testing"

	"filippo.io/age"

	"github.com/raftsnap/raftsnap/snapshot/agecrypt"
)

// AgeKey is a fresh age identity and the recipients encrypting to it.
func AgeKey(t testing.TB) (*age.X25519Identity, *agecrypt.Recipients) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	r, err := agecrypt.NewRecipients([]string{id.Recipient().String()}, "")
	if err != nil {
		t.Fatal(err)
	}
	return id, r
}
