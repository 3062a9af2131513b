package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"strings"

	"github.com/raftsnap/raftsnap/config"
)

// NewLogger builds the daemon's logger from the logging section. text and
// logfmt both use slog's key=value handler (whose output is logfmt); json
// writes one JSON object per line. With syslog enabled, lines go to the
// local syslog daemon as well.
func NewLogger(c config.Logging, stdout, stderr io.Writer) (*slog.Logger, io.Closer, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, nil, fmt.Errorf("logging.level %q: use debug, info, warn or error", c.Level)
	}
	var w io.Writer
	switch c.Output {
	case "stdout":
		w = stdout
	case "stderr", "":
		w = stderr
	default:
		return nil, nil, fmt.Errorf("logging.output %q: use stdout or stderr", c.Output)
	}
	var closer io.Closer = nopCloser{}
	if c.Syslog != nil && c.Syslog.Enabled {
		sw, err := openSyslog(c.Syslog)
		if err != nil {
			return nil, nil, err
		}
		w = io.MultiWriter(w, sw)
		closer = sw
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(c.Format) {
	case "text", "logfmt", "":
		return slog.New(slog.NewTextHandler(w, opts)), closer, nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), closer, nil
	}
	return nil, nil, fmt.Errorf("logging.format %q: use text, logfmt or json", c.Format)
}

func openSyslog(c *config.Syslog) (*syslog.Writer, error) {
	facility := syslog.LOG_DAEMON
	if c.Facility != "" {
		f, ok := syslogFacilities[strings.ToLower(c.Facility)]
		if !ok {
			return nil, fmt.Errorf("logging.syslog.facility %q is not a syslog facility (daemon, local0..local7, user)", c.Facility)
		}
		facility = f
	}
	tag := c.Tag
	if tag == "" {
		tag = "raftsnap"
	}
	w, err := syslog.New(facility|syslog.LOG_INFO, tag)
	if err != nil {
		return nil, fmt.Errorf("connecting to syslog: %w", err)
	}
	return w, nil
}

var syslogFacilities = map[string]syslog.Priority{
	"daemon": syslog.LOG_DAEMON, "user": syslog.LOG_USER,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2,
	"local3": syslog.LOG_LOCAL3, "local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5,
	"local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
