package console

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHandlerServesThePageUnderItsCSP: the page, its script and style come
// with the strict policy; anything else is 404, and only GET/HEAD are
// answered.
func TestHandlerServesThePageUnderItsCSP(t *testing.T) {
	for _, view := range []View{Tenant, Operator} {
		h, err := Handler(view)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			method, path string
			code         int
			contains     string
		}{
			{"GET", "/console/", 200, `data-view="` + string(view) + `"`},
			{"GET", "/console/index.html", 200, `<script src="console.js" defer></script>`},
			{"GET", "/console/console.js", 200, "'use strict'"},
			{"GET", "/console/console.css", 200, "--accent"},
			{"GET", "/console/../console.go", 404, ""},
			{"GET", "/console/nothing.js", 404, ""},
			{"POST", "/console/", 405, ""},
		} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.contains) {
				t.Errorf("%s %s %s: %d, want %d containing %q", view, tc.method, tc.path, rec.Code, tc.code, tc.contains)
			}
			csp := rec.Header().Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "default-src 'none'") ||
				strings.Contains(csp, "unsafe") {
				t.Errorf("%s %s: CSP %q", view, tc.path, csp)
			}
		}
	}
	if _, err := Handler("other"); err == nil {
		t.Error("an unknown view is accepted")
	}
	page, _ := static.ReadFile("static/index.html")
	if strings.Contains(string(page), "style=") || strings.Contains(string(page), "onclick") ||
		strings.Count(string(page), "<script") != 1 {
		t.Error("index.html holds inline style or script, which the CSP refuses")
	}
}
