// Package agecrypt keeps snapshots encrypted at rest with age
// (filippo.io/age), so that whoever reads a store (a bucket's owner, a
// stolen disk) learns nothing of the cluster's secrets.
//
// Wrap puts an encrypting Store around any store that can keep a
// snapshot's bytes under an object name of their own (store.ObjectCreator:
// the local directory and the object stores). A write is encrypted to the
// store's recipients (public keys only: the agent never needs the key) as
// it streams, while the snapshot job verifies the plaintext, and is stored
// as NAME.snap.age, which the standard age CLI decrypts. Its record keeps
// the plaintext's size and SHA-256 (Size, SHA256), the ciphertext's
// (StoredSize, StoredSHA256) and the recipients' fingerprints (Encryption),
// in the clear: listing, pruning, status and scrub need no key. Open with
// identities decrypts as the bytes stream, in bounded memory (age's 64 KiB
// chunks, each authenticated); without them it gives the ciphertext.
package agecrypt
