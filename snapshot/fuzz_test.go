package snapshot

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzVerify feeds arbitrary bytes to Verify. It must never panic or hang,
// every failure must be a typed *Error, and a success must come with a
// report that agrees with the input. Seeds: an archive from Write, the
// hostile corpus, and a Vault-style sealed archive.
//
//	go test ./snapshot/ -run '^$' -fuzz FuzzVerify -fuzztime 60s
func FuzzVerify(f *testing.F) {
	written, _ := writeTestArchive(f, syntheticState(3000, 1))
	f.Add(written, false)
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.tar.gz"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no corpus seeds in %s: %v", corpusDir, err)
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, bytes.Contains([]byte(path), []byte("sealed")))
	}
	f.Fuzz(func(t *testing.T, data []byte, requireSealed bool) {
		var state bytes.Buffer
		rep, err := Verify(bytes.NewReader(data), VerifyOptions{RequireSealed: requireSealed, MaxMetaSize: 64 << 10, State: &state})
		if err != nil {
			var archiveErr *Error
			if !errors.As(err, &archiveErr) || archiveErr.Kind == nil || archiveErr.Msg == "" {
				t.Fatalf("error is not a complete *snapshot.Error: %#v", err)
			}
			if rep != nil {
				t.Fatalf("report %+v returned with error %v", rep, err)
			}
			return
		}
		checkReportConsistent(t, data, rep)
		if int64(state.Len()) != rep.Meta.Size || rep.Members[1].SHA256 != sha256Hex(state.Bytes()) {
			t.Fatalf("State received %d bytes (sha %s), report says %d (sha %s)",
				state.Len(), sha256Hex(state.Bytes()), rep.Meta.Size, rep.Members[1].SHA256)
		}
		if requireSealed && !rep.Sealed {
			t.Fatal("accepted without SHA256SUMS.sealed under RequireSealed")
		}
	})
}
