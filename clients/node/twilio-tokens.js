// Drives Twilio's own Node helper library (npm "twilio") against a turnkey
// API, as a customer would, and prints what the library made of the answers
// as one JSON object on stdout. Run by credentials/tokenapi's Go tests.
//
// Environment: BASE_URL (e.g. http://127.0.0.1:8080), ACCOUNT_SID,
// AUTH_TOKEN, TTL (seconds, for the second call). TWILIO_EDGE and
// TWILIO_REGION must be unset: they rewrite the host name.
"use strict";

const twilio = require("twilio");

function client(username, password, opts) {
  const c = twilio(username, password, opts);
  c.api.baseUrl = process.env.BASE_URL;
  return c;
}

// restError keeps what a RestException carries, for the caller to check.
function restError(err) {
  return { status: err.status, code: err.code, message: err.message, moreInfo: err.moreInfo };
}

async function main() {
  const { ACCOUNT_SID: sid, AUTH_TOKEN: token, TTL: ttl } = process.env;
  const c = client(sid, token);
  const out = {};
  out.withoutTtl = (await c.tokens.create()).toJSON();
  out.withTtl = (await c.tokens.create({ ttl: Number(ttl) })).toJSON();
  try {
    await client(sid, "0123456789abcdef0123456789abcdef").tokens.create({ ttl: 60 });
    out.badCredentials = { unexpected: "accepted" };
  } catch (err) {
    out.badCredentials = restError(err);
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  process.stderr.write(`twilio-tokens: ${err.stack || err}\n`);
  process.exit(1);
});
