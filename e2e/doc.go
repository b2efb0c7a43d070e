// Package e2e checks turnkey with real clients: Chromium's WebRTC stack
// (driven by clients/node/webrtc.js through playwright-core) and coturn's
// turnutils_uclient load generator, each against a turnkey binary built
// from this tree and run inside a network namespace the test creates.
//
// The tests live in _test.go files; see README.md for how to run them.
package e2e
