package client

import (
	"errors"
	"net/http"

	"github.com/raftsnap/raftsnap/daemon/controlapi"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/config"
)

// controlOptions are the flags of the commands that talk to the daemon.
type controlOptions struct {
	socket string
	config string
}

func addControlFlags(cmd *cobra.Command, o *controlOptions) {
	cmd.Flags().StringVar(&o.socket, "socket", config.DefaultSockPath, "the daemon's control socket")
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
	// Leniently: a broken file must not stop the commands that are needed
	// to find out what is wrong.
	sock, err := config.ReadSockPath(o.config)
	if err != nil {
		return "", usageError(err)
	}
	return sock, nil
}

func (o *controlOptions) client(cmd *cobra.Command) (*controlapi.Client, error) {
	sock, err := o.sockPath(cmd)
	if err != nil {
		return nil, err
	}
	return controlapi.NewClient(sock), nil
}

// controlExitCode: requests the daemon rejects as wrong (unknown job,
// unsupported op, bad argument) are usage errors, like a wrong command
// line; the rest are failures.
func controlExitCode(e *controlapi.Error) int {
	switch e.Code {
	case http.StatusBadRequest, http.StatusNotFound:
		return ExitUsage
	case controlapi.StatusStandby:
		return ExitStandby
	default:
		return ExitError
	}
}

// asCLIError attaches the exit code for errors from the control client.
func asCLIError(err error) error {
	var ce *controlapi.Error
	if errors.As(err, &ce) {
		return &codedError{code: controlExitCode(ce), err: err}
	}
	return err
}
