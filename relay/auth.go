package relay

import (
	"errors"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/turnkey-dev/turnkey/credentials"
)

// authenticate is pion's AuthHandler: it checks everything about a TURN REST
// credential except the HMAC itself, then returns the long-term key for
// pion's MESSAGE-INTEGRITY check (a wrong password fails there, counted as
// bad_hmac by the OnAuth event). The username is the user ID, so pion only
// honours Refresh, CreatePermission and ChannelBind from the user that
// created an allocation.
func (s *Server) authenticate(ra *turn.RequestAttributes) (string, []byte, bool) {
	refuse := func(reason string, err error) (string, []byte, bool) {
		s.noteRefusal(ra.SrcAddr)
		s.metrics.authFailures.WithLabelValues(reason).Inc()
		// A refused Allocate is also a failed allocation; refusals of
		// Refresh, CreatePermission or ChannelBind concern one that exists.
		if ra.Method == stun.MethodAllocate {
			s.metrics.allocationFailures.WithLabelValues("auth").Inc()
		}
		s.log.Debug("relay: credentials refused", "reason", reason, "client", addrString(ra.SrcAddr),
			"method", ra.Method.String(), "username", ra.Username, "err", err)
		return "", nil, false
	}
	if ra.Realm != s.realm {
		return refuse("bad_realm", errors.New("realm "+quoteTrim(ra.Realm)+" is not ours"))
	}
	u, err := parseUser(ra.Username)
	if err != nil {
		return refuse("malformed", err)
	}
	if err := u.CheckExpiry(s.now(), s.maxTTL, s.clockSkew); err != nil {
		if errors.Is(err, credentials.ErrExpired) {
			return refuse("expired", err)
		}
		return refuse("too_far_ahead", err)
	}
	if u.CredID != "" && s.revoked != nil && s.revoked(u.CredID) {
		return refuse("revoked", errors.New("credential "+u.CredID+" was revoked"))
	}
	secret := s.secrets.secretFor(ra.Username)
	password := credentials.TURNPassword(secret, ra.Username)
	return ra.Username, longTermKey(ra.Username, s.realm, password), true
}

func parseUser(username string) (credentials.TURNUser, error) {
	return credentials.ParseTURNUsername(username)
}

// quoteTrim quotes a client-supplied string for a log line, bounded.
func quoteTrim(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return "\"" + s + "\""
}
