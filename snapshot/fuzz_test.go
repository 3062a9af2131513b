package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary bytes to Verify. It must never panic or hang,
// every failure must be a typed *Error, and a success must come with a
// report that agrees with the input. When cancelAt > 0 the context is
// cancelled once that many input bytes were read (mid-member for most
// seeds): then there is no success, and the error is the context's unless
// the archive had already failed. Seeds: an archive from Write, the
// hostile corpus, and a Vault-style sealed archive.
//
//	go test ./snapshot/ -run '^$' -fuzz FuzzVerify -fuzztime 60s
func FuzzVerify(f *testing.F) {
	written, _ := writeTestArchive(f, syntheticState(3000, 1))
	f.Add(written, false, uint32(0))
	f.Add(written, false, uint32(len(written)/2))
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.tar.gz"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no corpus seeds in %s: %v", corpusDir, err)
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		sealed := bytes.Contains([]byte(path), []byte("sealed"))
		f.Add(data, sealed, uint32(0))
		f.Add(data, sealed, uint32(len(data)*2/3))
	}
	f.Fuzz(func(t *testing.T, data []byte, requireSealed bool, cancelAt uint32) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		in := &cancellingReader{data: data, at: int(cancelAt), cancel: cancel}
		var state bytes.Buffer
		rep, err := Verify(ctx, in, VerifyOptions{RequireSealed: requireSealed, MaxMetaSize: 64 << 10, State: &state})
		if in.cancelled {
			var archiveErr *Error
			if err == nil || !errors.Is(err, context.Canceled) && !errors.As(err, &archiveErr) || rep != nil {
				t.Fatalf("cancelled after %d bytes: report %v, error %#v; want the context's error or an archive error found before", cancelAt, rep, err)
			}
			return
		}
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

// cancellingReader serves data and calls cancel once at bytes were read
// (never when at is 0).
type cancellingReader struct {
	data      []byte
	off, at   int
	cancel    func()
	cancelled bool
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if r.off == len(r.data) {
		return 0, io.EOF
	}
	end := len(r.data)
	if r.at > r.off && r.at < end {
		end = r.at // stop at the cancellation point
	}
	n := copy(p, r.data[r.off:end])
	r.off += n
	if r.at > 0 && r.off >= r.at && !r.cancelled {
		r.cancelled = true
		r.cancel()
	}
	return n, nil
}

// FuzzVerifyMemberHeader varies state.bin's tar header: its type and the
// PAX records before it ("key=value" lines). Only a plain regular file may
// pass, and whatever the header says, state.bin can never yield more bytes
// than the tar stream holds: the work stays bounded by the bytes that
// arrive. Seeds: every tar type and each GNU sparse flavour.
//
//	go test ./snapshot/ -run '^$' -fuzz FuzzVerifyMemberHeader -fuzztime 60s
func FuzzVerifyMemberHeader(f *testing.F) {
	for _, flag := range []byte("0123456789xgSLKDMNV\x00") {
		f.Add(flag, "")
	}
	f.Add(byte(tar.TypeReg), "comment=PAX headers carry metadata only\nmtime=1714979289.5")
	f.Add(byte(tar.TypeReg), "GNU.sparse.major=1\nGNU.sparse.minor=0\nGNU.sparse.name=state.bin\nGNU.sparse.realsize=1152921504606846976")
	f.Add(byte(tar.TypeReg), "GNU.sparse.major=0\nGNU.sparse.minor=1\nGNU.sparse.size=1152921504606846976\nGNU.sparse.numblocks=1\nGNU.sparse.map=0,0")
	f.Add(byte(tar.TypeReg), "GNU.sparse.size=1152921504606846976\nGNU.sparse.numblocks=1\nGNU.sparse.offset=0\nGNU.sparse.numbytes=0")
	f.Add(byte(tar.TypeReg), "size=1152921504606846976")
	f.Fuzz(func(t *testing.T, typeflag byte, records string) {
		var stateHeader []byte
		sparse := false
		if records != "" {
			var pax [][2]string
			for _, line := range strings.Split(records, "\n") {
				k, v, _ := strings.Cut(line, "=")
				pax = append(pax, [2]string{k, v})
				sparse = sparse || strings.HasPrefix(k, "GNU.sparse.")
			}
			stateHeader = paxHeader(pax...)
		}
		stateHeader = append(stateHeader, rawHeader(StateName, int64(len(corpusState)), typeflag, nil)...)
		tarData := rawTar([]tarEntry{
			entry(MetaName, corpusMeta),
			{raw: append(stateHeader, padded(corpusState)...)},
			entry(SumsName, sumsFor(corpusMeta, corpusState)),
		}, true)
		// A guard, not a measure: a member made of bytes that never
		// arrived would otherwise hang the fuzzer instead of failing it.
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		var state countingWriter
		rep, err := Verify(ctx, bytes.NewReader(gz(tarData)), VerifyOptions{State: &state})
		if state.n > int64(len(tarData)) {
			t.Fatalf("state.bin yielded %d bytes from a tar stream of %d", state.n, len(tarData))
		}
		if ctx.Err() != nil {
			t.Fatalf("verification ran for a minute on %d bytes: %v", len(tarData), err)
		}
		if err == nil {
			if typeflag != tar.TypeReg && typeflag != 0 || sparse {
				t.Fatalf("accepted state.bin of type %q with PAX records %q", typeflag, records)
			}
			if rep.Members[1].Size != int64(len(corpusState)) {
				t.Fatalf("state.bin verified as %d bytes, %d were sent", rep.Members[1].Size, len(corpusState))
			}
			return
		}
		var archiveErr *Error
		if !errors.As(err, &archiveErr) || archiveErr.Msg == "" {
			t.Fatalf("error is not a complete *snapshot.Error: %#v", err)
		}
	})
}

// countingWriter counts and drops what it is given.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
