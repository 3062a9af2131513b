package snapshot

import "github.com/hashicorp/raft"

// Member names, in the order Consul, Nomad and Vault write them.
const (
	MetaName       = "meta.json"
	StateName      = "state.bin"
	SumsName       = "SHA256SUMS"
	SealedSumsName = "SHA256SUMS.sealed"
)

// DefaultMaxMetaSize caps meta.json; real ones are a few hundred bytes plus
// the cluster configuration.
const DefaultMaxMetaSize = 1 << 20

// VerifyOptions tune verification.
type VerifyOptions struct {
	// RequireSealed demands the SHA256SUMS.sealed member (Vault archives).
	RequireSealed bool
	// MaxMetaSize caps meta.json; 0 means DefaultMaxMetaSize.
	MaxMetaSize int64
	// State, when set, receives the bytes of state.bin as they are verified
	// (restore spools them to a file, inspect decodes them). An error from it
	// aborts verification.
	State StateWriter
	// Meta, when set, is called with meta.json as soon as it has verified,
	// before state.bin streams (a one-pass restore decides from the
	// archive's head whether to send it, see SendReader). It runs on the
	// verifier's goroutine and must not block.
	Meta func(raft.SnapshotMeta)
}

// StateWriter receives state.bin while it streams. As with any io.Writer,
// Write must not keep p after it returns: the buffer is reused, by this
// verification and by later ones.
type StateWriter interface {
	Write(p []byte) (int, error)
}

// Member is one file inside the archive.
type Member struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Report is what a successful verification learned about an archive.
type Report struct {
	Meta    raft.SnapshotMeta `json:"meta"`
	Members []Member          `json:"members"`
	// Sealed is true when the archive carries SHA256SUMS.sealed (Vault).
	Sealed bool `json:"sealed"`
	// ArchiveBytes and ArchiveSHA256 describe the compressed file itself.
	ArchiveBytes  int64  `json:"archive_bytes"`
	ArchiveSHA256 string `json:"archive_sha256"`
}
