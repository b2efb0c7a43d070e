package tokenapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/turnkey-dev/turnkey/credentials"
)

// minICETTL is the shortest credential /v1/ice-servers issues, whatever
// the token's remaining lifetime: enough to gather candidates and allocate.
const minICETTL = time.Minute

// rtcConfiguration is a W3C RTCConfiguration, ready for new
// RTCPeerConnection(...). TTL (seconds) tells the page when to fetch again.
type rtcConfiguration struct {
	IceServers         []rtcIceServer `json:"iceServers"`
	IceTransportPolicy string         `json:"iceTransportPolicy"`
	TTL                int64          `json:"ttl"`
}

type rtcIceServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// handleICEServers serves GET|POST /v1/ice-servers for a Bearer token. See
// the package documentation for how the lifetime is chosen.
func (a *API) handleICEServers(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodOptions:
		a.cors.preflight(w, r)
		return
	case http.MethodGet, http.MethodPost:
	default:
		methodNotAllowed(w, r, "GET, POST, OPTIONS")
		return
	}
	a.cors.apply(w, r)
	if a.refuseRateLimited(w, r) {
		return
	}
	raw, ok := bearerToken(r)
	if !ok {
		a.metrics.authFailure("bearer_missing")
		// RFC 6750 §3.1: no error code when no credentials were sent.
		w.Header().Set("WWW-Authenticate", `Bearer realm="turnkey"`)
		writeError(w, http.StatusUnauthorized, codeAuthenticate, "An Access Token or Capability Token is required (Authorization: Bearer)")
		return
	}
	now := a.now()
	b, err := a.verifyBearer(r.Context(), raw, now)
	if err != nil {
		var te *credentials.TokenError
		var inactive *inactiveAccountError
		if errors.As(err, &inactive) {
			a.metrics.authFailure("account_inactive")
			a.inGoodStanding(w, inactive.acct)
			return
		}
		if !errors.As(err, &te) {
			a.log.Error("tokenapi: verifying bearer token", "err", err)
			internalError(w)
			return
		}
		if countsAsGuess(te.Reason) {
			a.limiter.Fail(a.clientAddr(r))
		}
		a.metrics.authFailure(bearerReason(te.Reason))
		// TokenError's text names claims and SIDs, never a secret or the
		// token, and is meant for the token's holder.
		a.log.Info("tokenapi: bearer token refused", "reason", te.Reason, "err", te.Error(), "remote", a.clientAddr(r))
		w.Header().Set("WWW-Authenticate", `Bearer realm="turnkey", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, codeAuthenticate, te.Error())
		return
	}
	if !a.parseForm(w, r) {
		return
	}
	ttl, msg := parseTTL(r, "ttl", twilioMaxTTL, twilioMaxTTL)
	if msg != "" {
		badParameter(w, msg)
		return
	}
	// Never outlive the token by more than minICETTL. The floor matters for
	// tokens the verifier accepted within its clock-skew leeway, whose
	// remainder by our clock is tiny or negative.
	remaining := max((b.Expires.Sub(now) + time.Second - 1).Truncate(time.Second), minICETTL)
	ttl = min(ttl, a.cfg.MaxTTL.Truncate(time.Second), remaining)
	host, ok := a.regionHost(w, r, "region")
	if !ok {
		return
	}
	now = now.Truncate(time.Second)
	cred, err := a.issue(host, b.AccountSID, b.CredID, b.Identity, now, ttl)
	if err != nil {
		a.issueFailed(w, err)
		return
	}
	var stun, turn []string
	for _, u := range cred.URLs {
		if u.turn {
			turn = append(turn, u.uri)
		} else {
			stun = append(stun, u.uri)
		}
	}
	cfg := rtcConfiguration{IceServers: []rtcIceServer{}, IceTransportPolicy: "all", TTL: int64(ttl / time.Second)}
	if len(stun) > 0 {
		cfg.IceServers = append(cfg.IceServers, rtcIceServer{URLs: stun})
	}
	if len(turn) > 0 {
		cfg.IceServers = append(cfg.IceServers, rtcIceServer{URLs: turn, Username: cred.Username, Credential: cred.Password})
	}
	a.metrics.issuedForBearer(b.Kind, b.AccountSID)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, cfg)
}

// countsAsGuess reports whether a refusal feeds the failure limiter. Time
// refusals do not: the verifier checks the signature before the time
// claims, so an expired or not-yet-valid token is genuine, and a page left
// open past its token's expiry (or many, behind one NAT) must not lock
// everyone at that address out.
func countsAsGuess(reason string) bool {
	return reason != credentials.ReasonExpired && reason != credentials.ReasonNotYetValid
}

// bearerToken extracts the token from "Authorization: Bearer <token>"; the
// scheme is case-insensitive (RFC 9110 §11.1).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
