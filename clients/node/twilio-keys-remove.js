// The "page, remove each, nextPage" loop over API keys through Twilio's Node
// helper library, then a Standard key trying to manage keys. Prints one JSON
// object on stdout. Run by credentials/tokenapi's Go tests.
//
// Environment: BASE_URL, ACCOUNT_SID, AUTH_TOKEN, STANDARD_KEY,
// STANDARD_SECRET, PAGE_SIZE.
"use strict";

const twilio = require("twilio");

function client(username, password, opts) {
  const c = twilio(username, password, opts);
  c.api.baseUrl = process.env.BASE_URL;
  return c;
}

async function main() {
  const env = process.env;
  const out = { removed: 0, pages: 0 };
  const std = client(env.STANDARD_KEY, env.STANDARD_SECRET, { accountSid: env.ACCOUNT_SID });
  try {
    await std.keys.list({ limit: 1 });
    out.standard = { unexpected: "accepted" };
  } catch (err) {
    out.standard = { status: err.status, code: err.code };
  }
  const c = client(env.ACCOUNT_SID, env.AUTH_TOKEN);
  let page = await c.keys.page({ pageSize: Number(env.PAGE_SIZE) });
  for (;;) {
    out.pages++;
    for (const k of page.instances) {
      if (k.sid === env.STANDARD_KEY) continue;
      await c.keys(k.sid).remove();
      out.removed++;
    }
    page = await page.nextPage();
    if (!page) break;
  }
  out.left = (await c.keys.list()).map((k) => k.sid);
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  process.stderr.write(`twilio-keys-remove: ${err.stack || err}\n`);
  process.exit(1);
});
