package tokenapi

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// statusRecorder remembers the status code a handler sent.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// instrument wraps a route's handler with metrics, an access log line and
// panic recovery. route is the registered pattern, so labels stay bounded
// whatever paths clients send. The log line carries no header or form
// value: those hold the secrets.
func (a *API) instrument(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
					panic(p)
				}
				a.log.Error("tokenapi: handler panicked", "route", route, "panic", p)
				if rec.status == 0 {
					internalError(rec)
				}
			}
			code := rec.status
			if code == 0 {
				code = http.StatusOK
			}
			elapsed := time.Since(start)
			a.metrics.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
			a.metrics.duration.WithLabelValues(route).Observe(elapsed.Seconds())
			a.log.LogAttrs(r.Context(), slog.LevelDebug, "tokenapi: request",
				slog.String("method", r.Method), slog.String("route", route),
				slog.Int("status", code), slog.Duration("elapsed", elapsed),
				slog.String("remote", r.RemoteAddr))
		}()
		h(rec, r)
	})
}
