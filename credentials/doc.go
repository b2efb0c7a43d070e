// Package credentials mints and verifies everything turnkey hands out: TURN
// REST API credentials (time-limited HMAC usernames and passwords), Twilio
// Access Tokens and Capability Tokens. The account/key store and the HTTP API
// that issue them live in the store and tokenapi sub-packages.
package credentials
