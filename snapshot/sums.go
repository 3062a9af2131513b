package snapshot

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxSumsSize caps SHA256SUMS, which real archives fill with two lines.
const maxSumsSize = 64 << 10

func (w *walker) readSums(hdr *tar.Header) error {
	if hdr.Size > maxSumsSize {
		return newError(ErrInvalidSums, SumsName, "snapshot SHA256SUMS is %d bytes, over the %d byte limit (a valid one has two short lines)", hdr.Size, maxSumsSize)
	}
	data, err := w.readSmall(hdr.Size)
	if err != nil {
		return err
	}
	// Checked in checkSums once the gzip stream has proven intact, so a
	// damaged stream is reported as corrupt, not as a checksum mismatch.
	w.sums = data
	return nil
}

func (w *walker) checkSums() error {
	listed, err := parseSums(w.sums)
	if err != nil {
		return err
	}
	for _, name := range []string{MetaName, StateName} {
		if _, ok := listed[name]; !ok {
			return newError(ErrSumsMismatch, SumsName, "snapshot SHA256SUMS has no entry for %s", name)
		}
	}
	for _, name := range []string{MetaName, StateName} {
		if got := w.digests[name]; !bytes.Equal(listed[name], got) {
			return newError(ErrChecksum, name, "%s checksum mismatch: SHA256SUMS says %x, content hashes to %x", name, listed[name], got)
		}
	}
	return nil
}

// parseSums parses "<64 lowercase hex>  <name>\n" lines, the format
// Consul writes with fmt.Fprintf("%x  %s\n"), in any order.
func parseSums(data []byte) (map[string][]byte, error) {
	if len(data) == 0 {
		return nil, newError(ErrInvalidSums, SumsName, "snapshot SHA256SUMS is empty")
	}
	if data[len(data)-1] != '\n' {
		return nil, newError(ErrInvalidSums, SumsName, "snapshot SHA256SUMS does not end with a newline (truncated or hand-edited?)")
	}
	listed := make(map[string][]byte, 2)
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	for i, line := range lines {
		digest, name, ok := parseSumsLine(line)
		if !ok {
			return nil, newError(ErrInvalidSums, SumsName,
				`snapshot SHA256SUMS line %d is not "<64 lowercase hex digits>  <file name>": %s`, i+1, quoteName(line))
		}
		if name != MetaName && name != StateName {
			return nil, newError(ErrSumsMismatch, SumsName,
				"snapshot SHA256SUMS lists %s, which is not a member it covers (only meta.json and state.bin)", quoteName(name))
		}
		if _, dup := listed[name]; dup {
			return nil, newError(ErrInvalidSums, SumsName, "snapshot SHA256SUMS lists %s twice", name)
		}
		listed[name] = digest
	}
	return listed, nil
}

func parseSumsLine(line string) ([]byte, string, bool) {
	const hexLen = 2 * sha256.Size
	if len(line) < hexLen+3 || line[hexLen:hexLen+2] != "  " {
		return nil, "", false
	}
	for _, c := range line[:hexLen] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return nil, "", false
		}
	}
	digest, err := hex.DecodeString(line[:hexLen])
	if err != nil {
		return nil, "", false
	}
	return digest, line[hexLen+2:], true
}
