// Package peerpolicy decides whether the relay may send traffic to a peer
// address (CreatePermission, ChannelBind and RFC 6062 Connect).
//
// A TURN server is an open proxy for authenticated users, so without a policy
// it can be used to reach the operator's internal network (coturn
// CVE-2020-26262 via 0.0.0.0 and [::], CVE-2026-27624 via ::ffff:127.0.0.1).
// The default deny-list covers every special-purpose range, and IPv6 forms
// that embed an IPv4 address are reduced to that IPv4 address first so an
// internal IPv4 target cannot hide inside an IPv6 literal.
//
// Check is on the per-request path: it does not allocate and a Policy is
// immutable, so a config reload builds a new Policy and swaps the pointer
// (for example with atomic.Pointer[Policy]).
package peerpolicy
