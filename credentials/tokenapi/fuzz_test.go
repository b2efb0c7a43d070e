package tokenapi

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/internal/logbuf"
)

// Bits of FuzzTokensForm's mode byte.
const (
	fuzzAuthMask     = 0x03 // 0 auth token, 1 API key, 2 wrong password, 3 none
	fuzzTTLInQuery   = 0x04 // Ttl in the query string instead of the body
	fuzzWithTTL      = 0x08 // send Ttl at all (absent and empty differ)
	fuzzWithRegion   = 0x10
	fuzzBarePath     = 0x20 // .../Tokens instead of .../Tokens.json
	fuzzOtherAccount = 0x40 // valid credentials, another account's path
	fuzzChunked      = 0x80 // no Content-Length: the body limit must still hold
)

// fuzzMaxBody is small so the fuzzer reaches the 413 path easily.
const fuzzMaxBody = 1024

// FuzzTokensForm sends arbitrary requests to the Tokens endpoint: any
// method, content type, body, Host, Ttl and Region, with good, bad or no
// credentials. Whatever arrives, the answer is never a 5xx or a panic; an
// error is always Twilio's JSON envelope with a matching status; a 201 is
// the Token resource with a string ttl within bounds; and no secret reaches
// the log.
func FuzzTokensForm(f *testing.F) {
	const form = "application/x-www-form-urlencoded"
	f.Add("POST", form, "", "600", "", "", uint8(fuzzWithTTL))
	f.Add("POST", form, "", "", "", "", uint8(1))
	f.Add("POST", form, "", "86400", "us1", "", uint8(fuzzWithTTL|fuzzWithRegion|1))
	f.Add("POST", form, "", "86401", "", "", uint8(fuzzWithTTL))
	f.Add("POST", form, "", "0", "", "", uint8(fuzzWithTTL|fuzzTTLInQuery))
	f.Add("POST", form, "", "-5", "", "", uint8(fuzzWithTTL))
	f.Add("POST", form, "", " 60 ", "", "", uint8(fuzzWithTTL))
	f.Add("POST", form, "", "9999999999", "", "", uint8(fuzzWithTTL))
	f.Add("POST", form, "", "1e3", "", "", uint8(fuzzWithTTL))
	f.Add("POST", form, "Ttl=60&Ttl=70", "", "", "", uint8(0))
	f.Add("POST", form, "", "", "nowhere", "", uint8(fuzzWithRegion))
	f.Add("POST", form, "", "", "global", "", uint8(fuzzWithRegion|fuzzBarePath))
	f.Add("POST", form, "%zz=1", "", "", "", uint8(0))
	f.Add("POST", form, strings.Repeat("a=b&", 400), "", "", "", uint8(0))
	f.Add("POST", form, strings.Repeat("a=b&", 400), "", "", "", uint8(fuzzChunked))
	f.Add("POST", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"Ttl\"\r\n\r\n60\r\n--x--\r\n", "", "", "", uint8(0))
	f.Add("POST", "application/json", `{"Ttl":60}`, "", "", "", uint8(0))
	f.Add("POST", "text/plain; charset=\xff", "Ttl=60", "", "", "", uint8(0))
	f.Add("POST", "", "Ttl=60", "", "", "", uint8(0))
	f.Add("GET", form, "", "", "", "", uint8(0))
	f.Add("PUT", form, "Ttl=60", "", "", "", uint8(0))
	f.Add("OPTIONS", "", "", "", "", "", uint8(3))
	f.Add("POST", form, "", "", "", "", uint8(2))
	f.Add("POST", form, "", "", "", "", uint8(3))
	f.Add("POST", form, "", "", "", "", uint8(fuzzOtherAccount))
	f.Add("POST", form, "", "", "", "[::1]:8080", uint8(0))
	f.Add("POST", form, "", "", "", "evil.example.com/../x", uint8(0))
	f.Add("POST", form, "", "", "", "[fe80::1%25eth0]", uint8(0))
	f.Add("POST", form, "", "", "", "", uint8(fuzzChunked))

	now := time.Now().UTC().Truncate(time.Second)
	st := newFakeStore(func() time.Time { return now })
	acct, err := st.CreateAccount(context.Background(), "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	other, err := st.CreateAccount(context.Background(), "other")
	if err != nil {
		f.Fatal(err)
	}
	key, err := st.CreateKey(context.Background(), acct.SID, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	logs := &logbuf.Buffer{}
	api, err := New(Config{
		Store:     st,
		Keyring:   testKeyring(),
		Listeners: func() []Listener { return allListeners },
		Regions:   map[string]string{"us1": "us1.relay.example.com"},
		// No failure limit: after a few bad-credential inputs every later
		// input would get 429, and the form handler behind it would go
		// unfuzzed. The limiter has its own tests.
		AuthFailuresPerMinute: 0,
		MaxBodyBytes:          fuzzMaxBody,
		MaxTTL:                24 * time.Hour,
		Metrics:               prometheus.NewRegistry(),
		TrackedAccounts:       10,
		Logger:                slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:                   func() time.Time { return now },
	})
	if err != nil {
		f.Fatal(err)
	}
	handler := api.Handler()

	f.Fuzz(func(t *testing.T, method, contentType, body, ttl, region, host string, mode uint8) {
		path := "/2010-04-01/Accounts/" + acct.SID + "/Tokens.json"
		if mode&fuzzOtherAccount != 0 {
			path = "/2010-04-01/Accounts/" + other.SID + "/Tokens.json"
		}
		if mode&fuzzBarePath != 0 {
			path = strings.TrimSuffix(path, ".json")
		}
		query := url.Values{}
		form := body
		addForm := func(k, v string) {
			if form != "" {
				form += "&"
			}
			form += url.QueryEscape(k) + "=" + url.QueryEscape(v)
		}
		if mode&fuzzWithTTL != 0 {
			if mode&fuzzTTLInQuery != 0 {
				query.Set("Ttl", ttl)
			} else {
				addForm("Ttl", ttl)
			}
		}
		if mode&fuzzWithRegion != 0 {
			addForm("Region", region)
		}
		target := "http://relay.example.com" + path
		if len(query) > 0 {
			target += "?" + query.Encode()
		}
		var rd io.Reader = strings.NewReader(form)
		if mode&fuzzChunked != 0 {
			// Hides the length, as a chunked request does.
			rd = io.MultiReader(strings.NewReader(form))
		}
		req, err := http.NewRequest(method, target, rd)
		if err != nil {
			return // not a method a server would parse; nothing reaches the handler
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if host != "" {
			req.Host = host
		}
		req.RemoteAddr = "192.0.2.1:1234"
		switch mode & fuzzAuthMask {
		case 0:
			req.SetBasicAuth(acct.SID, acct.AuthToken)
		case 1:
			req.SetBasicAuth(key.SID, key.Secret)
		case 2:
			req.SetBasicAuth(acct.SID, acct.AuthToken+"x")
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		res := rec.Result()
		raw := rec.Body.Bytes()
		describe := func() string {
			return "request " + strconv.Quote(method) + " " + target + " type " + strconv.Quote(contentType) +
				" host " + strconv.Quote(host) + " body " + strconv.Quote(form) + ": " +
				strconv.Itoa(res.StatusCode) + " " + string(raw)
		}

		if res.StatusCode >= 500 {
			t.Fatalf("5xx: %s", describe())
		}
		wantCT := "application/json; charset=utf-8"
		if mode&fuzzBarePath != 0 {
			wantCT = "application/xml; charset=utf-8"
		}
		if ct := res.Header.Get("Content-Type"); ct != wantCT {
			t.Fatalf("Content-Type %q: %s", ct, describe())
		}
		if mode&fuzzBarePath != 0 {
			var x xmlToken
			if err := xml.Unmarshal(raw, &x); err != nil {
				t.Fatalf("body is not XML (%v): %s", err, describe())
			}
			if (res.StatusCode == http.StatusCreated) != (x.RestException == nil) {
				t.Fatalf("status and body disagree: %s", describe())
			}
		} else if res.StatusCode == http.StatusCreated {
			// Ttl counts where the handler reads it: the query, or a body
			// Go parses as a form; elsewhere it is ignored and the default
			// applies (a 400 would be as good; a different ttl would not).
			sentTTL := mode&fuzzWithTTL != 0 && (mode&fuzzTTLInQuery != 0 || isURLEncodedForm(contentType))
			checkFuzzToken(t, raw, sentTTL, ttl, acct.SID, describe)
		} else {
			checkEnvelope(t, raw, res.StatusCode, describe)
		}
		logged := logs.Drain()
		if strings.Contains(logged, "panicked") {
			t.Fatalf("handler panicked: %s\n%s", describe(), logged)
		}
		for _, secret := range []string{acct.AuthToken, key.Secret, other.AuthToken, string(testSecret)} {
			if strings.Contains(logged, secret) {
				t.Fatalf("a secret reached the log: %s\n%s", describe(), logged)
			}
		}
	})
}

// isURLEncodedForm reports whether net/http reads a body of this type in
// ParseForm.
func isURLEncodedForm(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// checkEnvelope asserts Twilio's error envelope, exactly its four fields.
func checkEnvelope(t *testing.T, raw []byte, status int, describe func() string) {
	t.Helper()
	var env map[string]json.RawMessage
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("error body is not JSON (%v): %s", err, describe())
	}
	var e twilioError
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || len(env) != 4 {
		t.Fatalf("error body is not the envelope (%v): %s", err, describe())
	}
	if e.Status != status || e.Code < 20000 || e.Message == "" ||
		e.MoreInfo != "https://www.twilio.com/docs/errors/"+strconv.Itoa(e.Code) {
		t.Fatalf("bad envelope %+v: %s", e, describe())
	}
}

// checkFuzzToken asserts a 201 body: the Token resource, every scalar a
// string (twilio-go refuses a numeric ttl), ttl within 1..86400 and equal
// to the Ttl sent when the handler could read it, and TURN credentials that verify.
func checkFuzzToken(t *testing.T, raw []byte, sentTTL bool, ttl, accountSID string, describe func() string) {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("201 body is not JSON (%v): %s", err, describe())
	}
	var s string
	if err := json.Unmarshal(fields["ttl"], &s); err != nil {
		t.Fatalf("ttl is not a string (%v): %s", err, describe())
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 86400 {
		t.Fatalf("ttl %q out of range: %s", s, describe())
	}
	if sentTTL {
		if sent, err := strconv.Atoi(strings.TrimSpace(ttl)); err != nil || sent != n {
			t.Fatalf("ttl %q answered for Ttl %q: %s", s, ttl, describe())
		}
	}
	var tok ntsToken
	if err := json.Unmarshal(raw, &tok); err != nil {
		t.Fatalf("201 body is not a Token (%v): %s", err, describe())
	}
	if tok.AccountSID != accountSID || len(tok.IceServers) == 0 || tok.Username == "" {
		t.Fatalf("incomplete Token: %s", describe())
	}
	if credentials.TURNPassword(testSecret, tok.Username) != tok.Password {
		t.Fatalf("password does not verify: %s", describe())
	}
	if _, err := credentials.ParseTURNUsername(tok.Username); err != nil {
		t.Fatalf("issued username does not parse (%v): %s", err, describe())
	}
}
