package relay

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogs adapts pion's leveled logger to slog. pion logs per packet at
// debug and info, and a misbehaving client can make it warn at will, so all
// of that goes to debug; only pion's errors reach warn.
type pionLogs struct{ log *slog.Logger }

func (f *pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return &pionLogger{log: f.log.With("scope", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l *pionLogger) emit(level slog.Level, msg string) {
	l.log.Log(context.Background(), level, msg)
}

func (l *pionLogger) emitf(level slog.Level, format string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (l *pionLogger) Trace(msg string)                  { l.emit(slog.LevelDebug, msg) }
func (l *pionLogger) Tracef(format string, args ...any) { l.emitf(slog.LevelDebug, format, args...) }
func (l *pionLogger) Debug(msg string)                  { l.emit(slog.LevelDebug, msg) }
func (l *pionLogger) Debugf(format string, args ...any) { l.emitf(slog.LevelDebug, format, args...) }
func (l *pionLogger) Info(msg string)                   { l.emit(slog.LevelDebug, msg) }
func (l *pionLogger) Infof(format string, args ...any)  { l.emitf(slog.LevelDebug, format, args...) }
func (l *pionLogger) Warn(msg string)                   { l.emit(slog.LevelDebug, msg) }
func (l *pionLogger) Warnf(format string, args ...any)  { l.emitf(slog.LevelDebug, format, args...) }
func (l *pionLogger) Error(msg string)                  { l.emit(slog.LevelWarn, msg) }
func (l *pionLogger) Errorf(format string, args ...any) { l.emitf(slog.LevelWarn, format, args...) }
