package nethelpers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"
)

// BaseURL is the URL prefix for requests made with DialHTTPClient's client:
// the host part is ignored, every request goes to the socket.
const BaseURL = "http://raftsnap"

// DialHTTPClient returns an HTTP client whose every request goes to the unix
// socket sockpath. It sets no overall timeout: callers bound requests with
// their context (a `signal --wait` may legitimately take long).
func DialHTTPClient(sockpath string) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, "unix", sockpath)
			},
			// Proxies speak TCP; a unix socket never goes through one.
			Proxy:           nil,
			MaxIdleConns:    2,
			IdleConnTimeout: 30 * time.Second,
		},
	}
}

// DialError explains why the CLI could not reach the daemon's socket.
type DialError struct {
	SockPath string
	// NoDaemon is true when nothing listens there (missing socket file or
	// connection refused), as opposed to, e.g., a permission problem.
	NoDaemon bool
	Err      error
}

func (e *DialError) Error() string {
	switch {
	case e.NoDaemon:
		return fmt.Sprintf("no raftsnap daemon is listening on %s: start it with `raftsnap daemon` (or pass --socket)", e.SockPath)
	case errors.Is(e.Err, syscall.EACCES) || errors.Is(e.Err, syscall.EPERM):
		return fmt.Sprintf("permission denied on %s: run this as the daemon's user (or root), or pass --socket", e.SockPath)
	default:
		return fmt.Sprintf("cannot reach the raftsnap daemon on %s: %v", e.SockPath, e.Err)
	}
}

func (e *DialError) Unwrap() error { return e.Err }

// ExplainDialError turns a connection-level error from a request to the
// socket at sockpath into a *DialError that says what to do. Errors that did
// not happen while connecting (a context deadline, a decoding error...) are
// returned unchanged.
func ExplainDialError(sockpath string, err error) error {
	if err == nil {
		return nil
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) || opErr.Op != "dial" {
		return err
	}
	noDaemon := errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOTDIR)
	return &DialError{SockPath: sockpath, NoDaemon: noDaemon, Err: opErr.Err}
}
