// Drives accounts, keys, tokens and usage records through Twilio's Node
// helper library against a turnkey node: create a subaccount, fetch it,
// list, keys (Standard refused on Keys, Main allowed; page-and-remove
// removes all), a
// token, suspend (the subaccount is refused), reactivate, and the usage
// records of category turnmegabytes. Prints one JSON object on stdout. Run
// by cmd/turnkey's Go tests.
//
// Environment: BASE_URL, ACCOUNT_SID, AUTH_TOKEN, MAIN_KEY, MAIN_SECRET (a
// Main key of the account); TWILIO_EDGE and
// TWILIO_REGION unset.
"use strict";

const twilio = require("twilio");

function client(username, password, opts) {
  const c = twilio(username, password, opts);
  c.api.baseUrl = process.env.BASE_URL;
  return c;
}

async function refusal(promise) {
  try {
    await promise;
    return { unexpected: "accepted" };
  } catch (err) {
    return { status: err.status, code: err.code };
  }
}

async function main() {
  const env = process.env;
  const { ACCOUNT_SID: sid, AUTH_TOKEN: token } = env;
  const parent = client(sid, token);
  const out = {};

  const created = await parent.api.v2010.accounts.create({ friendlyName: "node sub" });
  out.created = { sid: created.sid, owner: created.ownerAccountSid, status: created.status, hasToken: Boolean(created.authToken) };
  const sub = client(created.sid, created.authToken);
  out.subFetchesItself = (await sub.api.v2010.accounts(created.sid).fetch()).friendlyName;
  out.listed = (await parent.api.v2010.accounts.list({ pageSize: 1 })).map((a) => a.sid);

  // Keys: Standard keys may not manage keys; page-and-remove removes all.
  const keys = [];
  for (let i = 0; i < 5; i++) keys.push(await sub.newKeys.create({ friendlyName: `k${i}` }));
  const std = client(keys[0].sid, keys[0].secret, { accountSid: created.sid });
  out.standardOnKeys = await refusal(std.keys.list({ limit: 1 }));
  out.standardToken = Boolean((await std.tokens.create()).username);
  const main = client(env.MAIN_KEY, env.MAIN_SECRET, { accountSid: sid });
  out.mainListsKeys = Array.isArray(await main.keys.list({ limit: 1 }));
  let page = await sub.keys.page({ pageSize: 2 });
  out.removed = 0;
  for (;;) {
    for (const k of page.instances) {
      await sub.keys(k.sid).remove();
      out.removed++;
    }
    page = await page.nextPage();
    if (!page) break;
  }
  out.keysLeft = (await sub.keys.list()).length;

  const tok = await sub.tokens.create({ ttl: 600 });
  out.token = { accountSid: tok.accountSid, servers: tok.iceServers.length };

  out.suspended = (await parent.api.v2010.accounts(created.sid).update({ status: "suspended" })).status;
  out.suspendedFetch = await refusal(sub.api.v2010.accounts(created.sid).fetch());
  out.suspendedToken = await refusal(sub.tokens.create());
  out.parentSees = (await parent.api.v2010.accounts(created.sid).fetch()).status;
  out.reactivated = (await parent.api.v2010.accounts(created.sid).update({ status: "active" })).status;
  out.tokenAgain = Boolean((await sub.tokens.create()).username);

  const records = await parent.usage.records.list({ category: "turnmegabytes" });
  out.usage = records.map((r) => ({ category: r.category, usage: r.usage, unit: r.usageUnit, account: r.accountSid }));
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  process.stderr.write(`twilio-accounts: ${err.stack || err}\n`);
  process.exit(1);
});
