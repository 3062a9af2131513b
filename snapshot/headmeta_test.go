package snapshot

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/hashicorp/raft"
)

func TestMetaFromPrefix(t *testing.T) {
	state := make([]byte, 256<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range state {
		state[i] = byte(rng.IntN(256))
	}
	meta := &raft.SnapshotMeta{Version: 1, ID: "2-4242-1", Index: 4242, Term: 2, Size: int64(len(state))}
	var archive bytes.Buffer
	if _, err := Write(&archive, meta, bytes.NewReader(state)); err != nil {
		t.Fatal(err)
	}
	data := archive.Bytes()
	found := -1
	for n := 0; n <= len(data); n++ {
		got, err := MetaFromPrefix(data[:n], 0)
		if errors.Is(err, ErrNeedMore) {
			if found >= 0 {
				t.Fatalf("prefix of %d bytes needs more, but %d bytes were enough", n, found)
			}
			continue
		}
		if err != nil {
			t.Fatalf("prefix of %d bytes: %v", n, err)
		}
		if got.Index != 4242 || got.Term != 2 || got.ID != meta.ID {
			t.Fatalf("meta %+v", got)
		}
		if found < 0 {
			found = n
		}
		if n > found+4096 {
			break
		}
	}
	if found < 0 || found > 4096 {
		t.Fatalf("meta.json found after %d bytes; want it within the first 4 KiB", found)
	}

	for _, c := range []struct {
		name  string
		input []byte
		kind  error
	}{
		{"not gzip", []byte("<html>error</html>"), ErrNotGzip},
		{"state first", stateFirstArchive(t), ErrMemberOrder},
		{"bad meta", badMetaArchive(t), ErrInvalidMeta},
	} {
		_, err := MetaFromPrefix(c.input, 0)
		var serr *Error
		if !errors.As(err, &serr) || !errors.Is(err, c.kind) {
			t.Errorf("%s: %v, want %v", c.name, err, c.kind)
		}
	}
}

func stateFirstArchive(t *testing.T) []byte {
	return gz(rawTar([]tarEntry{entry(StateName, []byte("state")), entry(MetaName, []byte(`{}`))}, true))
}

func badMetaArchive(t *testing.T) []byte {
	return archiveWithMeta([]byte(`{"Version":1,"ID":"x","Index":0,"Term":1}`))
}
