package devcluster

import (
	"context"
	"io"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// newRaftLogger returns an hclog.Logger (what raft wants) that forwards
// WARN and above to logger. Raft logs every election at INFO, which would
// drown test output and the daemon's own log.
func newRaftLogger(logger *slog.Logger, name string) hclog.Logger {
	hl := hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name:   name,
		Level:  hclog.Warn,
		Output: io.Discard,
	})
	hl.RegisterSink(slogSink{logger: logger})
	return hl
}

// slogSink receives every hclog call; intercept sinks see all levels, so it
// filters itself.
type slogSink struct{ logger *slog.Logger }

func (s slogSink) Accept(name string, level hclog.Level, msg string, args ...any) {
	var l slog.Level
	switch level {
	case hclog.Warn:
		l = slog.LevelWarn
	case hclog.Error:
		l = slog.LevelError
	default:
		return
	}
	ctx := context.Background()
	if !s.logger.Enabled(ctx, l) {
		return
	}
	attrs := make([]any, 0, len(args)+2)
	attrs = append(attrs, "component", name)
	attrs = append(attrs, args...)
	s.logger.Log(ctx, l, msg, attrs...)
}
