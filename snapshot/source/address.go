package source

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// unixScheme prefixes a unix socket address: unix:///run/consul/http.sock.
const unixScheme = "unix://"

// address is a parsed source address.
type address struct {
	// base is the URL requests go to: scheme, host and path prefix. For a
	// unix socket it is http://localhost, and socket is the path dialled.
	base   *url.URL
	socket string
}

// String shows the address as the operator would write it; it holds no
// secret (userinfo is refused).
func (a address) String() string {
	if a.socket != "" {
		return unixScheme + a.socket
	}
	return a.base.String()
}

// show names a request URL for errors and logs: itself, or for a unix
// socket the socket and the request path ("unix:///run/c.sock:/v1/snapshot").
func (a address) show(requestURL *url.URL) string {
	if a.socket != "" {
		return unixScheme + a.socket + ":" + requestURL.RequestURI()
	}
	return requestURL.String()
}

// parseAddress reads an address in the forms spec allows: http:// or
// https:// with an optional path prefix; HOST:PORT when the vendor's CLI
// takes it without a scheme (then http://); unix:///path when the vendor's
// CLI reaches its server over a unix socket. The error is the reason
// alone, never quoting a password.
func parseAddress(spec Spec, raw string) (address, error) {
	if raw == "" {
		return address{}, errors.New("is empty (want a base URL such as http://127.0.0.1:8500)")
	}
	if socket, ok := strings.CutPrefix(raw, unixScheme); ok && spec.UnixSocket {
		switch {
		case !filepath.IsAbs(socket):
			return address{}, errors.New("unix:// needs an absolute socket path, e.g. unix:///run/consul/http.sock")
		case strings.ContainsAny(socket, "?#"):
			return address{}, errors.New("must not contain a query (?...) or fragment (#...); use the source's options instead")
		}
		return address{base: &url.URL{Scheme: "http", Host: "localhost"}, socket: filepath.Clean(socket)}, nil
	}
	if !strings.Contains(raw, "://") {
		if !spec.SchemelessAddress {
			return address{}, fmt.Errorf("has no scheme (want http:// or https://, e.g. %s)", exampleAddress(spec))
		}
		raw = "http://" + raw
	}
	base, err := url.Parse(raw)
	if err != nil {
		// The inner error only: url.Error quotes the whole address, which
		// may hold a password.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return address{}, errors.New("is not a valid URL: " + err.Error())
	}
	if base.User != nil {
		return address{}, errors.New("must not contain user:password@ (put the token in a token file or environment variable)")
	}
	if base.Scheme != "http" && base.Scheme != "https" {
		return address{}, fmt.Errorf("scheme %q is not supported (want http:// or https://)", base.Scheme)
	}
	if base.Host == "" || base.Hostname() == "" {
		return address{}, fmt.Errorf("%q has no host", raw)
	}
	if base.RawQuery != "" || base.ForceQuery || base.Fragment != "" {
		return address{}, errors.New("must not contain a query (?...) or fragment (#...); use the source's options instead")
	}
	base.Path = strings.TrimRight(base.Path, "/")
	base.RawPath = ""
	return address{base: base}, nil
}

func exampleAddress(spec Spec) string {
	if strings.Contains(spec.DefaultAddress, "://") {
		return spec.DefaultAddress
	}
	return "http://127.0.0.1:8500"
}

// CanonicalAddress returns an address as New reads it: a scheme-less
// HOST:PORT with its http://, a unix socket's path cleaned, a trailing
// slash dropped. Two addresses with the same canonical form reach the same
// server in the same way.
func CanonicalAddress(kind Kind, raw string) (string, error) {
	spec, err := lookupKind(kind)
	if err != nil {
		return "", err
	}
	a, err := parseAddress(spec, raw)
	if err != nil {
		return "", &ConfigError{Kind: kind, Field: "address", Reason: err.Error()}
	}
	return a.String(), nil
}
