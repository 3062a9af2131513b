package source

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit/servers"
)

// testPKI is a throwaway CA with a server certificate for 127.0.0.1 and a
// client certificate, written as PEM files.
type testPKI struct {
	caFile, clientCert, clientKey string
	caPool                        *x509.CertPool
	server                        tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "raftsnap test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, name string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
			tmpl.DNSNames = []string{"consul.test"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	writePEM := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	p := &testPKI{caPool: x509.NewCertPool()}
	p.caPool.AddCert(caCert)
	p.caFile = writePEM("ca.pem", "CERTIFICATE", caDER)
	serverDER, serverKey := issue(2, "server", x509.ExtKeyUsageServerAuth)
	p.server = tls.Certificate{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}
	clientDER, clientKey := issue(3, "raftsnap", x509.ExtKeyUsageClientAuth)
	p.clientCert = writePEM("client.pem", "CERTIFICATE", clientDER)
	keyDER, _ := x509.MarshalECPrivateKey(clientKey)
	p.clientKey = writePEM("client-key.pem", "EC PRIVATE KEY", keyDER)
	return p
}

// startTLSProxy serves a reverse proxy to upstream over TLS with the test
// PKI, demanding a client certificate when requireClientCert.
func startTLSProxy(t *testing.T, pki *testPKI, upstream string, requireClientCert bool) string {
	t.Helper()
	target, _ := url.Parse(upstream)
	proxy := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	proxy.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12}
	if requireClientCert {
		proxy.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		proxy.TLS.ClientCAs = pki.caPool
	}
	// Rejected handshakes are the point of some cases; keep them out of the output.
	proxy.Config.ErrorLog = log.New(io.Discard, "", 0)
	proxy.StartTLS()
	t.Cleanup(proxy.Close)
	return proxy.URL
}

func TestTLSInFrontOfRealConsul(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	consul.PutKV(t, "tls/key", "value")
	pki := newTestPKI(t)
	ctx := testContext(t)
	addr := startTLSProxy(t, pki, consul.Addr, false)
	mtlsAddr := startTLSProxy(t, pki, consul.Addr, true)

	ok := func(name string, cfg Config) {
		t.Run(name, func(t *testing.T) {
			src := mustNew(t, cfg)
			var archive bytes.Buffer
			if _, err := src.Save(ctx, &archive); err != nil {
				t.Fatalf("save: %v", err)
			}
			verifyArchive(t, archive.Bytes(), src.VerifyOptions())
		})
	}
	// Failures are checked by class: a permanent *Error saying, in
	// raftsnap's own words, what went wrong, around the TLS error that
	// caused it (errors.As). The TLS library's wording is not checked: it
	// varies with timing (a rejected client certificate can surface as
	// "remote error: tls: ..." or "readLoopPeekFailLocked: remote error:
	// tls: ...", depending on which read sees the alert first).
	fails := func(name string, cfg Config, want string, cause func(error) bool) {
		t.Run(name, func(t *testing.T) {
			_, err := mustNew(t, cfg).Save(ctx, &bytes.Buffer{})
			var srcErr *Error
			if !errors.As(err, &srcErr) || !srcErr.Permanent() || !strings.Contains(err.Error(), want) || !cause(err) {
				t.Fatalf("err = %v; want a permanent *Error saying %q, caused by the TLS error of this case", err, want)
			}
			t.Logf("%v", err)
		})
	}

	ok("CA file", Config{Kind: Consul, Address: addr, TLS: TLSConfig{CAFile: pki.caFile}})
	ok("server name", Config{Kind: Consul, Address: addr, TLS: TLSConfig{CAFile: pki.caFile, ServerName: "consul.test"}})
	ok("insecure skip verify", Config{Kind: Consul, Address: addr, TLS: TLSConfig{InsecureSkipVerify: true}})
	ok("client certificate", Config{Kind: Consul, Address: mtlsAddr,
		TLS: TLSConfig{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}})

	fails("no CA", Config{Kind: Consul, Address: addr}, "TLS certificate not trusted", func(err error) bool {
		var unknown x509.UnknownAuthorityError
		return errors.As(err, &unknown)
	})
	fails("wrong server name", Config{Kind: Consul, Address: addr, TLS: TLSConfig{CAFile: pki.caFile, ServerName: "other.test"}},
		"TLS certificate not trusted", func(err error) bool {
			var hostname x509.HostnameError
			return errors.As(err, &hostname) && hostname.Host == "other.test"
		})
	fails("client certificate missing", Config{Kind: Consul, Address: mtlsAddr, TLS: TLSConfig{CAFile: pki.caFile}},
		"TLS handshake rejected by the server", isRemoteAlert)
	fails("https to plain http", Config{Kind: Consul, Address: strings.Replace(consul.Addr, "http:", "https:", 1)},
		// net/http reports this one with an untyped error: the
		// permanent *Error's own message is the class.
		"the server speaks plain HTTP, not HTTPS", func(error) bool { return true })
}

// isRemoteAlert reports whether err carries a TLS alert sent by the peer,
// which crypto/tls returns as a *net.OpError with Op "remote error".
func isRemoteAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}
