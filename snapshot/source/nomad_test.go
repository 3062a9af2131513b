package source

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
)

func TestNomadSaveVerifyRestore(t *testing.T) {
	nomad := servers.StartNomad(t)
	ctx := testContext(t)
	testkit.PutNomadVariable(t, nomad, "raftsnap/probe", "before")

	src := mustNew(t, Config{Kind: Nomad, Address: nomad.Addr})
	res, archive, report := mustSaveDigested(t, ctx, "save", src)
	sum := sha256.Sum256(archive)
	if want := "sha-256=" + base64.StdEncoding.EncodeToString(sum[:]); res.Headers["Digest"] != want {
		t.Fatalf("recorded Digest %q, archive hashes to %q", res.Headers["Digest"], want)
	}
	if report.Meta.Index == 0 {
		t.Fatalf("meta index 0")
	}

	mustSaveDigested(t, ctx, "stale save", mustNew(t, Config{Kind: Nomad, Address: nomad.Addr, Stale: true, Region: "global"}))

	testkit.PutNomadVariable(t, nomad, "raftsnap/probe", "after")
	if err := src.Restore(ctx, bytes.NewReader(archive), int64(len(archive))); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got := testkit.NomadVariable(t, nomad, "raftsnap/probe"); got != "before" {
		t.Fatalf("after restore the variable is %q, want %q", got, "before")
	}
}

func TestNomadUnknownRegion(t *testing.T) {
	nomad := servers.StartNomad(t)
	src := mustNew(t, Config{Kind: Nomad, Address: nomad.Addr, Region: "mars"})
	_, err := src.Save(testContext(t), &bytes.Buffer{})
	srcErr := assertStatusError(t, err, http.StatusInternalServerError, false, "No path to region")
	if srcErr.Op != OpSave {
		t.Fatalf("Op = %q", srcErr.Op)
	}
}
