package config

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/raftsnap/raftsnap/snapshot/raftdir"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"golang.org/x/sys/unix"
)

// maxTLSFileSize bounds CA, certificate and key files: PEM files are a few
// KiB; a bigger file is the wrong file (or /dev/zero) and must not be read.
const maxTLSFileSize = 1 << 20

// requireSource checks a source block (role "source" or "target").
func (v *validator) requireSource(path string, s *source.Config, role, why string) {
	if !v.checkable(path) {
		return
	}
	if s == nil {
		v.errorf(path, "missing: %s, e.g. %s: {type: consul, address: http://127.0.0.1:8500}", why, role)
		return
	}
	before := len(v.errs.List)
	spec, known := source.Lookup(s.Kind)
	switch p := path + ".type"; {
	case !v.checkable(p):
	case s.Kind == "":
		v.errorf(p, "missing: use %s", source.KindNames())
	case !known:
		v.errorf(p, "%s is not a source type: use %s", quote(string(s.Kind)), source.KindNames())
	case role != "source" && spec.NoRestoreReason != "":
		v.errorf(p, "%s cannot be a restore target: %s", s.Kind, spec.NoRestoreReason)
	}
	switch {
	case known && spec.Directory:
		v.requireDirectory(path+".path", s.Path)
	case v.checkable(path+".address") && s.Address == "":
		v.errorf(path+".address", "missing: give the server's base URL, e.g. http://127.0.0.1:8500")
	}
	if role == "source" && s.ForceRestore && v.usable(path+".force_restore") {
		v.errorf(path+".force_restore", "applies to restore targets only")
	}
	if role != "source" && s.Stale && v.usable(path+".stale") {
		v.errorf(path+".stale", "applies to snapshot sources only (a restore always goes to the leader)")
	}
	if role != "source" && s.StaleFallback && v.usable(path+".stale_fallback") {
		v.errorf(path+".stale_fallback", "applies to snapshot sources only")
	}
	if role != "source" && s.MaxSize != 0 && v.usable(path+".max_size") {
		v.errorf(path+".max_size", "applies to snapshot sources only (a restore sends a stored snapshot of known size)")
	}
	v.positive(path+".connect_timeout", Duration(s.ConnectTimeout))
	v.validateToken(path, s)
	v.validateAppRole(path, s)
	for key, file := range map[string]string{"ca_file": s.TLS.CAFile, "cert_file": s.TLS.CertFile, "key_file": s.TLS.KeyFile} {
		if p := path + ".tls." + key; file != "" && v.checkable(p) {
			if err := checkReadableFile(file, maxTLSFileSize); err != nil {
				v.errorf(p, "%v", err)
			}
		}
	}
	if len(v.errs.List) > before || v.failedUnder(path) {
		return // source.New would only repeat these
	}
	// source.New is the authority on what a source accepts (URL shape,
	// options per kind, TLS material): build one (without its token, which
	// is loaded only when the daemon builds the job) and report its
	// complaint at the key it names.
	if _, err := source.New(*s); err != nil {
		var cfgErr *source.ConfigError
		if errors.As(err, &cfgErr) {
			v.errorf(path+"."+cfgErr.Field, "%s", cfgErr.Reason)
			return
		}
		v.errorf(path, "%v", err)
	}
}

// requireDirectory checks the path of a source reading a directory: an
// absolute path, given. A directory missing now is a warning: the job's
// runs fail until it exists (a volume not mounted yet). Whether it is a
// raft directory is left to the runs: a stopped server may not have
// written it yet.
func (v *validator) requireDirectory(p, dir string) {
	if !v.absolutePath(p, dir, "give the stopped server's raft directory or data_dir, e.g. /opt/consul") {
		return
	}
	switch info, err := os.Stat(dir); {
	case v.opts.SkipDirChecks:
	case err != nil:
		v.warnf(p, "cannot use %s (%v): this job's runs fail until it can be read", dir, unwrapPathError(err))
	case !info.IsDir():
		v.errorf(p, "%s is not a directory", dir)
	}
}

// storeOutsideSource refuses a snapshot job with a store in the directory
// its source reads (raft-dir): nothing may be written there.
func (v *validator) storeOutsideSource(path string, job *Job) {
	if job.Source == nil || job.Source.Path == "" {
		return
	}
	spec, ok := source.Lookup(job.Source.Kind)
	if !ok || !spec.Directory {
		return
	}
	for k, st := range job.StoreList() {
		p := path + ".store.path"
		if len(job.Stores) > 0 {
			p = fmt.Sprintf("%s.stores[%d].path", path, k)
		}
		if st.IsRemote() || st.Path == "" || !v.usable(p) {
			continue
		}
		if raftdir.Within(job.Source.Path, st.Path) {
			v.errorf(p, "%s is inside %s, the directory the %s source reads, which nothing may write into: keep the store elsewhere",
				st.Path, job.Source.Path, job.Source.Kind)
		}
	}
}

func (v *validator) failedUnder(path string) bool {
	for p := range v.failed {
		if p == path || strings.HasPrefix(p, path+".") {
			return true
		}
	}
	return false
}

func (v *validator) validateToken(path string, s *source.Config) {
	fileSet, envSet := s.TokenFile != "", s.TokenEnv != ""
	if fileSet && envSet {
		v.keyErrorf(path+".token_env", "give either token_file or token_env, not both")
		return
	}
	if p := path + ".token_file"; fileSet && v.checkable(p) {
		v.credentialFile(p, s.TokenFile)
	}
	if p := path + ".token_env"; envSet && v.checkable(p) {
		if !envNamePattern.MatchString(s.TokenEnv) {
			v.errorf(p, "%s is not an environment variable name (letters, digits and _, not starting with a digit)", quote(s.TokenEnv))
		} else if _, ok := os.LookupEnv(s.TokenEnv); !ok {
			v.warnf(p, "environment variable %s is not set here; the daemon needs it set in its own environment", s.TokenEnv)
		}
	}
}

// credentialFile checks a file holding a credential (a token, an AppRole
// role or secret ID) at key p. One that is not there yet (a fresh
// install, a secret still to be deployed) fails that job's runs, not the
// daemon: a warning here, as in the daemon. What can never work is an
// error.
func (v *validator) credentialFile(p, file string) {
	info, err := os.Stat(file)
	switch {
	case !filepath.IsAbs(file):
		v.errorf(p, "must be an absolute path, got %s", quote(file))
	case err != nil:
		v.warnf(p, "cannot use %s (%v): this job's runs fail until it can be read", file, unwrapPathError(err))
	case !info.Mode().IsRegular():
		v.errorf(p, "%s is not a regular file", file)
	case unix.Access(file, unix.R_OK) != nil:
		v.warnf(p, "%s is not readable by this user: this job's runs fail until it is", file)
	default:
		if problem := source.TokenFileProblem(info); problem != "" {
			// The daemon warns too, at every run; configcheck is where
			// an operator sees it before starting anything.
			v.warnf(p, "%s: %s", file, problem)
		}
	}
}

// validateAppRole checks an approle block's files (read by the daemon at
// each login). What source.New checks (vault only, not with a token, both
// files named, the mount's shape) it reports at the key it names.
func (v *validator) validateAppRole(path string, s *source.Config) {
	p := path + ".approle"
	if !v.checkable(p) {
		return
	}
	if !s.AppRole.IsSet() {
		if v.isSet(p) {
			v.errorf(p, "is empty: give role_id_file and secret_id_file, e.g. "+
				"approle: {role_id_file: /etc/raftsnap/vault-role-id, secret_id_file: /etc/raftsnap/vault-secret-id}")
		}
		return
	}
	for _, f := range []struct{ key, file string }{
		{"role_id_file", s.AppRole.RoleIDFile},
		{"secret_id_file", s.AppRole.SecretIDFile},
	} {
		if k := p + "." + f.key; f.file != "" && v.checkable(k) {
			v.credentialFile(k, f.file)
		}
	}
}

// checkReadableFile checks that path is an absolute path to a regular file
// this process can open (and, if maxSize > 0, not larger than that),
// without reading it: a FIFO or device is refused before it is opened.
func checkReadableFile(path string, maxSize int64) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("must be an absolute path, got %s", quote(path))
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("cannot use %s: %w", path, unwrapPathError(err))
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if maxSize > 0 && info.Size() > maxSize {
		return fmt.Errorf("%s is larger than %d KiB: not a PEM file", path, maxSize>>10)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", path, unwrapPathError(err))
	}
	return f.Close()
}

// unwrapPathError drops *fs.PathError's "open /x:" prefix, since our
// messages already name the file.
func unwrapPathError(err error) error {
	var pathErr *os.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}

// clusterKey names the server a source block reaches, for messages: kind
// and normalised address ("consul at 127.0.0.1:8500"). It never carries
// user:password@.
func clusterKey(s *source.Config) string {
	e := endpointOf(s)
	if e.unix != "" {
		return string(s.Kind) + " at unix://" + e.unix
	}
	if e.host == "" {
		return string(s.Kind) + " at an unparsable address"
	}
	host := e.host
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		host = "127.0.0.1"
	}
	return string(s.Kind) + " at " + e.scheme + "://" + net.JoinHostPort(host, e.port) + e.path
}

// endpoint is where a source block connects: a unix socket, or a host and
// port (the scheme does not matter: one port speaks one of them).
type endpoint struct {
	unix                     string
	scheme, host, port, path string
}

func endpointOf(s *source.Config) endpoint {
	// The source's own reading (HOST:PORT, unix://) when it has one; the
	// address as written otherwise, whose problem is reported elsewhere.
	addr := s.Address
	if canonical, err := source.CanonicalAddress(s.Kind, s.Address); err == nil {
		addr = canonical
	}
	u, err := url.Parse(addr)
	if err != nil {
		return endpoint{}
	}
	if u.Scheme == "unix" {
		return endpoint{unix: filepath.Clean(u.Path)}
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	if n, err := strconv.ParseUint(port, 10, 16); err == nil {
		port = strconv.FormatUint(n, 10) // "08500" is 8500
	}
	return endpoint{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(strings.TrimSuffix(u.Hostname(), ".")), port: port,
		path: strings.TrimRight(u.Path, "/")}
}

// resolveTimeout bounds the name lookups of the overwrite check.
const resolveTimeout = 2 * time.Second

// sameServer reports whether two source blocks of one kind may reach the
// same server however their addresses are written: "localhost",
// 127.0.0.1, ::1, 0.0.0.0 and this host's own names and addresses are all
// this host; other names are compared by the addresses they resolve to
// (when they resolve now; by text otherwise).
func sameServer(a, b *source.Config) bool {
	if a.Kind != b.Kind {
		return false
	}
	ea, eb := endpointOf(a), endpointOf(b)
	switch {
	case ea.unix != "" || eb.unix != "":
		return ea.unix == eb.unix
	case ea.host == "" || eb.host == "" || ea.port != eb.port || ea.path != eb.path:
		return false
	case ea.host == eb.host:
		return true
	}
	hostsA, hostsB := hostAddresses(ea.host), hostAddresses(eb.host)
	for h := range hostsA {
		if hostsB[h] {
			return true
		}
	}
	return false
}

// hostAddresses is the set of addresses host stands for, with every
// address of this host as "local".
func hostAddresses(host string) map[string]bool {
	out := map[string]bool{host: true}
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		out["local"] = true
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
		defer cancel()
		if addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host); err == nil {
			for _, a := range addrs {
				ips = append(ips, a.IP)
			}
		}
	}
	own := ownAddresses()
	for _, ip := range ips {
		if ip.IsLoopback() || ip.IsUnspecified() || own[ip.String()] {
			out["local"] = true
		} else {
			out[ip.String()] = true
		}
	}
	if name, err := os.Hostname(); err == nil && strings.EqualFold(name, host) {
		out["local"] = true
	}
	return out
}

// ownAddresses are the addresses of this host's interfaces.
func ownAddresses() map[string]bool {
	own := map[string]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return own
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			own[n.IP.String()] = true
		}
	}
	return own
}

// validateCrossJob checks rules between jobs: snapshot jobs do not share a
// store (a directory, or a bucket and prefix), and a restore into a cluster
// that a snapshot job backs up needs allow_overwrite.
func (v *validator) validateCrossJob() {
	storeOwner := map[string]int{}
	var sources []int // snapshot jobs with a source
	for i := range v.cfg.Jobs {
		job := &v.cfg.Jobs[i]
		if job.Type != JobSnapshot {
			continue
		}
		path := fmt.Sprintf("jobs[%d]", i)
		for k, st := range job.StoreList() {
			p := path + ".store"
			if len(job.Stores) > 0 {
				p = fmt.Sprintf("%s.stores[%d]", path, k)
			}
			at := p + ".path"
			if st.IsRemote() {
				at = p
			} else if !filepath.IsAbs(st.Path) {
				continue
			}
			if v.failedUnder(p) || !v.checkable(at) {
				continue
			}
			// Compared by real path: a symlink alias is the same directory.
			id := st.Identity()
			if first, dup := storeOwner[id]; dup && first != i {
				if st.IsRemote() {
					v.errorf(at, "%s is already the store of snapshot job %s: give each snapshot job its own bucket or prefix",
						st.Location(), quote(v.cfg.Jobs[first].Name))
				} else {
					v.errorf(at, "%s is already the store of snapshot job %s: give each snapshot job its own directory",
						store.RealPath(filepath.Clean(st.Path)), quote(v.cfg.Jobs[first].Name))
				}
			} else if !dup {
				storeOwner[id] = i
			}
		}
		if job.Source != nil && job.Source.Address != "" {
			sources = append(sources, i)
		}
	}
	for i := range v.cfg.Jobs {
		job := &v.cfg.Jobs[i]
		if job.Type != JobRestore || job.Target == nil || job.Target.Address == "" || job.AllowOverwrite {
			continue
		}
		path := fmt.Sprintf("jobs[%d].target", i)
		if v.failedUnder(path) {
			continue
		}
		for _, k := range sources {
			if sameServer(v.cfg.Jobs[k].Source, job.Target) {
				// The normalised form, not the address as written: it never
				// carries user:password@.
				v.errorf(path, "restores into the cluster that snapshot job %s backs up (%s), replacing its data: "+
					"set allow_overwrite: true on this job if that is what you want",
					quote(v.cfg.Jobs[k].Name), clusterKey(job.Target))
				break
			}
		}
	}
}
