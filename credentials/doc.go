// Package credentials mints and verifies everything turnkey hands out: TURN
// REST API credentials (time-limited HMAC usernames and passwords), Twilio
// Access Tokens and Capability Tokens. It owns the process's one keyring of
// TURN secrets (keyring.go), which the relay verifies with and the token API
// signs with. The account/key store and the HTTP API
// that issue them live in the store and tokenapi sub-packages.
package credentials
