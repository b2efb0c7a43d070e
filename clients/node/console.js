#!/usr/bin/env node
// console.js drives Debian's Chromium through playwright-core over turnkey's
// web console, as a visitor would: sign in on the API listener's /console/,
// see a given allocation appear and close it, create and delete a key, run
// the TURN self-test, then open the operator view on the admin listener.
// turnkey's Go test (cmd/turnkey/console_test.go) starts the server and
// judges the result.
//
// Input: one JSON object in argv[2]:
//   api, admin   base URLs of the API and admin listeners
//   account      account SID; secret: its auth token
//   relay        relay address ("127.0.0.1:62001") of an allocation to close
//   artifacts    directory for screenshots
//   chromium     browser binary (default /usr/bin/chromium)
// Output: one JSON line on stdout; exit 0 only when every step worked.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');
const { startChromium, devtoolsURL, killGroup, withDeadline } = require('./chromium');

async function run(input, result) {
  const page = result.page;
  const step = (name) => { result.steps.push(name); };
  const shot = async (name) => {
    const file = path.join(input.artifacts, name);
    await page.screenshot({ path: file, fullPage: true });
    result.screenshots.push(file);
  };

  step('open the tenant console');
  await page.goto(input.api + '/console/', { timeout: 15000 });
  await page.waitForSelector('#sign-in-form', { state: 'visible', timeout: 10000 });
  await shot('console-sign-in.png');

  step('sign in with the auth token');
  await page.fill('#in-account', input.account);
  await page.fill('#in-secret', input.secret);
  await page.click('#sign-in-submit');
  await page.waitForSelector('#signed-in', { state: 'visible', timeout: 10000 });
  result.storedIn = await page.evaluate(() => ({
    session: sessionStorage.getItem('turnkey-console') !== null,
    local: localStorage.length,
    cookies: document.cookie,
  }));

  step('see the allocation appear');
  const row = `#alloc-rows tr[data-relay="${input.relay}"]`;
  await page.waitForSelector(row, { timeout: 15000 });
  await shot('console-allocation.png');

  step('run the self-test');
  await page.click('#selftest-run');
  await page.waitForSelector('#selftest-rows[data-done="true"]', { timeout: 90000 });
  result.selftest = await page.$$eval('#selftest-rows tr', (rows) => rows.map((r) => ({
    transport: r.dataset.transport,
    relay: r.dataset.relay === 'yes',
    ok: r.dataset.ok === 'true',
    cells: [...r.children].map((c) => c.textContent),
  })));
  // The chart draws once it has two rates (three samples).
  await page.waitForSelector('#usage-chart polyline', { state: 'attached', timeout: 15000 });
  await shot('console.png');

  step('close it');
  await page.click(`${row} button`);
  await page.waitForSelector(row, { state: 'detached', timeout: 15000 });

  step('create a key (secret shown once) and delete it');
  await page.fill('#key-name', 'console-test');
  await page.click('#key-create');
  await page.waitForSelector('#key-secret', { state: 'visible', timeout: 10000 });
  result.key = {
    sid: await page.textContent('#key-secret-sid'),
    secretShown: ((await page.textContent('#key-secret-value')) || '').length,
  };
  await page.waitForSelector(`#key-rows tr[data-sid="${result.key.sid}"]`, { timeout: 10000 });
  await page.click('#key-secret-done');
  result.key.secretAfterDone = ((await page.textContent('#key-secret-value')) || '').length;
  await page.click(`#key-rows tr[data-sid="${result.key.sid}"] button`);
  await page.waitForSelector(`#key-rows tr[data-sid="${result.key.sid}"]`, { state: 'detached', timeout: 10000 });
  result.key.deleted = true;

  step('open the operator console');
  await page.goto(input.admin + '/console/', { timeout: 15000 });
  await page.waitForSelector('#alloc-count:not(:empty)', { timeout: 15000 });
  result.operatorSignInHidden = await page.isHidden('#sign-in');
  await shot('console-operator.png');
}

async function main() {
  const input = JSON.parse(process.argv[2] || '{}');
  input.chromium = input.chromium || '/usr/bin/chromium';
  fs.mkdirSync(input.artifacts, { recursive: true });
  const result = { ok: false, problems: [], steps: [], screenshots: [], cspViolations: [], pageErrors: [] };
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tk-console-'));
  let proc;
  let browser;
  try {
    proc = startChromium(input.chromium, userDataDir, ['--window-size=1280,900']);
    const ws = await withDeadline(devtoolsURL(proc.child), 30000, 'launching Chromium');
    browser = await withDeadline(chromium.connectOverCDP(ws, { timeout: 10000 }), 15000, 'connecting to Chromium');
    const context = browser.contexts()[0] || await browser.newContext();
    const page = context.pages()[0] || await context.newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) result.cspViolations.push(m.text());
    });
    page.on('pageerror', (e) => result.pageErrors.push(String(e)));
    Object.defineProperty(result, 'page', { value: page, enumerable: false });
    await withDeadline(run(input, result), 170000, 'the console walk-through');
    if (result.cspViolations.length) result.problems.push('CSP violations: ' + result.cspViolations.join('; '));
    if (result.pageErrors.length) result.problems.push('page errors: ' + result.pageErrors.join('; '));
    result.ok = result.problems.length === 0;
  } catch (err) {
    result.problems.push(`at "${result.steps[result.steps.length - 1]}": ${err && err.message ? err.message : err}`);
    if (result.page) {
      const file = path.join(input.artifacts, 'console-failure.png');
      await result.page.screenshot({ path: file, fullPage: true }).then(() => result.screenshots.push(file), () => {});
      result.errorText = await result.page.textContent('#error').catch(() => null);
    }
  } finally {
    if (browser) await withDeadline(browser.close(), 5000, 'disconnecting').catch(() => {});
    if (proc) killGroup(proc.child.pid);
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  return result;
}

main().then((result) => {
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(result.ok ? 0 : 1);
}, (err) => {
  process.stdout.write(JSON.stringify({ ok: false, problems: [String(err && err.stack ? err.stack : err)] }) + '\n');
  process.exit(1);
});
