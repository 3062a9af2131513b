package client

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
)

// TestStoreDisasterRecovery is docs/storage-recovery.md as a test. A
// Consul cluster's snapshots are in a bucket; its host is gone. On a "new
// machine" (the built binary, a fresh home and working directory, an
// environment holding only PATH and the store's credentials, no
// configuration file) the operator lists the bucket, fetches the latest
// snapshot and restores it into a fresh cluster, where the data is back.
// No credential appears in any output, and nothing but the fetched file is
// left on the new machine.
func TestStoreDisasterRecovery(t *testing.T) {
	bin := testkit.Raftsnap(t)
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) (url string, env []string, secret string)
	}{
		{"s3", func(t *testing.T) (string, []string, string) {
			gw := versityBackups(t)
			return "s3://backups/consul-main/?endpoint=" + gw.Endpoint + "&region=us-east-1&use_path_style=true", gw.Env(), gw.SecretKey
		}},
		{"azure", func(t *testing.T) (string, []string, string) {
			az := servers.StartAzurite(t)
			az.SetEnv(t)
			az.CreateContainer(t, "backups")
			return "azblob://backups/consul-main/?endpoint=" + az.Endpoint, az.Env(), servers.AzuriteKey
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, env, secret := tc.start(t)

			// The old machine: two snapshots put into the store.
			old := servers.StartConsul(t, servers.ConsulOptions{})
			dir := t.TempDir()
			old.PutKV(t, "app/config", "v1")
			first := filepath.Join(dir, "first.snap")
			mustRaftsnap(t, "snapshot", "save", "--source", "consul", "--address", old.Addr, first)
			mustRaftsnap(t, "store", "put", "--store", url, "--job", "consul-main", first)
			old.PutKV(t, "app/config", "v2")
			old.PutKV(t, "app/extra", "x")
			second := filepath.Join(dir, "second.snap")
			mustRaftsnap(t, "snapshot", "save", "--source", "consul", "--address", old.Addr, "--format", "json", second)
			mustRaftsnap(t, "store", "put", "--store", url, "--job", "consul-main", second)

			// The new machine.
			home := t.TempDir()
			tmp := filepath.Join(home, "tmp")
			if err := os.Mkdir(tmp, 0o700); err != nil {
				t.Fatal(err)
			}
			newEnv := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + tmp}, env...)
			var outputs strings.Builder
			run := func(args ...string) string {
				t.Helper()
				cmd := exec.Command(bin, args...)
				cmd.Env, cmd.Dir = newEnv, home
				var stdout, stderr strings.Builder
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				outputs.WriteString(stdout.String() + stderr.String())
				if err != nil {
					t.Fatalf("raftsnap %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
				}
				return stdout.String()
			}

			var l storeListJSON
			if err := json.Unmarshal([]byte(run("store", "list", "--store", url, "--format", "json")), &l); err != nil {
				t.Fatal(err)
			}
			if len(l.Snapshots) != 2 || l.Latest != l.Snapshots[0].Name || !l.Snapshots[0].Verified || l.Snapshots[0].Index <= l.Snapshots[1].Index {
				t.Fatalf("list on the new machine: %+v", l)
			}
			got := run("store", "get", "--store", url, "latest", "consul.snap")
			if !strings.Contains(got, "Fetched "+l.Latest) {
				t.Fatalf("get latest: %s", got)
			}
			run("snapshot", "verify", "consul.snap")

			fresh := servers.StartConsul(t, servers.ConsulOptions{})
			if _, ok := fresh.GetKV(t, "app/config"); ok {
				t.Fatal("the fresh cluster already has the data")
			}
			run("snapshot", "restore", "--source", "consul", "--address", fresh.Addr, "--yes", "consul.snap")
			if v, _ := fresh.GetKV(t, "app/config"); v != "v2" {
				t.Fatalf("after the restore app/config = %q, want v2 (the latest snapshot's)", v)
			}
			if v, _ := fresh.GetKV(t, "app/extra"); v != "x" {
				t.Fatalf("after the restore app/extra = %q, want x", v)
			}

			if strings.Contains(outputs.String(), secret) {
				t.Fatalf("the store's secret appeared in the output:\n%s", outputs.String())
			}
			assertOnlyFiles(t, home, "consul.snap", "tmp")
			assertOnlyFiles(t, tmp)
		})
	}
}
