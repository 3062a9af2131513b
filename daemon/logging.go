package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/raftsnap/raftsnap/config"
)

// NewLogger builds the daemon's logger from the logging section. text and
// logfmt both use slog's key=value handler (whose output is logfmt); json
// writes one JSON object per line. With syslog enabled, lines go to the
// local syslog daemon as well.
//
// When the output is the journal (systemd's JOURNAL_STREAM names the very
// stream we write to), every line starts with an sd-daemon "<N>" priority
// prefix, whatever the format, so that journald records each line's level
// (journalctl -p warning); when the file also leaves logging.format unset,
// lines carry no timestamp either (journald adds its own).
func NewLogger(c config.Logging, stdout, stderr io.Writer) (*slog.Logger, io.Closer, error) {
	l, _, closer, err := newLogger(c, stdout, stderr)
	return l, closer, err
}

// newLogger is NewLogger that also returns the level, which a reload may
// change while the logger is in use.
func newLogger(c config.Logging, stdout, stderr io.Writer) (*slog.Logger, *slog.LevelVar, io.Closer, error) {
	level := new(slog.LevelVar)
	if err := setLevel(level, c.Level); err != nil {
		return nil, nil, nil, err
	}
	var w io.Writer
	switch c.Output {
	case "stdout":
		w = stdout
	case "stderr", "":
		w = stderr
	default:
		return nil, nil, nil, fmt.Errorf("logging.output %q: use stdout or stderr", c.Output)
	}
	var journal *priorityWriter
	if isJournalStream(w, os.Getenv("JOURNAL_STREAM")) {
		journal = &priorityWriter{w: w}
		w = journal
	}
	var closer io.Closer = nopCloser{}
	if c.Syslog != nil && c.Syslog.Enabled {
		sw, err := openSyslog(c.Syslog)
		if err != nil {
			return nil, nil, nil, err
		}
		w = io.MultiWriter(w, sw)
		closer = sw
	}
	opts := &slog.HandlerOptions{Level: level}
	if journal != nil && !c.FormatExplicit {
		opts.ReplaceAttr = dropTime
	}
	var h slog.Handler
	switch strings.ToLower(c.Format) {
	case "text", "logfmt", "":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, nil, nil, fmt.Errorf("logging.format %q: use text, logfmt or json", c.Format)
	}
	if journal != nil {
		h = priorityHandler{Handler: h, w: journal}
	}
	return slog.New(h), level, closer, nil
}

func setLevel(v *slog.LevelVar, name string) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(name)); err != nil {
		return fmt.Errorf("logging.level %q: use debug, info, warn or error", name)
	}
	v.Set(lvl)
	return nil
}

// isJournalStream reports whether w is the stream systemd connected to the
// journal: JOURNAL_STREAM holds "<device>:<inode>" of that stream, and
// sd-daemon(3) asks to compare it with the file descriptor actually used,
// since the variable is inherited by children whose output may go elsewhere.
func isJournalStream(w io.Writer, journalStream string) bool {
	f, ok := w.(*os.File)
	if !ok || journalStream == "" {
		return false
	}
	devText, inoText, ok := strings.Cut(journalStream, ":")
	if !ok {
		return false
	}
	dev, err1 := strconv.ParseUint(devText, 10, 64)
	ino, err2 := strconv.ParseUint(inoText, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	info, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) == dev && uint64(st.Ino) == ino
}

// dropTime removes the record's time: journald stamps every line itself.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// priorityWriter prepends the sd-daemon(3) priority of the record being
// written ("<3>" error, "<4>" warning, "<6>" info, "<7>" debug), which
// priorityHandler sets around each record: slog's handlers write a record
// with one Write, so the prefix lands at the start of its line in any
// format.
type priorityWriter struct {
	w    io.Writer
	mu   sync.Mutex
	prio string
}

func (p *priorityWriter) Write(b []byte) (int, error) {
	prio := p.prio
	if prio == "" {
		prio = "<6>"
	}
	line := make([]byte, 0, len(prio)+len(b))
	line = append(append(line, prio...), b...)
	if _, err := p.w.Write(line); err != nil {
		return 0, err
	}
	return len(b), nil
}

// priorityHandler tells its priorityWriter each record's level.
type priorityHandler struct {
	slog.Handler
	w *priorityWriter
}

func (h priorityHandler) Handle(ctx context.Context, r slog.Record) error {
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	switch {
	case r.Level >= slog.LevelError:
		h.w.prio = "<3>"
	case r.Level >= slog.LevelWarn:
		h.w.prio = "<4>"
	case r.Level >= slog.LevelInfo:
		h.w.prio = "<6>"
	default:
		h.w.prio = "<7>"
	}
	return h.Handler.Handle(ctx, r)
}

func (h priorityHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return priorityHandler{Handler: h.Handler.WithAttrs(attrs), w: h.w}
}

func (h priorityHandler) WithGroup(name string) slog.Handler {
	return priorityHandler{Handler: h.Handler.WithGroup(name), w: h.w}
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
