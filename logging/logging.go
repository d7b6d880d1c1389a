// Package logging builds mergeflect's zerolog logger and routes client-go's klog output
// through it, so that every line the daemon prints has one format.
package logging

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/rs/zerolog"
	"k8s.io/klog/v2"
)

// New returns a logger writing to w at level ("debug", "info", "warn", "error") in format
// "json" or "console".
func New(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || lvl == zerolog.NoLevel {
		return zerolog.Logger{}, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}

	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)}
	default:
		return zerolog.Logger{}, fmt.Errorf("log format %q: want json or console", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// RouteKlog sends client-go's klog output to log, under component=client-go. klog's
// verbosity levels 1 and above become Debug.
func RouteKlog(log zerolog.Logger) {
	klog.SetLogger(logr.New(&sink{log: log.With().Str("component", "client-go").Logger()}))
}

// sink adapts a zerolog.Logger to logr.LogSink.
type sink struct {
	log zerolog.Logger
}

func (s *sink) Init(logr.RuntimeInfo) {}

func (s *sink) Enabled(level int) bool {
	if level > 0 {
		return s.log.GetLevel() <= zerolog.DebugLevel
	}
	return s.log.GetLevel() <= zerolog.InfoLevel
}

func (s *sink) Info(level int, msg string, kv ...any) {
	ev := s.log.Info()
	if level > 0 {
		ev = s.log.Debug()
	}
	ev.Fields(kv).Msg(msg)
}

func (s *sink) Error(err error, msg string, kv ...any) {
	s.log.Error().Err(err).Fields(kv).Msg(msg)
}

func (s *sink) WithValues(kv ...any) logr.LogSink {
	return &sink{log: s.log.With().Fields(kv).Logger()}
}

func (s *sink) WithName(name string) logr.LogSink {
	return &sink{log: s.log.With().Str("logger", name).Logger()}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
