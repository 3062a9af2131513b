package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/raftsnap/raftsnap/snapshot/source"
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
	switch p := path + ".type"; {
	case !v.checkable(p):
	case s.Kind == "":
		v.errorf(p, "missing: use %s", source.KindNames())
	default:
		if _, known := source.Lookup(s.Kind); !known {
			v.errorf(p, "%s is not a source type: use %s", quote(string(s.Kind)), source.KindNames())
		}
	}
	if p := path + ".address"; v.checkable(p) && s.Address == "" {
		v.errorf(p, "missing: give the server's base URL, e.g. http://127.0.0.1:8500")
	}
	if role == "source" && s.ForceRestore && v.usable(path+".force_restore") {
		v.errorf(path+".force_restore", "applies to restore targets only")
	}
	if role != "source" && s.StaleFallback && v.usable(path+".stale_fallback") {
		v.errorf(path+".stale_fallback", "applies to snapshot sources only")
	}
	if role != "source" && s.MaxSize != 0 && v.usable(path+".max_size") {
		v.errorf(path+".max_size", "applies to snapshot sources only (a restore sends a stored snapshot of known size)")
	}
	v.positive(path+".connect_timeout", Duration(s.ConnectTimeout))
	v.validateToken(path, s)
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
		if err := checkReadableFile(s.TokenFile, 0); err != nil {
			v.errorf(p, "%v", err)
		} else if info, err := os.Stat(s.TokenFile); err == nil && info.Mode().Perm()&0o077 != 0 {
			// The daemon warns too (source.Config.Resolve); configcheck is where
			// an operator sees it before starting anything.
			v.warnf(p, "%s is readable by group or others (mode %04o): chmod 600 it", s.TokenFile, info.Mode().Perm())
		}
	}
	if p := path + ".token_env"; envSet && v.checkable(p) {
		if !envNamePattern.MatchString(s.TokenEnv) {
			v.errorf(p, "%s is not an environment variable name (letters, digits and _, not starting with a digit)", quote(s.TokenEnv))
		} else if _, ok := os.LookupEnv(s.TokenEnv); !ok {
			v.warnf(p, "environment variable %s is not set here; the daemon needs it set in its own environment", s.TokenEnv)
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

// clusterKey identifies a cluster by source type and normalised address
// ("consul at http://127.0.0.1:8500"), so that a restore target can be
// compared with snapshot sources. Loopback names are one host; default
// ports are made explicit; userinfo is dropped.
func clusterKey(s *source.Config) string {
	kind := string(s.Kind)
	// The source's own reading (HOST:PORT, unix://) when it has one; the
	// address as written otherwise, whose problem is reported elsewhere.
	addr := s.Address
	if canonical, err := source.CanonicalAddress(s.Kind, s.Address); err == nil {
		addr = canonical
	}
	u, err := url.Parse(addr)
	if err != nil {
		return kind + " at an unparsable address"
	}
	if u.Scheme == "unix" {
		return kind + " at " + addr
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		host = "127.0.0.1"
	}
	return kind + " at " + strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(host, port) + strings.TrimRight(u.Path, "/")
}

// validateCrossJob checks rules between jobs: snapshot jobs do not share a
// store directory, and a restore into a cluster that a snapshot job backs
// up needs allow_overwrite.
func (v *validator) validateCrossJob() {
	storeOwner := map[string]int{}
	sources := map[string]int{}
	for i := range v.cfg.Jobs {
		job := &v.cfg.Jobs[i]
		if job.Type != JobSnapshot {
			continue
		}
		path := fmt.Sprintf("jobs[%d]", i)
		if job.Store != nil && filepath.IsAbs(job.Store.Path) && v.checkable(path+".store.path") {
			// Compared by real path: a symlink alias is the same directory.
			dir := realPath(filepath.Clean(job.Store.Path))
			if first, dup := storeOwner[dir]; dup {
				v.errorf(path+".store.path", "%s is already the store of snapshot job %s: give each snapshot job its own directory",
					dir, quote(v.cfg.Jobs[first].Name))
			} else {
				storeOwner[dir] = i
			}
		}
		if job.Source != nil && job.Source.Address != "" {
			if _, seen := sources[clusterKey(job.Source)]; !seen {
				sources[clusterKey(job.Source)] = i
			}
		}
	}
	for i := range v.cfg.Jobs {
		job := &v.cfg.Jobs[i]
		if job.Type != JobRestore || job.Target == nil || job.Target.Address == "" || job.AllowOverwrite {
			continue
		}
		path := fmt.Sprintf("jobs[%d].target", i)
		if k, same := sources[clusterKey(job.Target)]; same && !v.failedUnder(path) {
			// The normalised form, not the address as written: it never
			// carries user:password@.
			v.errorf(path, "restores into the cluster that snapshot job %s backs up (%s), replacing its data: "+
				"set allow_overwrite: true on this job if that is what you want",
				quote(v.cfg.Jobs[k].Name), clusterKey(job.Target))
		}
	}
}

// realPath resolves the symlinks of path's longest existing prefix, so that
// two names of one directory compare equal even before it exists.
func realPath(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	parent := filepath.Dir(path)
	if parent == path {
		return path
	}
	return filepath.Join(realPath(parent), filepath.Base(path))
}
