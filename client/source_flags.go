package client

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

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

func (o *sourceOptions) addFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&o.kind, "source", "", "source kind: "+source.KindNames()+" (required)")
	fs.StringVar(&o.address, "address", "", "source URL (default: "+envList(func(e source.EnvVars) string { return e.Address }, "$")+", else the vendor's local default)")
	fs.StringVar(&o.tokenFile, "token-file", "", "read the ACL token from this file")
	fs.StringVar(&o.tokenEnv, "token-env", "", "read the ACL token from this environment variable (default: "+envList(func(e source.EnvVars) string { return e.Token }, "")+")")
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
	_ = cmd.RegisterFlagCompletionFunc("source", completeSourceKinds)
}

// completeSourceKinds offers the registered kinds, each with what it talks to.
func completeSourceKinds(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	var kinds []string
	for _, spec := range source.Kinds() {
		kinds = append(kinds, string(spec.Kind)+"\t"+spec.Title)
	}
	return kinds, cobra.ShellCompDirectiveNoFileComp
}

// envList names one environment variable of every kind that has it, for
// help texts: "$CONSUL_HTTP_ADDR, $NOMAD_ADDR or $VAULT_ADDR".
func envList(pick func(source.EnvVars) string, prefix string) string {
	var names []string
	for _, spec := range source.Kinds() {
		if name := pick(spec.Env); name != "" {
			names = append(names, prefix+name)
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// defaultAddress follows the vendor's CLI (its address variable, else its
// local default) so that raftsnap works wherever `consul snapshot save`
// already does.
func defaultAddress(spec source.Spec) string {
	if spec.Env.Address != "" {
		if addr := os.Getenv(spec.Env.Address); addr != "" {
			return addr
		}
	}
	return spec.DefaultAddress
}

func (o *sourceOptions) config(logger *slog.Logger) (source.Config, error) {
	kind := source.Kind(o.kind)
	spec, known := source.Lookup(kind)
	switch {
	case kind == "":
		return source.Config{}, usageError(fmt.Errorf("--source is required: %s", source.KindNames()))
	case !known:
		return source.Config{}, usageError(fmt.Errorf("unknown --source %q: use %s", o.kind, source.KindNames()))
	}
	address := o.address
	if address == "" {
		address = defaultAddress(spec)
	}
	if address == "" {
		return source.Config{}, usageError(fmt.Errorf("--address is required for --source %s", kind))
	}
	tokenEnv := o.tokenEnv
	if tokenEnv == "" && o.tokenFile == "" {
		tokenEnv = spec.Env.Token
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
