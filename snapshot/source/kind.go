package source

import (
	"fmt"
	"sort"
	"strings"

	"github.com/raftsnap/raftsnap/snapshot"
)

// Kind names a type of source.
type Kind string

// Spec is everything that differs between kinds of source: how the
// server's snapshot API is called and how the vendor's own CLI is
// configured, or, for a kind that reads files instead (raft-dir), what it
// reads. Each kind registers its spec from a file of its own (consul.go,
// nomad.go, vault.go, raft.go, raftdir.go); config validation, the CLI's
// flags, help and completion, and the tables of docs/sources.md derive
// from the registered specs, so adding a kind means adding one file.
type Spec struct {
	Kind Kind
	// Title says what the kind talks to, for help and docs.
	Title string
	// DefaultAddress is where the vendor's CLI looks when no address is
	// given; empty when an address must always be given.
	DefaultAddress string
	// SchemelessAddress: "HOST:PORT" means http://HOST:PORT (https:// when
	// the Env.HTTPS variable is true), as the vendor's CLI reads it.
	SchemelessAddress bool
	// UnixSocket: "unix:///path/to/socket" reaches the server over a unix
	// socket, as the vendor's CLI allows.
	UnixSocket bool
	// Env names the environment variables the vendor's CLI reads.
	Env EnvVars

	// Path is the snapshot endpoint: GET saves, RestoreMethod restores.
	Path          string
	RestoreMethod string
	// ForceRestorePath, when set, is the restore endpoint that skips the
	// server's own safety check (Config.ForceRestore).
	ForceRestorePath string
	// TokenHeader carries the token.
	TokenHeader string
	// StaleQuery is the query that lets any server answer ("stale" or
	// "stale=true"); empty when the kind has no stale mode, and
	// NoStaleReason then says why.
	StaleQuery    string
	NoStaleReason string
	// DatacenterParam and RegionParam are the query parameters carrying
	// Config.Datacenter and Config.Region; NamespaceHeader is the header
	// carrying Config.Namespace. Empty when the kind has no such option.
	DatacenterParam string
	RegionParam     string
	NamespaceHeader string
	// RecordHeaders are the response headers recorded with each snapshot.
	RecordHeaders []string
	// CheckDigest: the server sends a Digest header, checked against the
	// bytes received.
	CheckDigest bool
	// RequireSealed: the kind's archives carry SHA256SUMS.sealed, which
	// verification then requires.
	RequireSealed bool
	// Flavor is the only flavour of archive the kind's servers can restore
	// (see CheckFlavor); empty when raftsnap cannot tell what they read (a
	// Go service's own state machine).
	Flavor snapshot.Flavor
	// AppRoleLoginPath, when set, is the kind's AppRole login endpoint,
	// %s standing for the auth mount (Config.AppRole); RenewSelfPath
	// renews the token such a login returned. Empty for kinds without
	// logins.
	AppRoleLoginPath string
	RenewSelfPath    string

	// Directory: the kind reads a directory on this machine
	// (Config.Path) instead of a server's HTTP API, so it has no address,
	// token, TLS or size cap; Reads says what it reads, for help and docs,
	// and open builds its Source.
	Directory bool
	Reads     string
	open      func(Config) (Source, error)
	// CheckCRC: each snapshot's state.bin is checked against the CRC-64
	// its meta.json records before it is archived.
	CheckCRC bool
	// NoRestoreReason, when set, says why the kind cannot be restored
	// into; configuration validation and the CLI refuse it as a target.
	NoRestoreReason string

	// order places the kind in lists (help, errors, docs): vendors first,
	// the generic raft handler last.
	order int
}

// EnvVars names the environment variables a kind's vendor CLI reads, which
// Config.Resolve reads the same way; empty names are variables the kind
// does not have. The CONSUL_ examples are Consul's.
type EnvVars struct {
	// Address is the server address (CONSUL_HTTP_ADDR).
	Address string
	// Token holds the token itself (CONSUL_HTTP_TOKEN).
	Token string
	// TokenFile names a file holding the token (CONSUL_HTTP_TOKEN_FILE);
	// it wins over Token, as in the vendor's CLI.
	TokenFile string
	// HomeTokenFile is a file in $HOME where the vendor's CLI keeps the
	// token of the last login (Vault's .vault-token), read when no
	// variable gives a token.
	HomeTokenFile string
	// CACert, ClientCert, ClientKey and TLSServerName fill the TLS
	// settings of an https:// address (CONSUL_CACERT, CONSUL_CLIENT_CERT,
	// CONSUL_CLIENT_KEY, CONSUL_TLS_SERVER_NAME).
	CACert        string
	ClientCert    string
	ClientKey     string
	TLSServerName string
	// CAPath names a directory of CA certificates (CONSUL_CAPATH), which
	// raftsnap does not read: set, with no CA file, it is an error rather
	// than a silently different trust store.
	CAPath string
	// HTTPS, when true, makes a scheme-less address https (CONSUL_HTTP_SSL).
	HTTPS string
	// SkipVerify, when true, skips certificate verification
	// (NOMAD_SKIP_VERIFY, VAULT_SKIP_VERIFY); Verify, when false, does
	// the same (CONSUL_HTTP_SSL_VERIFY).
	SkipVerify string
	Verify     string
	// Region and Namespace fill Config.Region and Config.Namespace
	// (NOMAD_REGION, VAULT_NAMESPACE).
	Region    string
	Namespace string
}

var registry = map[Kind]Spec{}

// register adds a kind; each kind's file calls it from init. A spec
// missing what every request needs is a bug caught at start.
func register(s Spec) {
	switch {
	case s.Kind == "" || s.Title == "" || s.order == 0:
		panic(fmt.Sprintf("source: incomplete spec for kind %q", s.Kind))
	case s.Directory && (s.open == nil || s.Reads == "" || s.NoRestoreReason == ""):
		panic(fmt.Sprintf("source: directory kind %q needs open, Reads and NoRestoreReason", s.Kind))
	case !s.Directory && (s.Path == "" || s.RestoreMethod == "" || s.TokenHeader == ""):
		panic(fmt.Sprintf("source: incomplete spec for HTTP kind %q", s.Kind))
	case s.StaleQuery == "" && s.NoStaleReason == "":
		panic(fmt.Sprintf("source: kind %q has no stale mode and no reason why", s.Kind))
	case (s.AppRoleLoginPath == "") != (s.RenewSelfPath == ""):
		panic(fmt.Sprintf("source: kind %q can log in but not renew, or the reverse", s.Kind))
	}
	if _, dup := registry[s.Kind]; dup {
		panic(fmt.Sprintf("source: kind %q registered twice", s.Kind))
	}
	registry[s.Kind] = s
}

// Kinds returns every registered kind's spec, in a stable order. The specs
// are copies; their RecordHeaders are shared and must not be modified.
func Kinds() []Spec {
	specs := make([]Spec, 0, len(registry))
	for _, s := range registry {
		specs = append(specs, s)
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].order < specs[j].order })
	return specs
}

// Lookup returns the spec of kind.
func Lookup(kind Kind) (Spec, bool) {
	s, ok := registry[kind]
	return s, ok
}

// KindNames lists the registered kinds for messages and help:
// "consul, nomad, vault or raft".
func KindNames() string {
	return JoinKinds(func(Spec) bool { return true }, "or")
}

// JoinKinds names the kinds whose spec passes keep, in registry order, as
// a list ending in conj: "consul", "consul or nomad", "consul, nomad and raft".
func JoinKinds(keep func(Spec) bool, conj string) string {
	var names []string
	for _, s := range Kinds() {
		if keep(s) {
			names = append(names, string(s.Kind))
		}
	}
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " " + conj + " " + names[len(names)-1]
}

// allowedFor names the kinds an option applies to: "consul sources only".
func allowedFor(keep func(Spec) bool) string {
	return JoinKinds(keep, "and") + " sources only"
}
