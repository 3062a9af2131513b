package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/job"
	"github.com/raftsnap/raftsnap/nethelpers"
)

// DefaultSockPath is where the daemon listens unless configured otherwise.
const DefaultSockPath = "/run/raftsnap/control"

// maxControlAnswer bounds what the CLI reads from the daemon; a status with
// a long history is a few hundred KiB at most.
const maxControlAnswer = 16 << 20

// controlOptions are the flags of the commands that talk to the daemon.
type controlOptions struct {
	socket string
	config string
}

func addControlFlags(cmd *cobra.Command, o *controlOptions) {
	cmd.Flags().StringVar(&o.socket, "socket", DefaultSockPath, "the daemon's control socket")
	cmd.Flags().StringVar(&o.config, "config", "", "read the control socket path (global.control.sockpath) from this config file")
}

// sockPath resolves the socket: --socket if given, else the config file's
// global.control.sockpath if --config is given, else the default.
func (o *controlOptions) sockPath(cmd *cobra.Command) (string, error) {
	if cmd.Flags().Changed("socket") || o.config == "" {
		if o.socket == "" {
			return "", usageError(errors.New("--socket must not be empty"))
		}
		return o.socket, nil
	}
	cfg, err := config.Load(o.config)
	if err != nil {
		return "", usageError(err)
	}
	if cfg.Global.Control.SockPath == "" {
		return DefaultSockPath, nil
	}
	return cfg.Global.Control.SockPath, nil
}

// controlClient talks JSON to the daemon's control socket.
type controlClient struct {
	sock string
	http *http.Client
}

func (o *controlOptions) client(cmd *cobra.Command) (*controlClient, error) {
	sock, err := o.sockPath(cmd)
	if err != nil {
		return nil, err
	}
	return &controlClient{sock: sock, http: nethelpers.DialHTTPClient(sock)}, nil
}

// controlError is a non-2xx answer from the daemon.
type controlError struct {
	code int
	resp job.ErrorResponse
}

func (e *controlError) Error() string { return "daemon: " + e.resp.Error }

// exitCode: requests the daemon rejects as wrong (unknown job, unsupported
// op, bad argument) are usage errors, like a wrong command line; the rest
// are failures.
func (e *controlError) exitCode() int {
	switch e.code {
	case http.StatusBadRequest, http.StatusNotFound:
		return ExitUsage
	default:
		return ExitError
	}
}

// asCLIError attaches the exit code for errors from the control client.
func asCLIError(err error) error {
	var ce *controlError
	if errors.As(err, &ce) {
		return &codedError{code: ce.exitCode(), err: err}
	}
	return err
}

func (c *controlClient) get(ctx context.Context, path string, out any) error {
	_, err := c.do(ctx, http.MethodGet, path, nil, out)
	return err
}

func (c *controlClient) post(ctx context.Context, path string, in, out any) error {
	_, err := c.do(ctx, http.MethodPost, path, in, out)
	return err
}

// do sends one request. out may be nil (the raw body is returned) or a
// pointer to decode the answer into.
func (c *controlClient) do(ctx context.Context, method, path string, in, out any) ([]byte, error) {
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
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxControlAnswer))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("reading the daemon's answer on %s: %w", c.sock, err)
	}
	if resp.StatusCode/100 != 2 {
		var e job.ErrorResponse
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s %s answered %s: %s", method, path, resp.Status, strings.TrimSpace(string(raw)))
		}
		return nil, &controlError{code: resp.StatusCode, resp: e}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("the daemon on %s sent a %s answer this client cannot read (%v): is it the same raftsnap version?", c.sock, path, err)
		}
	}
	return raw, nil
}
