// Package admin serves the operator listener: Prometheus /metrics, /healthz
// (the process is alive), /readyz (every listener bound, store reachable, not
// draining), the live allocations of every account (/v1/allocations), the
// operator console (/console/) and, when enabled, Go's pprof. It is meant for a private address
// (default 127.0.0.1:9641), apart from the public API.
package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/turnkey-dev/turnkey/relay"
	"github.com/turnkey-dev/turnkey/sessions"
)

// Check is one readiness condition; it returns nil when satisfied.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Config configures the admin handler.
type Config struct {
	Gatherer prometheus.Gatherer
	Ready    []Check
	Pprof    bool
	// Allocations is the relay's allocation registry; nil on a node
	// without a relay, which then has no /v1/allocations.
	Allocations sessions.Registry
	// Console, if set, is served at /console/ (the operator view).
	Console http.Handler
}

// Handler returns the admin HTTP handler.
func Handler(cfg Config) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		failed := map[string]string{}
		for _, c := range cfg.Ready {
			if err := c.Fn(ctx); err != nil {
				failed[c.Name] = err.Error()
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if len(failed) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]any{"ready": false, "failed": failed})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": true})
	})
	if reg := cfg.Allocations; reg != nil {
		scope := sessions.Scope{Reason: relay.CloseOperator, Error: writeError}
		mux.HandleFunc("GET /v1/allocations", func(w http.ResponseWriter, r *http.Request) {
			sessions.List(w, r, reg, scope)
		})
		mux.HandleFunc("DELETE /v1/allocations", func(w http.ResponseWriter, r *http.Request) {
			sessions.CloseMatching(w, r, reg, scope)
		})
		mux.HandleFunc("DELETE /v1/allocations/{id}", func(w http.ResponseWriter, r *http.Request) {
			sessions.Close(w, r, reg, scope, r.PathValue("id"))
		})
	}
	if cfg.Console != nil {
		mux.Handle("GET /console/", cfg.Console)
	}
	if cfg.Pprof {
		enableContentionProfiles()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		// Not cmdline: it shows the process's flags, secrets passed as
		// -secret or -store-dsn among them.
		mux.HandleFunc("/debug/pprof/cmdline", http.NotFound)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// writeError is the admin listener's refusal: {"error": "..."}.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// Sampling rates for the contention profiles. Both are off by default in Go,
// which leaves /debug/pprof/block and /debug/pprof/mutex empty; these rates
// are coarse enough to cost little under load (one blocking event per
// ~10 µs blocked, one in 100 contended unlocks) yet show where requests wait.
const (
	blockProfileRateNS   = 10_000
	mutexProfileFraction = 100
)

// enableContentionProfiles turns on the block and mutex profiles. It runs
// only when pprof is enabled, since the rates are process-wide and sampling
// is not free.
func enableContentionProfiles() {
	runtime.SetBlockProfileRate(blockProfileRateNS)
	runtime.SetMutexProfileFraction(mutexProfileFraction)
}

// Server returns an http.Server for the admin handler with timeouts set.
func Server(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// pprof's CPU profile streams for up to its seconds parameter.
		WriteTimeout:   65 * time.Second,
		IdleTimeout:    60 * time.Second,
		MaxHeaderBytes: 16 << 10,
	}
}
