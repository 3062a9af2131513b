package drill

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot/statebin"
)

func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "server")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestProbe(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name, body, want string
	}{
		{"consul", "echo 'Consul v1.22.7'; echo 'Build Date 1970-01-01T00:00:01Z'", "consul 1.22.7"},
		{"nomad", "echo 'Nomad v1.11.3'", "nomad 1.11.3"},
		{"enterprise", "echo 'Consul v1.21.0+ent'", "consul 1.21.0+ent"},
		{"vault", "echo 'Vault v1.21.4 (abc), built 2026-01-01'", "vault 1.21.4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := Probe(ctx, script(t, c.body))
			if err != nil || b.String() != c.want {
				t.Fatalf("Probe = %v, %v; want %s", b, err, c.want)
			}
		})
	}
	for _, c := range []struct {
		name, path, want string
	}{
		{"missing", "/nonexistent/consul", "binary .../consul does not exist: install the server binary there or change binary"},
		{"not a server", script(t, "echo 'GNU coreutils 9.1'"), `is not a consul or nomad binary: ` + "`" + `.../server version` + "`" + ` printed "GNU coreutils 9.1"`},
		{"failing", script(t, "echo oops >&2; exit 4"), `failed (exit status 4) and printed "oops"`},
		{"directory", t.TempDir(), "is a directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Probe(ctx, c.path)
			got := ""
			if err != nil {
				got = strings.ReplaceAll(err.Error(), filepath.Dir(c.path), "...")
			}
			if err == nil || !strings.Contains(got, c.want) {
				t.Fatalf("Probe(%s) = %v, want %q", c.path, err, c.want)
			}
		})
	}
	t.Run("hangs", func(t *testing.T) {
		defer func(d time.Duration) { probeTimeout = d }(probeTimeout)
		probeTimeout = 300 * time.Millisecond
		began := time.Now()
		_, err := Probe(ctx, script(t, "sleep 60 & wait"))
		if err == nil || !strings.Contains(err.Error(), "did not answer within 300ms") || time.Since(began) > 5*time.Second {
			t.Fatalf("Probe of a hanging binary = %v after %s", err, time.Since(began))
		}
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := Probe(ctx, script(t, "sleep 60")); err == nil {
			t.Fatal("Probe with a canceled context succeeded")
		}
	})
}

func TestStartRefusesVault(t *testing.T) {
	_, err := Start(context.Background(), Options{Binary: Binary{Kind: Vault, Version: Version{Major: 1, Text: "1.21.4"}}, TempDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "vault 1.21.4 cannot be drilled") {
		t.Fatalf("Start of vault = %v", err)
	}
}

func TestCheckVersions(t *testing.T) {
	bin := Binary{Kind: Consul, Version: Version{Major: 1, Minor: 22, Patch: 7, Text: "1.22.7"}}
	v := func(s string) Version {
		x, ok := ParseVersion(s)
		if !ok {
			t.Fatalf("ParseVersion(%q) failed", s)
		}
		return x
	}
	if p := CheckVersions(bin, []Version{v("1.22.7"), v("1.15.2")}); p != "" {
		t.Errorf("same major refused: %s", p)
	}
	if p := CheckVersions(bin, nil); p != "" {
		t.Errorf("unknown source version refused: %s", p)
	}
	p := CheckVersions(bin, []Version{v("2.0.1")})
	if !strings.Contains(p, "the snapshot's cluster runs consul 2.0.1") || !strings.Contains(p, "a consul binary of major version 2") {
		t.Errorf("other major: %q", p)
	}
	if _, ok := ParseVersion("latest"); ok {
		t.Error("ParseVersion accepted latest")
	}
}

func TestCompare(t *testing.T) {
	for _, c := range []struct {
		name      string
		archive   uint64
		l         listed
		deletions string
		result    string
		note      string
	}{
		{"equal", 3, listed{total: 3, index: 10}, "", controlapi.CheckMatch, ""},
		{"server's own left out", 3, listed{total: 4, after: 1, index: 30}, "", controlapi.CheckMatch, "1 created by the throwaway server after the restore, not counted"},
		{"missing", 3, listed{total: 2, index: 10}, "it may delete", controlapi.CheckMismatch, ""},
		{"extra", 3, listed{total: 4, index: 10}, "", controlapi.CheckMismatch, ""},
		{"deleted by the server since", 3, listed{total: 2, index: 25}, "it may delete", controlapi.CheckNotCompared, "it may delete"},
		{"shortfall where nothing deletes", 3, listed{total: 2, index: 25}, "", controlapi.CheckMismatch, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := compare(CheckKVKeys, c.archive, c.l, 20, c.deletions)
			if got.Result != c.result || got.Note != c.note || got.Archive != c.archive {
				t.Fatalf("compare = %+v, want %s %q", got, c.result, c.note)
			}
		})
	}
	r := &Result{Checks: []controlapi.DrillCheck{
		{Name: CheckRaftIndex, Archive: 30, Server: 12, Result: controlapi.CheckMismatch},
		{Name: CheckKVKeys, Archive: 3, Server: 2, Result: controlapi.CheckMismatch},
		{Name: CheckJobs, Archive: 1, Server: 1, Result: controlapi.CheckMatch},
	}}
	if got := r.Mismatches(); got != "raft index: the restored server is at 12, below the snapshot's 30; KV keys: 3 in the archive, 2 on the restored server" {
		t.Errorf("Mismatches = %q", got)
	}
}

func TestRecords(t *testing.T) {
	sum := &statebin.Summary{Types: []statebin.TypeStats{
		{Name: "KVS", Known: true, Count: 5}, {Name: "Register", Known: true, Count: 6}, {Name: "unknown(99)", Count: 2},
	}}
	if records(sum, recordKVS) != 5 || records(sum, recordRegister) != 6 || records(sum, recordACLToken) != 0 {
		t.Fatal("records counts the wrong types")
	}
}

func TestExitHint(t *testing.T) {
	log := `==> 1 error occurred:
	* bind_addr: error parsing "127.0.0.1": unable to query interface addresses: route ip+net: netlinkrib: address family not supported by protocol`
	if h := exitHint(log); !strings.Contains(h, "AF_NETLINK") {
		t.Errorf("no hint for a refused netlink socket: %q", h)
	}
	if h := exitHint("panic: something else"); h != "" {
		t.Errorf("hint for another cause: %q", h)
	}
}
