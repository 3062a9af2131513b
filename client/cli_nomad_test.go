package client

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit/servers"
)

// TestCLINomad does against a real Nomad server what TestCLIConsul does
// against Consul, with a Nomad variable as the data that must come back.
func TestCLINomad(t *testing.T) {
	nomad := servers.StartNomad(t)
	nomadBin := servers.Binary(t, "nomad")
	env := []string{"NOMAD_ADDR=" + nomad.Addr}
	dir := t.TempDir()

	putVar(t, nomad, "raftsnap/test", "before")
	ours := filepath.Join(dir, "raftsnap.snap")
	save := mustRaftsnap(t, "snapshot", "save", "--source", "nomad", "--address", nomad.Addr, "--format", "json", ours)
	var saved saveOutcome
	if err := json.Unmarshal([]byte(save.stdout), &saved); err != nil {
		t.Fatalf("save --format json: %v\n%s", err, save.stdout)
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
	if err := json.Unmarshal([]byte(inspect.stdout), &ins); err != nil {
		t.Fatal(err)
	}
	if ins.State == nil || ins.State.Flavor != "nomad" {
		t.Fatalf("inspect did not decode a nomad state: %s", inspect.stdout)
	}

	putVar(t, nomad, "raftsnap/test", "after")
	mustRaftsnap(t, "snapshot", "restore", "--source", "nomad", "--address", nomad.Addr, "--yes", ours)
	if got := getVar(t, nomad, "raftsnap/test"); got != "before" {
		t.Fatalf("after restore the variable is %q, want before", got)
	}
}

func putVar(t *testing.T, nomad *servers.Server, path, value string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"Items": map[string]string{"v": value}})
	nomad.MustDo(t, http.MethodPut, "/v1/var/"+path, "", body)
}

func getVar(t *testing.T, nomad *servers.Server, path string) string {
	t.Helper()
	var v struct{ Items map[string]string }
	if err := json.Unmarshal(nomad.MustDo(t, http.MethodGet, "/v1/var/"+path, "", nil), &v); err != nil {
		t.Fatal(err)
	}
	return v.Items["v"]
}
