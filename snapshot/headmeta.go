package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"io"

	"github.com/hashicorp/raft"
)

// ErrNeedMore is MetaFromPrefix's answer when the bytes given end before
// meta.json does.
var ErrNeedMore = errors.New("snapshot: more of the archive is needed to read its meta.json")

// MetaFromPrefix reads meta.json from the first bytes of an archive, before
// the rest has arrived: a store that must name an object before its first
// byte is written (an object store) learns the snapshot's raft index from
// it. It returns ErrNeedMore while prefix ends too early, and an *Error
// (the one the Verifier would give) when the archive cannot be one:
// meta.json must be its first member, as every writer and the Verifier
// require. maxMetaSize 0 means DefaultMaxMetaSize.
//
// It does not verify anything else; the Verifier still judges the whole
// archive, and the meta it reports is the same one.
func MetaFromPrefix(prefix []byte, maxMetaSize int64) (*raft.SnapshotMeta, error) {
	if maxMetaSize <= 0 {
		maxMetaSize = DefaultMaxMetaSize
	}
	if len(prefix) == 0 {
		return nil, ErrNeedMore
	}
	if prefix[0] != 0x1f || (len(prefix) > 1 && prefix[1] != 0x8b) {
		return nil, newError(ErrNotGzip, "", "snapshot archive is not gzip data")
	}
	zr, err := gzip.NewReader(bytes.NewReader(prefix))
	if err != nil {
		return nil, prefixError(err)
	}
	zr.Multistream(false)
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil {
		return nil, prefixError(err)
	}
	if hdr.Name != MetaName {
		return nil, newError(ErrMemberOrder, hdr.Name,
			"snapshot archive has %s before %s (missing or out of order); members must come as meta.json, state.bin, SHA256SUMS, then SHA256SUMS.sealed",
			hdr.Name, MetaName)
	}
	if hdr.Size > maxMetaSize {
		return nil, newError(ErrMetaTooLarge, MetaName, "snapshot meta.json is %d bytes, over the %d byte limit", hdr.Size, maxMetaSize)
	}
	data := make([]byte, hdr.Size)
	if _, err := io.ReadFull(tr, data); err != nil {
		return nil, prefixError(err)
	}
	return decodeMeta(data)
}

// prefixError tells a prefix that ends early from one that cannot be an
// archive.
func prefixError(err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrNeedMore
	case errors.As(err, &corrupt), errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum):
		return newError(ErrCorrupt, "", "snapshot archive is corrupt: %v", err)
	case errors.Is(err, tar.ErrHeader):
		return newError(ErrInvalidTar, "", "snapshot archive has an invalid tar stream: %v", err)
	}
	return newError(ErrCorrupt, "", "snapshot archive cannot be read: %v", err)
}
