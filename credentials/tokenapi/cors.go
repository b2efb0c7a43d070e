package tokenapi

import (
	"fmt"
	"net/http"
	"strings"
)

// corsPolicy lets configured browser origins call /v1/ice-servers. Only that
// route has CORS: the Twilio routes take account credentials, which must
// never be in a browser.
type corsPolicy struct {
	any     bool
	origins map[string]bool
}

func newCORSPolicy(origins []string) (corsPolicy, error) {
	p := corsPolicy{origins: make(map[string]bool, len(origins))}
	for _, o := range origins {
		o = strings.TrimSpace(o)
		switch {
		case o == "*":
			p.any = true
		case strings.HasPrefix(o, "http://") || strings.HasPrefix(o, "https://"):
			// Browsers send origins without a trailing slash or path.
			p.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
		default:
			return corsPolicy{}, fmt.Errorf("CORS origin %q: want \"*\" or scheme://host[:port]", o)
		}
	}
	return p, nil
}

func (p corsPolicy) enabled() bool { return p.any || len(p.origins) > 0 }

// apply sets the CORS response headers when r comes from an allowed origin
// and reports whether it did. The origin is echoed even for "*" so the
// answer is the same whether or not credentials are involved, and Vary
// keeps shared caches from serving one origin's answer to another.
func (p corsPolicy) apply(w http.ResponseWriter, r *http.Request) bool {
	if !p.enabled() {
		return false
	}
	w.Header().Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" || !(p.any || p.origins[strings.ToLower(origin)]) {
		return false
	}
	w.Header().Set("Access-Control-Allow-Origin", origin)
	return true
}

// preflight answers an OPTIONS request: 204, with the CORS grant only for
// an allowed origin (without it the browser refuses the real request).
func (p corsPolicy) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Allow", "GET, POST, OPTIONS")
	if p.apply(w, r) {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		h.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}
