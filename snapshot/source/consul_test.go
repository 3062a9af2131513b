package source

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
)

var testContext = testkit.Context

func mustNew(t *testing.T, cfg Config) Source {
	t.Helper()
	src, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return src
}

func TestConsulSaveVerifyRestore(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	ctx := testContext(t)
	consul.PutKV(t, "app/a", "one")
	consul.PutKV(t, "app/b", "two")

	src := mustNew(t, Config{Kind: Consul, Address: consul.Addr})
	var archive bytes.Buffer
	res, err := src.Save(ctx, &archive)
	if err != nil {
		t.Fatalf("consistent save: %v", err)
	}
	if res.Bytes != int64(archive.Len()) || res.Bytes == 0 {
		t.Fatalf("SaveResult.Bytes = %d, buffer holds %d", res.Bytes, archive.Len())
	}
	index, err := strconv.ParseUint(res.Headers["X-Consul-Index"], 10, 64)
	if err != nil || index == 0 {
		t.Fatalf("X-Consul-Index not recorded: %v", res.Headers)
	}
	if res.Headers["X-Consul-KnownLeader"] != "true" || res.Headers["X-Consul-LastContact"] == "" {
		t.Fatalf("leader headers not recorded: %v", res.Headers)
	}
	if res.Digest != "" {
		t.Fatalf("consul sends no Digest, yet Digest = %q", res.Digest)
	}
	report := verifyArchive(t, archive.Bytes(), src.VerifyOptions())
	if report.Meta.Index == 0 || report.Sealed {
		t.Fatalf("unexpected report: index %d sealed %v", report.Meta.Index, report.Sealed)
	}

	stale := mustNew(t, Config{Kind: Consul, Address: consul.Addr, Stale: true, Datacenter: "dc1"})
	var staleArchive bytes.Buffer
	if _, err := stale.Save(ctx, &staleArchive); err != nil {
		t.Fatalf("stale save: %v", err)
	}
	verifyArchive(t, staleArchive.Bytes(), stale.VerifyOptions())

	consul.PutKV(t, "app/a", "changed")
	consul.MustDo(t, http.MethodDelete, "/v1/kv/app/b", "", nil)
	consul.PutKV(t, "app/c", "new")

	if err := src.Restore(ctx, bytes.NewReader(archive.Bytes()), int64(archive.Len())); err != nil {
		t.Fatalf("restore: %v", err)
	}
	for key, want := range map[string]string{"app/a": "one", "app/b": "two"} {
		if got, ok := consul.GetKV(t, key); !ok || got != want {
			t.Errorf("after restore %s = %q (exists %v), want %q", key, got, ok, want)
		}
	}
	if got, ok := consul.GetKV(t, "app/c"); ok {
		t.Errorf("after restore app/c still exists (%q)", got)
	}
}

func TestConsulUnknownDatacenterIsAClearError(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	src := mustNew(t, Config{Kind: Consul, Address: consul.Addr, Datacenter: "nowhere"})
	_, err := src.Save(testContext(t), &bytes.Buffer{})
	var srcErr *Error
	if !errors.As(err, &srcErr) {
		t.Fatalf("err = %v, want *Error", err)
	}
	t.Logf("unknown dc: %v (permanent %v)", err, srcErr.Permanent())
	if srcErr.StatusCode != http.StatusInternalServerError || !strings.Contains(err.Error(), "dc=nowhere: No path to datacenter") {
		t.Fatalf("err = %v", err)
	}
}

func TestConsulACL(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{ACL: true})
	ctx := testContext(t)
	readOnly := consul.CreateConsulToken(t, "read-only", `acl = "read"
key_prefix "" { policy = "read" }`)
	aclWrite := consul.CreateConsulToken(t, "snapshot", `acl = "write"`)

	t.Run("no token", func(t *testing.T) {
		src := mustNew(t, Config{Kind: Consul, Address: consul.Addr})
		_, err := src.Save(ctx, &bytes.Buffer{})
		assertStatusError(t, err, http.StatusForbidden, true, "Permission denied")
	})
	t.Run("acl read is not enough", func(t *testing.T) {
		src := mustNew(t, Config{Kind: Consul, Address: consul.Addr, Token: Secret(readOnly)})
		var buf bytes.Buffer
		_, err := src.Save(ctx, &buf)
		srcErr := assertStatusError(t, err, http.StatusForbidden, true, "Permission denied")
		if !strings.HasPrefix(err.Error(), "403 from consul at "+consul.Addr+"/v1/snapshot: ") || srcErr.Op != OpSave {
			t.Fatalf("message shape: %q", err)
		}
		if strings.Contains(err.Error(), readOnly) || buf.Len() != 0 {
			t.Fatalf("token in error or bytes written: %q, %d bytes", err, buf.Len())
		}
		err = src.Restore(ctx, strings.NewReader("not an archive"), 14)
		assertStatusError(t, err, http.StatusForbidden, true, "Permission denied")
	})
	t.Run("unknown token", func(t *testing.T) {
		bogus := "00000000-0000-4000-8000-000000000000"
		src := mustNew(t, Config{Kind: Consul, Address: consul.Addr, Token: Secret(bogus)})
		_, err := src.Save(ctx, &bytes.Buffer{})
		assertStatusError(t, err, http.StatusForbidden, true, "ACL not found")
		if strings.Contains(err.Error(), bogus) {
			t.Fatalf("token in error: %v", err)
		}
	})
	t.Run("acl write saves and restores", func(t *testing.T) {
		src := mustNew(t, Config{Kind: Consul, Address: consul.Addr, Token: Secret(aclWrite)})
		var archive bytes.Buffer
		if _, err := src.Save(ctx, &archive); err != nil {
			t.Fatalf("save with acl = write: %v", err)
		}
		verifyArchive(t, archive.Bytes(), src.VerifyOptions())
		if err := src.Restore(ctx, bytes.NewReader(archive.Bytes()), int64(archive.Len())); err != nil {
			t.Fatalf("restore with acl = write: %v", err)
		}
	})
}

// assertStatusError checks an HTTP-status *Error and returns it.
func assertStatusError(t *testing.T, err error, status int, permanent bool, msg string) *Error {
	t.Helper()
	var srcErr *Error
	if !errors.As(err, &srcErr) {
		t.Fatalf("err = %v (%T), want *source.Error", err, err)
	}
	if srcErr.StatusCode != status || srcErr.Permanent() != permanent || !strings.Contains(err.Error(), msg) {
		t.Fatalf("err = %q status %d permanent %v; want status %d permanent %v containing %q",
			err, srcErr.StatusCode, srcErr.Permanent(), status, permanent, msg)
	}
	return srcErr
}
