package source

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit/servers"
)

// TestTokenNeverInErrorsOrLogs drives every failure path with a token set
// and prints the errors and the sources every way a caller might: fmt
// verbs, slog text and JSON, encoding/json.
func TestTokenNeverInErrorsOrLogs(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{ACL: true})
	ctx := testContext(t)
	token := Secret(testToken)
	pki := newTestPKI(t)

	sources := []Source{
		mustNew(t, Config{Kind: Consul, Address: consul.Addr, Token: token}), // 403 ACL not found
		// Port 1 (tcpmux), privileged and unused: refused for certain, where
		// a port free a moment ago may be taken by another test meanwhile.
		mustNew(t, Config{Kind: Consul, Address: "http://127.0.0.1:1", Token: token}),                                                   // refused
		mustNew(t, Config{Kind: Consul, Address: startTLSProxy(t, pki, consul.Addr, false), Token: token}),                              // x509
		mustNew(t, Config{Kind: Consul, Address: startFaultProxy(t, consul.Addr, "cut-length"), Token: Secret(consul.ManagementToken)}), // cut
		mustNew(t, Config{Kind: Nomad, Address: startFaultProxy(t, consul.Addr, "500"), Token: token}),                                  // 500
	}
	var errs []error
	for _, src := range sources {
		_, err := src.Save(ctx, &bytes.Buffer{})
		if err == nil {
			t.Fatalf("%s: save succeeded, want an error", src)
		}
		errs = append(errs, err)
		if err := src.Restore(ctx, strings.NewReader("x"), 1); err != nil {
			errs = append(errs, err)
		}
	}
	_, err := New(Config{Kind: Consul, Address: "http://user:" + testToken + "@127.0.0.1:1", Token: token})
	errs = append(errs, err)
	_, err = New(Config{Kind: Consul, Address: "http://127.0.0.1:1", Token: Secret(testToken + "\n")})
	errs = append(errs, err)

	var out bytes.Buffer
	text := slog.New(slog.NewTextHandler(&out, nil))
	jsonLog := slog.New(slog.NewJSONHandler(&out, nil))
	for _, e := range errs {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			fmt.Fprintf(&out, verb+"\n", e)
		}
		text.Error("save failed", "err", e)
		jsonLog.Error("save failed", "err", e)
		data, _ := json.Marshal(e)
		out.Write(data)
	}
	for _, src := range sources {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			fmt.Fprintf(&out, verb+"\n", src)
		}
		text.Info("source", "src", src)
		jsonLog.Info("source", "src", src)
	}
	if strings.Contains(out.String(), testToken) || strings.Contains(out.String(), consul.ManagementToken) {
		t.Fatalf("a token leaked into this output:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "connection refused") || !strings.Contains(out.String(), "403 from consul") {
		t.Fatalf("the failures did not happen as planned:\n%s", out.String())
	}
}
