// Drives the API key lifecycle through Twilio's Node helper library against
// a turnkey API: create, list across pages, fetch, rename, issue a token with
// the key, delete, and check the deleted key no longer authenticates. Prints
// one JSON object on stdout. Run by credentials/tokenapi's Go tests.
//
// Environment: BASE_URL, ACCOUNT_SID, AUTH_TOKEN; TWILIO_EDGE and
// TWILIO_REGION unset.
"use strict";

const twilio = require("twilio");

function client(username, password, opts) {
  const c = twilio(username, password, opts);
  c.api.baseUrl = process.env.BASE_URL;
  return c;
}

async function main() {
  const { ACCOUNT_SID: sid, AUTH_TOKEN: token } = process.env;
  const c = client(sid, token);
  const out = {};
  const created = [];
  for (const name of ["node-a", "node-b", "node-c"]) {
    created.push(await c.newKeys.create({ friendlyName: name }));
  }
  out.created = created.map((k) => ({ sid: k.sid, friendlyName: k.friendlyName, hasSecret: Boolean(k.secret) }));
  // pageSize 2 makes the library follow next_page_uri.
  out.listed = (await c.keys.list({ pageSize: 2 })).map((k) => k.sid);
  const first = created[0];
  out.fetched = (await c.keys(first.sid).fetch()).friendlyName;
  out.renamed = (await c.keys(first.sid).update({ friendlyName: "node-renamed" })).friendlyName;

  const withKey = client(first.sid, first.secret, { accountSid: sid });
  out.tokenWithKey = (await withKey.tokens.create({ ttl: 120 })).toJSON();

  out.removed = await c.keys(first.sid).remove();
  try {
    await withKey.tokens.create({ ttl: 120 });
    out.afterRemove = { unexpected: "accepted" };
  } catch (err) {
    out.afterRemove = { status: err.status, code: err.code };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  process.stderr.write(`twilio-keys: ${err.stack || err}\n`);
  process.exit(1);
});
