package tokenapi

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strconv"
)

// Twilio error codes used in the error envelope.
const (
	codeInvalidParameter = 20001
	codeAuthenticate     = 20003
	codeMethodNotAllowed = 20004
	codeAccountNotActive = 20005
	codeForbidden        = 20403
	// Subaccount status changes Twilio refuses.
	codeParentSuspended = 21476
	codeAccountClosed   = 21479
	codeNotFound        = 20404
	codeTooLarge        = 20413
	codeTooManyFailures = 20429
	codeInternal        = 20500
	codeUnavailable     = 20503
)

// twilioError is Twilio's legacy error envelope, the one both helper
// libraries decode into their exception types.
type twilioError struct {
	XMLName  xml.Name `json:"-" xml:"RestException"`
	Code     int      `json:"code" xml:"Code"`
	Message  string   `json:"message" xml:"Message"`
	MoreInfo string   `json:"more_info" xml:"MoreInfo"`
	Status   int      `json:"status" xml:"Status"`
}

// writeError sends the envelope. Callers set any extra headers (Allow,
// WWW-Authenticate, Retry-After) before calling it.
func writeError(w http.ResponseWriter, status, code int, message string) {
	writeJSON(w, status, twilioError{
		Code:     code,
		Message:  message,
		MoreInfo: "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
		Status:   status,
	})
}

// writeJSON sends v as the whole response body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	if _, ok := w.(xmlWriter); ok {
		writeXML(w, status, v)
		return
	}
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own response types reach here and they always marshal;
		// answer with a fixed envelope rather than a half-written body.
		status = http.StatusInternalServerError
		body = []byte(`{"code":20500,"message":"Internal Server Error","more_info":"https://www.twilio.com/docs/errors/20500","status":500}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, codeNotFound, "The requested resource "+r.URL.Path+" was not found")
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, "Method "+r.Method+" not allowed on "+r.URL.Path)
}

func badParameter(w http.ResponseWriter, message string) {
	writeError(w, http.StatusBadRequest, codeInvalidParameter, message)
}

func internalError(w http.ResponseWriter) {
	writeError(w, http.StatusInternalServerError, codeInternal, "Internal Server Error")
}
