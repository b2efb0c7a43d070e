// Package console serves turnkey's web console: plain HTML, CSS and a small
// script embedded in the binary, with no build step. On the API listener
// (the tenant view) an account signs in with its SID and auth token or a
// Main key, kept in the tab's sessionStorage only, and the page calls the
// existing API with Basic auth: live allocations, relayed traffic over
// time, keys, and a TURN self-test run in the visitor's browser. On the
// admin listener (the operator view) it shows every account's allocations
// and per-account traffic from /metrics. The page runs under a strict
// Content-Security-Policy: no inline script or style, same-origin requests
// only.
package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
)

// View chooses which console a listener serves.
type View string

const (
	// Tenant is the API listener's console, for one account.
	Tenant View = "tenant"
	// Operator is the admin listener's console, for every account.
	Operator View = "operator"
)

// Prefix is where the console is served.
const Prefix = "/console/"

// csp allows the page's own script, style and requests, nothing else: no
// inline code, no framing, no other origin.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed static
var static embed.FS

var page = template.Must(template.ParseFS(static, "static/index.html"))

// Handler serves the console under Prefix (mount it at Prefix).
func Handler(view View) (http.Handler, error) {
	if view != Tenant && view != Operator {
		return nil, fmt.Errorf("console: unknown view %q", view)
	}
	var index bytes.Buffer
	if err := page.Execute(&index, struct{ View View }{view}); err != nil {
		return nil, fmt.Errorf("console: index page: %w", err)
	}
	assets, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("console: assets: %w", err)
	}
	files := http.StripPrefix(Prefix, http.FileServer(http.FS(assets)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, Prefix)
		switch {
		case name == "" || name == "index.html":
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Cache-Control", "no-store")
			_, _ = w.Write(index.Bytes())
		case name == "console.js" || name == "console.css":
			h.Set("Cache-Control", "no-cache")
			files.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	}), nil
}
