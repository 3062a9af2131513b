package snapshot

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"testing"
)

// countingReader counts the bytes it delivers, as chunkReader does.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) delivered() int64 { return c.n }

// readStateThroughGuard reads state.bin of a raw tar through backedReader,
// as the walker does, bypassing checkMemberType: the guard alone must hold.
func readStateThroughGuard(t *testing.T, tarData []byte) (int64, error) {
	t.Helper()
	in := &countingReader{r: bytes.NewReader(tarData)}
	tr := tar.NewReader(in)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("no state.bin in the tar: %v", err)
		}
		if hdr.Name == StateName {
			break
		}
	}
	body := &backedReader{r: tr, delivered: in.delivered, start: in.delivered()}
	return io.Copy(io.Discard, body)
}

// TestBackedReaderRefusesMadeUpBytes: whatever header slips past the type
// check, a member may not yield bytes its stream did not carry.
func TestBackedReaderRefusesMadeUpBytes(t *testing.T) {
	meta := entry(MetaName, corpusMeta)
	for _, flavor := range []string{"S", "0.0", "0.1", "1.0"} {
		t.Run("sparse "+flavor, func(t *testing.T) {
			n, err := readStateThroughGuard(t, rawTar([]tarEntry{meta, sparseState(flavor, 1<<20)}, true))
			var unbacked *unbackedError
			if !errors.As(err, &unbacked) || unbacked.arrived != 0 || n != 0 {
				t.Fatalf("read %d bytes of holes, error %v; want them refused", n, err)
			}
		})
	}
	t.Run("regular", func(t *testing.T) {
		n, err := readStateThroughGuard(t, rawTar(validEntries(), true))
		if err != nil || n != int64(len(corpusState)) {
			t.Fatalf("read %d bytes, error %v; want all %d", n, err, len(corpusState))
		}
	})
}
