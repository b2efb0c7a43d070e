#!/usr/bin/env node
// Drives the real twilio helper library (and its jsonwebtoken dependency)
// for turnkey's interop tests in credentials/interop_node_test.go.
//
//   node twilio-jwt.js mint   < request.json   mint with twilio.jwt.AccessToken and ClientCapability
//   node twilio-jwt.js decode < request.json   verify turnkey-minted tokens with jsonwebtoken
//
// mint request:
//   {"now": 1700000000,              optional: freeze the clock (unix seconds) for reproducible tokens
//    "accountSid": "AC..", "keySid": "SK..", "keySecret": "..", "authToken": "..",
//    "identity": "alice", "ttl": 3600, "region": "ie1", "nbf": 1699999990,
//    "grants": {"voice": {...VoiceGrant options}, "video": {"room": ".."}, "chat": {..}, "sync": {..},
//               "taskRouter": {..}, "playback": {"grant": {..}}},
//    "capability": {"incoming": "tommy",
//                   "outgoing": {"applicationSid": "AP..", "clientName": "tommy", "params": {"k": "v"}},
//                   "eventStream": {"k": "v"}, "ttl": 3600}}
// Grant options use twilio-node's names (incomingAllow, outgoingApplicationSid, ...). Grants are
// added voice, video, chat, sync, taskRouter, playback: the order turnkey encodes them in.
// Prints {"accessToken": "..", "capabilityToken": ".."}; either is omitted when not asked for.
//
// decode request: {"now": 1700000000, "tokens": [{"jwt": "..", "secret": ".."}]}
// Prints [{"header": {..}, "payload": {..}} | {"error": ".."}] in the same order.
"use strict";

const twilio = require("twilio");
const jsonwebtoken = require("jsonwebtoken");

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on("data", (c) => chunks.push(c));
    process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    process.stdin.on("error", reject);
  });
}

// freezeClock makes Date.now() and new Date() return a fixed instant, since
// neither helper class takes the time as a parameter.
function freezeClock(unixSeconds) {
  const fixedMs = unixSeconds * 1000;
  const RealDate = Date;
  class FixedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) {
        super(fixedMs);
      } else {
        super(...args);
      }
    }
    static now() {
      return fixedMs;
    }
  }
  global.Date = FixedDate;
}

function mintAccess(req) {
  const AccessToken = twilio.jwt.AccessToken;
  const opts = { identity: req.identity };
  if (req.ttl) opts.ttl = req.ttl;
  if (req.region) opts.region = req.region;
  if (typeof req.nbf === "number") opts.nbf = req.nbf;
  const token = new AccessToken(req.accountSid, req.keySid, req.keySecret, opts);
  const g = req.grants || {};
  if (g.voice) token.addGrant(new AccessToken.VoiceGrant(g.voice));
  if (g.video) token.addGrant(new AccessToken.VideoGrant(g.video));
  if (g.chat) token.addGrant(new AccessToken.ChatGrant(g.chat));
  if (g.sync) token.addGrant(new AccessToken.SyncGrant(g.sync));
  if (g.taskRouter) token.addGrant(new AccessToken.TaskRouterGrant(g.taskRouter));
  if (g.playback) token.addGrant(new AccessToken.PlaybackGrant(g.playback));
  return token.toJwt();
}

function mintCapability(req) {
  const ClientCapability = twilio.jwt.ClientCapability;
  const c = req.capability;
  const opts = { accountSid: req.accountSid, authToken: req.authToken };
  if (c.ttl) opts.ttl = c.ttl;
  const cap = new ClientCapability(opts);
  if (c.incoming) cap.addScope(new ClientCapability.IncomingClientScope(c.incoming));
  if (c.outgoing) cap.addScope(new ClientCapability.OutgoingClientScope(c.outgoing));
  if (c.eventStream) cap.addScope(new ClientCapability.EventStreamScope(c.eventStream));
  return cap.toJwt();
}

function mint(req) {
  if (typeof req.now === "number") freezeClock(req.now);
  const out = {};
  if (req.identity !== undefined) out.accessToken = mintAccess(req);
  if (req.capability) out.capabilityToken = mintCapability(req);
  return out;
}

function decode(req) {
  const opts = { algorithms: ["HS256"], complete: true };
  if (typeof req.now === "number") opts.clockTimestamp = req.now;
  return (req.tokens || []).map((t) => {
    try {
      const d = jsonwebtoken.verify(t.jwt, t.secret, opts);
      return { header: d.header, payload: d.payload };
    } catch (e) {
      return { error: e.name + ": " + e.message };
    }
  });
}

async function main() {
  const mode = process.argv[2];
  if (mode !== "mint" && mode !== "decode") {
    process.stderr.write("usage: node twilio-jwt.js mint|decode < request.json\n");
    process.exit(2);
  }
  const req = JSON.parse(await readStdin());
  const out = mode === "mint" ? mint(req) : decode(req);
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  process.stderr.write("twilio-jwt: " + (e && e.stack ? e.stack : String(e)) + "\n");
  process.exit(1);
});
