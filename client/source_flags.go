package client

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/raftsnap/raftsnap/snapshot/source"
)

// sourceOptions are the flags that name a source (consul, nomad, vault or
// raft) and how to reach it. Shared by `snapshot save` and `snapshot restore`.
type sourceOptions struct {
	kind           string
	address        string
	tokenFile      string
	tokenEnv       string
	stale          bool
	datacenter     string
	region         string
	namespace      string
	caFile         string
	certFile       string
	keyFile        string
	serverName     string
	insecure       bool
	connectTimeout time.Duration
	timeout        time.Duration
}

func (o *sourceOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.kind, "source", "", "source kind: consul, nomad, vault or raft (required)")
	fs.StringVar(&o.address, "address", "", "source URL (default: $CONSUL_HTTP_ADDR, $NOMAD_ADDR or $VAULT_ADDR, else the vendor's local default)")
	fs.StringVar(&o.tokenFile, "token-file", "", "read the ACL token from this file")
	fs.StringVar(&o.tokenEnv, "token-env", "", "read the ACL token from this environment variable (default: CONSUL_HTTP_TOKEN, NOMAD_TOKEN or VAULT_TOKEN)")
	fs.BoolVar(&o.stale, "stale", false, "let any server answer, not only the leader (works without a leader; may be slightly behind)")
	fs.StringVar(&o.datacenter, "datacenter", "", "consul: datacenter to query")
	fs.StringVar(&o.region, "region", "", "nomad: region to query")
	fs.StringVar(&o.namespace, "namespace", "", "vault: namespace (X-Vault-Namespace)")
	fs.StringVar(&o.caFile, "ca-file", "", "PEM CA bundle to verify the server's certificate")
	fs.StringVar(&o.certFile, "client-cert", "", "PEM client certificate for mutual TLS")
	fs.StringVar(&o.keyFile, "client-key", "", "PEM key of --client-cert")
	fs.StringVar(&o.serverName, "tls-server-name", "", "server name expected in the server's certificate")
	fs.BoolVar(&o.insecure, "tls-skip-verify", false, "do not verify the server's certificate (insecure; for tests only)")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", 10*time.Second, "bound on connecting and the TLS handshake")
	fs.DurationVar(&o.timeout, "timeout", 0, "bound on the whole transfer (0: none; Ctrl-C cancels)")
}

// vendorAddress is, per kind, the environment variable the vendor's CLI
// reads its address from and the local default; raftsnap follows them so
// that it works wherever `consul snapshot save` already does.
var vendorAddress = map[source.Kind]struct{ env, fallback string }{
	source.Consul: {"CONSUL_HTTP_ADDR", "http://127.0.0.1:8500"},
	source.Nomad:  {"NOMAD_ADDR", "http://127.0.0.1:4646"},
	source.Vault:  {"VAULT_ADDR", "https://127.0.0.1:8200"},
}

func defaultAddress(kind source.Kind) string {
	v, ok := vendorAddress[kind]
	if !ok {
		return ""
	}
	if addr := os.Getenv(v.env); addr != "" {
		return addr
	}
	return v.fallback
}

func (o *sourceOptions) config(logger *slog.Logger) (source.Config, error) {
	kind := source.Kind(o.kind)
	switch kind {
	case source.Consul, source.Nomad, source.Vault, source.Raft:
	case "":
		return source.Config{}, usageError(fmt.Errorf("--source is required: consul, nomad, vault or raft"))
	default:
		return source.Config{}, usageError(fmt.Errorf("unknown --source %q: use consul, nomad, vault or raft", o.kind))
	}
	address := o.address
	if address == "" {
		address = defaultAddress(kind)
	}
	if address == "" {
		return source.Config{}, usageError(fmt.Errorf("--address is required for --source %s", kind))
	}
	tokenEnv := o.tokenEnv
	if tokenEnv == "" && o.tokenFile == "" {
		tokenEnv = source.DefaultTokenEnv(kind)
	}
	token, err := source.LoadToken(o.tokenFile, tokenEnv, logger)
	if err != nil {
		return source.Config{}, usageError(err)
	}
	return source.Config{
		Kind:       kind,
		Address:    address,
		Token:      token,
		Stale:      o.stale,
		Datacenter: o.datacenter,
		Region:     o.region,
		Namespace:  o.namespace,
		TLS: source.TLSConfig{
			CAFile:             o.caFile,
			CertFile:           o.certFile,
			KeyFile:            o.keyFile,
			ServerName:         o.serverName,
			InsecureSkipVerify: o.insecure,
		},
		ConnectTimeout: o.connectTimeout,
		Timeout:        o.timeout,
	}, nil
}

func (o *sourceOptions) build(logger *slog.Logger) (source.Source, error) {
	cfg, err := o.config(logger)
	if err != nil {
		return nil, err
	}
	src, err := source.New(cfg)
	if err != nil {
		return nil, usageError(err)
	}
	return src, nil
}
