package source

// TODO: snapshot.Verify and snapshot.Write (another engineer's) have not
// landed yet. Until they do, these two helpers check and build archives by
// the contract in snapshot/archive.go with the standard library; switch them
// to snapshot.Verify / snapshot.Write when those exist.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/snapshot"
)

// verifyArchive checks gzip, tar, SHA256SUMS (and SHA256SUMS.sealed when
// opts.RequireSealed) and returns the report.
func verifyArchive(t testing.TB, archive []byte, opts snapshot.VerifyOptions) *snapshot.Report {
	t.Helper()
	report, err := checkArchive(archive, opts)
	if err != nil {
		t.Fatalf("archive of %d bytes does not verify: %v", len(archive), err)
	}
	return report
}

func checkArchive(archive []byte, opts snapshot.VerifyOptions) (*snapshot.Report, error) {
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return nil, fmt.Errorf("not gzip: %w", err)
	}
	tr := tar.NewReader(gz)
	report := &snapshot.Report{ArchiveBytes: int64(len(archive))}
	sum := sha256.Sum256(archive)
	report.ArchiveSHA256 = hex.EncodeToString(sum[:])
	hashes := map[string]string{}
	contents := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("tar: %w", err)
		}
		h := sha256.New()
		var keep bytes.Buffer
		n, err := io.Copy(io.MultiWriter(h, &keep), tr)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", hdr.Name, err)
		}
		hashes[hdr.Name] = hex.EncodeToString(h.Sum(nil))
		if hdr.Name != snapshot.StateName {
			contents[hdr.Name] = keep.Bytes()
		}
		report.Members = append(report.Members, snapshot.Member{Name: hdr.Name, Size: n, SHA256: hashes[hdr.Name]})
	}
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return nil, fmt.Errorf("gzip end: %w", err)
	}
	if err := json.Unmarshal(contents[snapshot.MetaName], &report.Meta); err != nil {
		return nil, fmt.Errorf("meta.json: %w", err)
	}
	check := func(sumsName string) error {
		sums, ok := contents[sumsName]
		if !ok {
			return fmt.Errorf("missing %s", sumsName)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
			hexSum, name, ok := strings.Cut(line, "  ")
			if !ok {
				return fmt.Errorf("%s: bad line %q", sumsName, line)
			}
			if hashes[name] != hexSum {
				return fmt.Errorf("%s: %s has sha256 %s, listed %s", sumsName, name, hashes[name], hexSum)
			}
		}
		return nil
	}
	if err := check(snapshot.SumsName); err != nil {
		return nil, err
	}
	if _, ok := contents[snapshot.SealedSumsName]; ok {
		report.Sealed = true
	}
	if opts.RequireSealed && !report.Sealed {
		return nil, fmt.Errorf("missing %s", snapshot.SealedSumsName)
	}
	return report, nil
}

// writeArchive builds an archive in Vault's layout when sealed is true
// (meta.json, state.bin, SHA256SUMS, SHA256SUMS.sealed; the sealed member
// holds the SUMS text wrapped by a stand-in seal).
func writeArchive(t testing.TB, meta raft.SnapshotMeta, state []byte, sealed bool) []byte {
	t.Helper()
	meta.Size = int64(len(state))
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	gz := gzip.NewWriter(&out)
	tw := tar.NewWriter(gz)
	var sums strings.Builder
	add := func(name string, body []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		fmt.Fprintf(&sums, "%x  %s\n", sum, name)
	}
	add(snapshot.MetaName, metaJSON)
	add(snapshot.StateName, state)
	sumsText := sums.String()
	add(snapshot.SumsName, []byte(sumsText))
	if sealed {
		add(snapshot.SealedSumsName, []byte("sealed-by-test-barrier:"+hex.EncodeToString([]byte(sumsText))))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
