package client

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/source/testservers"
)

// TestSourceFlagsDeriveFromRegistry: every registered kind is offered by
// shell completion of --source and named in the help, with its variables.
func TestSourceFlagsDeriveFromRegistry(t *testing.T) {
	for _, cmd := range []string{"save", "restore"} {
		completion := mustRaftsnap(t, "__complete", "snapshot", cmd, "--source", "")
		help := mustRaftsnap(t, "snapshot", cmd, "--help")
		for _, spec := range source.Kinds() {
			if !strings.Contains(completion.stdout, string(spec.Kind)+"\t"+spec.Title+"\n") {
				t.Errorf("%s: completion of --source lacks %s:\n%s", cmd, spec.Kind, completion.stdout)
			}
			for _, env := range []string{spec.Env.Address, spec.Env.Token} {
				if env != "" && !strings.Contains(help.stdout, env) {
					t.Errorf("%s --help does not name %s:\n%s", cmd, env, help.stdout)
				}
			}
		}
		if !strings.Contains(help.stdout, "source kind: "+source.KindNames()) {
			t.Errorf("%s --help does not list the kinds:\n%s", cmd, help.stdout)
		}
	}
}

// TestCLIVendorEnvironment: wherever the consul CLI saves a snapshot from
// its environment alone, so does raftsnap; a variable naming a missing
// file is a usage error naming it.
func TestCLIVendorEnvironment(t *testing.T) {
	consul := testservers.StartConsul(t, testservers.ConsulOptions{UnixSocket: true})
	consulBin := testservers.Binary(t, "consul")
	dir := t.TempDir()
	for i, addr := range []string{strings.TrimPrefix(consul.Addr, "http://"), "unix://" + consul.Socket} {
		t.Setenv("CONSUL_HTTP_ADDR", addr)
		vendor(t, consulBin, []string{"CONSUL_HTTP_ADDR=" + addr}, "snapshot", "save", filepath.Join(dir, fmt.Sprintf("consul-%d.snap", i)))
		ours := filepath.Join(dir, fmt.Sprintf("raftsnap-%d.snap", i))
		r := mustRaftsnap(t, "snapshot", "save", "--source", "consul", ours)
		if !strings.Contains(r.stdout, "Saved "+ours) {
			t.Errorf("CONSUL_HTTP_ADDR=%s: %s", addr, r)
		}
	}

	t.Setenv("VAULT_ADDR", "") // empty counts as unset: the default https:// address
	t.Setenv("VAULT_CACERT", filepath.Join(dir, "nonexistent.pem"))
	r := raftsnap(t, "snapshot", "save", "--source", "vault", filepath.Join(dir, "vault.snap"))
	if r.code != ExitUsage || !strings.Contains(r.stderr, "environment variable VAULT_CACERT names "+filepath.Join(dir, "nonexistent.pem")+": no such file or directory") {
		t.Errorf("VAULT_CACERT naming a missing file: want exit %d naming it, got %s", ExitUsage, r)
	}
	assertOnlyFiles(t, dir, "consul-0.snap", "consul-1.snap", "raftsnap-0.snap", "raftsnap-1.snap")
}
