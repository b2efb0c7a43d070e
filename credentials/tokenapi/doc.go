// Package tokenapi is turnkey's HTTP API: a drop-in for Twilio's Network
// Traversal Service token resource and API key resource, so that Twilio's
// own helper libraries pointed at turnkey's base URL work unchanged, plus two
// turnkey endpoints for browsers and operators.
//
// Routes:
//
//	POST   /2010-04-01/Accounts/{AccountSid}/Tokens.json      NTS token (Twilio wire format)
//	POST   /2010-04-01/Accounts/{AccountSid}/Keys.json        create an API key (secret shown once)
//	GET    /2010-04-01/Accounts/{AccountSid}/Keys.json        list keys (Twilio paging)
//	GET    /2010-04-01/Accounts/{AccountSid}/Keys/{Sid}.json  fetch a key
//	POST   /2010-04-01/Accounts/{AccountSid}/Keys/{Sid}.json  rename a key
//	DELETE /2010-04-01/Accounts/{AccountSid}/Keys/{Sid}.json  delete (and revoke) a key
//	GET|POST /v1/ice-servers   W3C RTCConfiguration for a Bearer Access/Capability Token
//	GET    /v1/usage           relay usage of the calling account
//
// The Twilio routes also answer without the ".json" suffix, as Twilio does.
//
// # Authentication
//
// The Twilio routes and /v1/usage take HTTP Basic credentials: the account
// SID and auth token, or an API key SID and secret of that account. Valid
// credentials for a different account than the one in the path get 404, as if
// the resource did not exist; they are not counted as a failed login.
// /v1/ice-servers takes "Authorization: Bearer <token>" with a Twilio Access
// Token (signed by an API key) or Capability Token (signed by the auth token).
//
// Failed authentications are counted per source address (IPv6 per /64, taken
// from the connection, never from X-Forwarded-For, which any client can
// forge). Past Config.AuthFailuresPerMinute a source gets 429 with Retry-After
// on every authenticated route, valid credentials included, so that guessing
// cannot continue at a slower pace through the success path. Requests that
// send no credentials at all, and bearer tokens refused only for their time
// claims (the signature is checked first, so those tokens are genuine), are
// not counted: neither is a guess, and a page left open past its token's
// expiry must not lock out everyone behind the same address.
//
// # Lifetimes
//
// NTS tokens follow Twilio: Ttl defaults to 86400 seconds and must lie in
// 1..86400; Config.MaxTTL lowers both the default and the maximum. The
// optional Region parameter pins the URLs to a configured region's relay
// host (Twilio pins by editing the host name); an unknown region is 400.
// Only listeners running now are advertised; with none running the answer
// is 503 rather than a token nothing would accept.
//
// /v1/ice-servers issues credentials for min(ttl, MaxTTL, max(the bearer
// token's remaining lifetime, 60s)), where ttl is the optional "ttl"
// parameter (1..86400, default 86400) and the answer's "ttl" says what was
// granted. The cap by the token's lifetime is deliberate: the token is the
// application's statement of how long this user may use the service, and
// without the cap anyone holding a token about to expire could trade it for
// a relay credential valid for a day. The 60-second floor covers tokens the
// verifier accepts within its clock-skew leeway, whose remainder by our
// clock is tiny or negative: long enough to gather candidates and allocate.
// Pages are expected to fetch fresh ICE servers with each fresh token.
// Deleting the key (or rotating the auth token) that signed the token
// revokes the credentials as well, since their username names it.
//
// Optional parameters: "ttl" and "region" (as query or form parameters).
//
// # Errors
//
// Every error uses Twilio's legacy envelope
// {"code","message","more_info","status"}, which both helper libraries parse
// into their exception types. Codes: 20001 bad parameter (400), 20003
// authentication (401), 20004 method not allowed (405), 20404 not found
// (404), 20413 body too large (413), 20429 too many failed authentications
// (429), 20500 internal error (500, details only in the log), 20503 no relay
// listener running (503). Secrets (auth tokens, key secrets, TURN passwords,
// Authorization headers) are never logged.
package tokenapi
