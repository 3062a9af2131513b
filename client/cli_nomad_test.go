package client

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
)

// TestCLINomad does against a real Nomad server what TestCLIConsul does
// against Consul, with a Nomad variable as the data that must come back.
func TestCLINomad(t *testing.T) {
	nomad := servers.StartNomad(t)
	nomadBin := servers.Binary(t, "nomad")
	env := []string{"NOMAD_ADDR=" + nomad.Addr}
	dir := t.TempDir()

	testkit.PutNomadVariable(t, nomad, "raftsnap/test", "before")
	ours := filepath.Join(dir, "raftsnap.snap")
	save := mustRaftsnap(t, "snapshot", "save", "--source", "nomad", "--address", nomad.Addr, "--format", "json", ours)
	var saved saveOutcome
	if err := json.Unmarshal([]byte(save.Stdout), &saved); err != nil {
		t.Fatalf("save --format json: %v\n%s", err, save.Stdout)
	}
	if saved.Index == 0 {
		t.Fatalf("implausible save outcome: %+v", saved)
	}
	assertOnlyFiles(t, dir, "raftsnap.snap")

	out := vendor(t, nomadBin, env, "operator", "snapshot", "inspect", ours)
	if !strings.Contains(out, strconv.FormatUint(saved.Index, 10)) {
		t.Fatalf("nomad operator snapshot inspect does not show index %d:\n%s", saved.Index, out)
	}

	theirs := filepath.Join(dir, "nomad.snap")
	vendor(t, nomadBin, env, "operator", "snapshot", "save", theirs)
	mustRaftsnap(t, "snapshot", "verify", theirs)
	inspect := mustRaftsnap(t, "snapshot", "inspect", "--format", "json", theirs)
	var ins struct {
		State *struct {
			Flavor string `json:"flavor"`
		} `json:"state"`
	}
	if err := json.Unmarshal([]byte(inspect.Stdout), &ins); err != nil {
		t.Fatal(err)
	}
	if ins.State == nil || ins.State.Flavor != "nomad" {
		t.Fatalf("inspect did not decode a nomad state: %s", inspect.Stdout)
	}

	testkit.PutNomadVariable(t, nomad, "raftsnap/test", "after")
	// A Consul snapshot (issue 12: it panics Nomad's leader) is refused
	// before anything is sent; Nomad keeps its state.
	consulFixture := filepath.Join("..", "snapshot", "testdata", "inspect", "consul.snap")
	r := raftsnap(t, "snapshot", "restore", "--source", "nomad", "--address", nomad.Addr, "--yes", consulFixture)
	if r.Code != ExitWrongFlavor || !strings.Contains(r.Stderr, "it is a Consul snapshot, not a Nomad snapshot") {
		t.Fatalf("restore of a Consul snapshot into Nomad: %s", r)
	}
	if got := testkit.NomadVariable(t, nomad, "raftsnap/test"); got != "after" {
		t.Fatalf("after a refused restore the variable is %q", got)
	}
	mustRaftsnap(t, "snapshot", "restore", "--source", "nomad", "--address", nomad.Addr, "--yes", ours)
	if got := testkit.NomadVariable(t, nomad, "raftsnap/test"); got != "before" {
		t.Fatalf("after restore the variable is %q, want before", got)
	}
}

// TestCLIRestoreCutLeavesNomadUntouched: against a real Nomad, an archive
// that fails verification at its end is sent as it verifies but cut before
// its end; Nomad answers 500 to the broken stream and keeps its state.
func TestCLIRestoreCutLeavesNomadUntouched(t *testing.T) {
	nomad := servers.StartNomad(t)
	nomadBin := servers.Binary(t, "nomad")
	// Larger than what the verifier's pipeline buffers (a few MiB): an
	// archive it could read whole before its head verified would be
	// refused with nothing sent, not cut, and this test is about the cut.
	raw := make([]byte, 30<<10)
	for i := range 300 { // Nomad caps a variable at 64 KiB
		rand.Read(raw)
		testkit.PutNomadVariable(t, nomad, fmt.Sprintf("fill/%d", i), hex.EncodeToString(raw))
	}
	testkit.PutNomadVariable(t, nomad, "raftsnap/test", "before")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.snap")
	data := mustSave(t, "nomad", nomad.Addr, good)
	if len(data) < 8<<20 {
		t.Fatalf("archive of %d bytes, want at least 8 MiB", len(data))
	}
	bad := filepath.Join(dir, "bad.snap")
	if err := os.WriteFile(bad, testkit.WithEmptyGzipMember(data), 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.PutNomadVariable(t, nomad, "raftsnap/test", "after")
	r := raftsnap(t, "snapshot", "restore", "--source", "nomad", "--address", nomad.Addr, "--yes", bad)
	if r.Code != ExitInvalid || !strings.Contains(r.Stderr, "the upload was cut after") {
		t.Fatalf("restore of a valid archive plus a gzip member: %s", r)
	}
	if got := testkit.NomadVariable(t, nomad, "raftsnap/test"); got != "after" {
		t.Fatalf("Nomad's state changed although the archive never arrived whole: %q", got)
	}
	// Nomad's own restore takes the whole file: the cut was what kept it out.
	vendor(t, nomadBin, []string{"NOMAD_ADDR=" + nomad.Addr}, "operator", "snapshot", "restore", bad)
	if got := testkit.NomadVariable(t, nomad, "raftsnap/test"); got != "before" {
		t.Fatalf("nomad operator snapshot restore of the whole file: %q, want before (the test's premise)", got)
	}
}
