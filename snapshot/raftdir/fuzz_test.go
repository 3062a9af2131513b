package raftdir

import (
	"encoding/base64"
	"errors"
	"os"
	"testing"

	"github.com/raftsnap/raftsnap/snapshot"
)

// FuzzParseMeta feeds the directory reader's meta.json parser arbitrary
// bytes and directory names. It must never panic, must fail only with an
// invalid-meta *snapshot.Error, and whatever it accepts must be what
// hashicorp/raft writes: an ID equal to the directory's name, the name's
// term and index, a non-negative size, and a meta the archive writer
// accepts.
func FuzzParseMeta(f *testing.F) {
	raftDir := f.TempDir()
	name := addSnapshot(f, raftDir, 3, 42, []byte("some state"))
	real, err := os.ReadFile(snapshotFile(raftDir, name, snapshot.MetaName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real, name)
	f.Add(real, "3-42-1")
	f.Add(real, "other")
	crc := base64.StdEncoding.EncodeToString([]byte("12345678"))
	for _, seed := range []string{
		`{"Version":1,"ID":"1-2-3","Index":2,"Term":1,"Size":0,"CRC":"` + crc + `"}`,
		`{"Version":1,"ID":"1-2-3","Index":2,"Term":1,"Size":-5,"CRC":"` + crc + `"}`,
		`{"Version":1,"ID":"1-2-3","Index":2,"Term":1,"Size":0,"CRC":"AAAA"}`,
		`{"Version":1,"ID":"1-2-3","Index":2,"Term":1,"Size":0,"CRC":12}`,
		`{"Version":1,"ID":"1-2-3","Index":2,"Term":1,"Size":0}`,
		`{"Version":9,"ID":"1-2-3","Index":2,"Term":1,"Size":0,"CRC":"` + crc + `"}`,
		`{"Version":1,"ID":"1-2-3","Index":"2","Term":1}`,
		`{"Version":1,"ID":"1-2-3","Index":2,"Term":1,"Size":0,"CRC":"` + crc + `"} {}`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(seed), "1-2-3")
	}
	f.Fuzz(func(t *testing.T, data []byte, dirName string) {
		meta, crc, err := ParseMeta(data, dirName)
		if err != nil {
			var archiveErr *snapshot.Error
			if !errors.As(err, &archiveErr) || !errors.Is(err, snapshot.ErrInvalidMeta) || archiveErr.Msg == "" {
				t.Fatalf("error is not an invalid-meta *snapshot.Error: %#v", err)
			}
			if meta != nil || crc != 0 {
				t.Fatal("a refused meta.json returned values")
			}
			return
		}
		if meta.ID != dirName || meta.Size < 0 || meta.Index == 0 || meta.Term == 0 {
			t.Fatalf("accepted %+v for directory %q", meta, dirName)
		}
		if term, index, _, ok := parseName(dirName); ok && (term != meta.Term || index != meta.Index) {
			t.Fatalf("accepted term %d index %d for directory %q", meta.Term, meta.Index, dirName)
		}
		// What the reader accepts, the archive writer takes.
		if _, err := snapshot.ParseMeta(data); err != nil {
			t.Fatalf("accepted a meta.json that snapshot.ParseMeta refuses: %v", err)
		}
	})
}
