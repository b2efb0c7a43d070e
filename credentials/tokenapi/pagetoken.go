package tokenapi

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/turnkey-dev/turnkey/credentials"
)

// pageTokenPrefix starts every PageToken, as Twilio's start with "PA".
const pageTokenPrefix = "PA"

// encodePageToken makes the opaque PageToken for the page after the row at
// (at, sid): a keyset position, so removing rows already listed never
// shifts the next page, unlike an offset would.
func encodePageToken(at time.Time, sid string) string {
	raw := strconv.FormatInt(at.Unix(), 10) + "_" + sid
	return pageTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodePageToken parses a PageToken whose SID has the given prefix; ok is
// false for anything we did not make.
func decodePageToken(tok, sidPrefix string) (at time.Time, sid string, ok bool) {
	rest, found := strings.CutPrefix(tok, pageTokenPrefix)
	if !found || len(rest) > 128 {
		return time.Time{}, "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return time.Time{}, "", false
	}
	secs, sid, found := strings.Cut(string(raw), "_")
	n, err := strconv.ParseInt(secs, 10, 64)
	if !found || err != nil || n < 0 || !credentials.ValidSID(sid, sidPrefix) {
		return time.Time{}, "", false
	}
	return time.Unix(n, 0).UTC(), sid, true
}
