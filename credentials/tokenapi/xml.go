package tokenapi

import (
	"encoding/xml"
	"net/http"
	"strconv"
)

// Twilio's 2010-04-01 API answers in XML when the path has no ".json"
// extension (the API predates JSON there). Helper libraries always add
// ".json"; hand-written clients calling ".../Tokens" get what Twilio sends.

// xmlWriter marks a response that writeJSON must encode as XML instead.
type xmlWriter struct{ http.ResponseWriter }

// asXML makes h's responses, errors included, Twilio's XML.
func asXML(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h(xmlWriter{w}, r)
	}
}

// twilioResponse is the XML envelope every 2010-04-01 XML body sits in.
type twilioResponse struct {
	XMLName xml.Name `xml:"TwilioResponse"`
	Body    any
}

// writeXML sends v wrapped in <TwilioResponse>; v's XMLName names the
// element (Token, RestException).
func writeXML(w http.ResponseWriter, status int, v any) {
	body, err := xml.Marshal(twilioResponse{Body: v})
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`<TwilioResponse><RestException><Code>20500</Code><Message>Internal Server Error</Message><MoreInfo>https://www.twilio.com/docs/errors/20500</MoreInfo><Status>500</Status></RestException></TwilioResponse>`)
	}
	body = append([]byte(xml.Header), body...)
	h := w.Header()
	h.Set("Content-Type", "application/xml; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
