package source

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// DefaultConnectTimeout bounds dialing plus the TLS handshake when
// Config.ConnectTimeout is 0.
const DefaultConnectTimeout = 10 * time.Second

// NewTLSConfig builds the client TLS configuration: TLS 1.2 or newer, the
// CA file as the only roots when given (the system roots otherwise), the
// client certificate when given. Verification is skipped only when
// InsecureSkipVerify is set.
func NewTLSConfig(cfg TLSConfig) (*tls.Config, error) {
	tlsCfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         cfg.ServerName,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // explicit opt-in only
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, &ConfigError{Field: "tls.ca_file", Reason: "cannot read CA file: " + err.Error(), Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &ConfigError{Field: "tls.ca_file", Reason: fmt.Sprintf("%s holds no PEM certificate", cfg.CAFile)}
		}
		tlsCfg.RootCAs = pool
	}
	switch {
	case cfg.CertFile != "" && cfg.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, &ConfigError{Field: "tls.cert_file", Reason: "cannot load client certificate and key: " + err.Error(), Err: err}
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	case cfg.CertFile != "":
		return nil, &ConfigError{Field: "tls.key_file", Reason: "tls.cert_file is set but tls.key_file is not: give both or neither"}
	case cfg.KeyFile != "":
		return nil, &ConfigError{Field: "tls.cert_file", Reason: "tls.key_file is set but tls.cert_file is not: give both or neither"}
	}
	return tlsCfg, nil
}

// newHTTPClient builds the HTTP client every source uses:
//
//   - Proxy environment variables (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) are
//     ignored: a daemon inheriting a proxy meant for something else must not
//     send tokens and snapshots through it.
//   - Redirects are not followed (a token header would follow them to
//     another host); a 3xx becomes a permanent Error naming the Location.
//   - Compression is off so the archive arrives byte for byte as the server
//     sent it.
//   - ConnectTimeout (default 10s) bounds dialing and the TLS handshake;
//     Timeout, when non-zero, bounds each whole request, body included.
//   - With a socket path, every connection is dialled to that unix socket.
func newHTTPClient(cfg Config, socket string) (*http.Client, error) {
	tlsCfg, err := NewTLSConfig(cfg.TLS)
	if err != nil {
		return nil, err
	}
	connectTimeout := cfg.ConnectTimeout
	if connectTimeout <= 0 {
		connectTimeout = DefaultConnectTimeout
	}
	dialer := &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	dial := dialer.DialContext
	if socket != "" {
		dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", socket)
		}
	}
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         dial,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: connectTimeout,
		DisableCompression:  true,
		MaxIdleConns:        4,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}
