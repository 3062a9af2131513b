// Package agetest makes age keys for tests (apart from testkit, which the
// store packages' own tests import: agecrypt imports them).
package agetest

import (
	"testing"

	"filippo.io/age"

	"github.com/raftsnap/raftsnap/snapshot/agecrypt"
)

// Key is a fresh age identity and the recipients encrypting to it.
func Key(t testing.TB) (*age.X25519Identity, *agecrypt.Recipients) {
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
