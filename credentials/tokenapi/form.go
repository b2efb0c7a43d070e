package tokenapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// parseForm reads the query and a form body of at most MaxBodyBytes. It
// writes 413 or 400 and returns false when the request must stop.
func (a *API) parseForm(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength > a.cfg.MaxBodyBytes {
		tooLarge(w, a.cfg.MaxBodyBytes)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			tooLarge(w, a.cfg.MaxBodyBytes)
			return false
		}
		badParameter(w, "The request body is not a valid form")
		return false
	}
	return true
}

func tooLarge(w http.ResponseWriter, limit int64) {
	writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge,
		"The request body is larger than "+strconv.FormatInt(limit, 10)+" bytes")
}

// parseTTL reads a lifetime in whole seconds from parameter name: absent
// gives def; otherwise 1..max seconds, else a message naming the parameter.
func parseTTL(r *http.Request, name string, def, max time.Duration) (time.Duration, string) {
	v, present := r.Form[name]
	if !present {
		return def, ""
	}
	maxSecs := int64(max / time.Second)
	msg := "Invalid " + name + ": must be a whole number of seconds from 1 to " + strconv.FormatInt(maxSecs, 10)
	if len(v) != 1 {
		return 0, msg
	}
	s := strings.TrimSpace(v[0])
	if s == "" || len(s) > 10 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, msg
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > maxSecs {
		return 0, msg
	}
	return time.Duration(n) * time.Second, ""
}
