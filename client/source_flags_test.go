package client

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot/source"
)

// TestSourceFlagsDeriveFromRegistry: every registered kind is offered by
// shell completion of --source and named in the help, with its variables;
// restore leaves out the kinds that cannot be restored into.
func TestSourceFlagsDeriveFromRegistry(t *testing.T) {
	for _, cmd := range []string{"save", "restore"} {
		completion := mustRaftsnap(t, "__complete", "snapshot", cmd, "--source", "")
		help := mustRaftsnap(t, "snapshot", cmd, "--help")
		offered := func(s source.Spec) bool { return cmd == "save" || s.NoRestoreReason == "" }
		for _, spec := range source.Kinds() {
			if got := strings.Contains(completion.Stdout, string(spec.Kind)+"\t"+spec.Title+"\n"); got != offered(spec) {
				t.Errorf("%s: completion of --source offers %s: %v, want %v:\n%s", cmd, spec.Kind, got, offered(spec), completion.Stdout)
			}
			for _, env := range []string{spec.Env.Address, spec.Env.Token} {
				if env != "" && !strings.Contains(help.Stdout, env) {
					t.Errorf("%s --help does not name %s:\n%s", cmd, env, help.Stdout)
				}
			}
		}
		if !strings.Contains(help.Stdout, "source kind: "+source.JoinKinds(offered, "or")+" (required)") {
			t.Errorf("%s --help does not list the kinds:\n%s", cmd, help.Stdout)
		}
	}
}

// TestCLIVendorEnvironment: wherever the consul CLI saves a snapshot from
// its environment alone, so does raftsnap; a variable naming a missing
// file is a usage error naming it.
func TestCLIVendorEnvironment(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{UnixSocket: true})
	consulBin := servers.Binary(t, "consul")
	dir := t.TempDir()
	for i, addr := range []string{strings.TrimPrefix(consul.Addr, "http://"), "unix://" + consul.Socket} {
		t.Setenv("CONSUL_HTTP_ADDR", addr)
		vendor(t, consulBin, []string{"CONSUL_HTTP_ADDR=" + addr}, "snapshot", "save", filepath.Join(dir, fmt.Sprintf("consul-%d.snap", i)))
		ours := filepath.Join(dir, fmt.Sprintf("raftsnap-%d.snap", i))
		r := mustRaftsnap(t, "snapshot", "save", "--source", "consul", ours)
		if !strings.Contains(r.Stdout, "Saved "+ours) {
			t.Errorf("CONSUL_HTTP_ADDR=%s: %s", addr, r)
		}
	}

	t.Setenv("VAULT_ADDR", "") // empty counts as unset: the default https:// address
	t.Setenv("VAULT_CACERT", filepath.Join(dir, "nonexistent.pem"))
	r := raftsnap(t, "snapshot", "save", "--source", "vault", filepath.Join(dir, "vault.snap"))
	if r.Code != ExitUsage || !strings.Contains(r.Stderr, "environment variable VAULT_CACERT names "+filepath.Join(dir, "nonexistent.pem")+": no such file or directory") {
		t.Errorf("VAULT_CACERT naming a missing file: want exit %d naming it, got %s", ExitUsage, r)
	}
	assertOnlyFiles(t, dir, "consul-0.snap", "consul-1.snap", "raftsnap-0.snap", "raftsnap-1.snap")
}

// TestCLISaveNeverPrintsTheToken: a 200 body beginning with the request's
// token fails verification, whose message quotes the first bytes; the
// token must not reach the terminal, whether the verifier stops the
// download (a long body) or refuses the archive at its end (a short one).
func TestCLISaveNeverPrintsTheToken(t *testing.T) {
	const token = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
	t.Setenv("RAFTSNAP_RAFT_TOKEN", token)
	for _, size := range []int{0, 8 << 20} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("X-Raft-Index", r.Header.Get("X-Raft-Token"))
			fmt.Fprintf(w, "%s is not an archive%s", r.Header.Get("X-Raft-Token"), strings.Repeat(".", size))
		}))
		dir := t.TempDir()
		r := raftsnap(t, "snapshot", "save", "--source", "raft", "--address", srv.URL, filepath.Join(dir, "x.snap"))
		srv.Close()
		if r.Code != ExitInvalid || !strings.Contains(r.Stderr, "not gzip") || !strings.Contains(r.Stderr, "[redacted]") {
			t.Fatalf("%d bytes more: want exit %d quoting a redacted body: %s", size, ExitInvalid, r)
		}
		for i := 0; i+source.MinTokenFragment <= len(token); i++ {
			if frag := token[i : i+source.MinTokenFragment]; strings.Contains(r.Stdout+r.Stderr, frag) {
				t.Fatalf("%d bytes more: a piece of the token (%q) was printed: %s", size, frag, r)
			}
		}
		assertOnlyFiles(t, dir)
	}
}
