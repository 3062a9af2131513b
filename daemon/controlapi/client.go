package controlapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/raftsnap/raftsnap/nethelpers"
)

// MaxAnswer bounds what the client reads from the daemon; a status with a
// long history is a few hundred KiB at most.
const MaxAnswer = 16 << 20

// Client talks JSON to a daemon's control socket. It sets no overall
// timeout: callers bound each call with their context (a waiting signal may
// legitimately take hours).
type Client struct {
	sock string
	http *http.Client
}

// NewClient returns a client for the socket at sockpath. Nothing is dialled
// until the first call.
func NewClient(sockpath string) *Client {
	return &Client{sock: sockpath, http: nethelpers.DialHTTPClient(sockpath)}
}

// SockPath is the socket the client talks to.
func (c *Client) SockPath() string { return c.sock }

// Error is a non-2xx answer from the daemon.
type Error struct {
	// Code is the HTTP status: 400 (bad request, unsupported op), 404
	// (unknown job or endpoint), 409 (the job refused; no file to reload),
	// 422 (a reload refused the configuration file), 5xx (the daemon
	// failed).
	Code int
	Resp ErrorResponse
}

func (e *Error) Error() string { return "daemon: " + e.Resp.Error }

// StatusRaw returns the full /status JSON (?detail=full) exactly as the
// daemon sent it, so that fields this client does not know survive
// (status --mode raw); with job set, only that job's.
func (c *Client) StatusRaw(ctx context.Context, job string) ([]byte, error) {
	return c.do(ctx, http.MethodGet, statusPath(job, true), nil, nil)
}

// Status returns the daemon's status, every job in full.
func (c *Client) Status(ctx context.Context) (DaemonStatus, error) {
	return call[DaemonStatus](ctx, c, http.MethodGet, statusPath("", true), nil)
}

// Summary returns the daemon's status with each job's summary (no history,
// no pruning decisions): what a view that polls often asks for.
func (c *Client) Summary(ctx context.Context) (DaemonStatus, error) {
	return call[DaemonStatus](ctx, c, http.MethodGet, PathStatus, nil)
}

// Job returns one job's status in full; an unknown job is a 404 *Error.
func (c *Client) Job(ctx context.Context, name string) (JobStatus, error) {
	var st DaemonStatus
	if _, err := c.do(ctx, http.MethodGet, statusPath(name, true), nil, &st); err != nil {
		return JobStatus{}, err
	}
	if len(st.Jobs) != 1 {
		// A daemon older than schema 2 ignores ?job= and sends them all.
		for _, j := range st.Jobs {
			if j.Name == name {
				return j, nil
			}
		}
		return JobStatus{}, &Error{Code: http.StatusNotFound, Resp: ErrorResponse{Error: "unknown job " + strconv.Quote(name)}}
	}
	return st.Jobs[0], nil
}

func statusPath(job string, full bool) string {
	q := url.Values{}
	if job != "" {
		q.Set(QueryJob, job)
	} else if full {
		q.Set(QueryDetail, DetailFull)
	}
	if len(q) == 0 {
		return PathStatus
	}
	return PathStatus + "?" + q.Encode()
}

// DecodeStatus decodes a StatusRaw answer.
func (c *Client) DecodeStatus(raw []byte) (DaemonStatus, error) {
	var st DaemonStatus
	return st, c.decode(PathStatus, raw, &st)
}

// Signal sends a signal to a job; with req.Wait it returns when the run it
// caused has ended, with its report in Run.
func (c *Client) Signal(ctx context.Context, req SignalRequest) (SignalResponse, error) {
	return call[SignalResponse](ctx, c, http.MethodPost, PathSignal, req)
}

// Reload makes the daemon apply its configuration file again, as SIGHUP
// does, and returns the outcome: an *Error with Code 422 when the file was
// refused (the running configuration stays).
func (c *Client) Reload(ctx context.Context) (ReloadResponse, error) {
	return call[ReloadResponse](ctx, c, http.MethodPost, PathReload, struct{}{})
}

// Version returns the daemon's version.
func (c *Client) Version(ctx context.Context) (VersionInfo, error) {
	return call[VersionInfo](ctx, c, http.MethodGet, PathVersion, nil)
}

// PprofStatus tells whether the daemon's pprof server runs, and where.
func (c *Client) PprofStatus(ctx context.Context) (PprofStatus, error) {
	return call[PprofStatus](ctx, c, http.MethodGet, PathPprof, nil)
}

// Pprof starts, moves or stops the daemon's pprof server.
func (c *Client) Pprof(ctx context.Context, req PprofRequest) (PprofStatus, error) {
	return call[PprofStatus](ctx, c, http.MethodPost, PathPprof, req)
}

// call sends one request and decodes the answer into a T.
func call[T any](ctx context.Context, c *Client, method, path string, in any) (T, error) {
	var out T
	_, err := c.do(ctx, method, path, in, &out)
	return out, err
}

// do sends one request and returns the raw answer; with out set, the answer
// is decoded into it.
func (c *Client) do(ctx context.Context, method, path string, in, out any) ([]byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, nethelpers.BaseURL+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, nethelpers.ExplainDialError(c.sock, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("reading the daemon's answer on %s: %w", c.sock, err)
	}
	if resp.StatusCode/100 != 2 {
		var e ErrorResponse
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s %s answered %s: %s", method, path, resp.Status, strings.TrimSpace(string(raw)))
		}
		return nil, &Error{Code: resp.StatusCode, Resp: e}
	}
	if out != nil {
		if err := c.decode(path, raw, out); err != nil {
			return nil, err
		}
	}
	return raw, nil
}

func (c *Client) decode(path string, raw []byte, out any) error {
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("the daemon on %s sent a %s answer this client cannot read (%v): is it the same raftsnap version?", c.sock, path, err)
	}
	return nil
}
