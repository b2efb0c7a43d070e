// chromium.js starts Debian's Chromium for the tests that drive it through
// playwright-core (webrtc.js, console.js): the flags WebRTC on loopback
// needs in a headless browser without a network, a process group of its
// own, and the DevTools URL to connect to.
'use strict';

const os = require('os');
const { spawn } = require('child_process');

// Flags from /work/shared/reference/real-clients.md; each one is needed. A
// fresh --user-data-dir is added per run by startChromium.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Without it ICE gathering on loopback never finishes, silently.
  '--allow-loopback-in-peer-connection',
  // Stops mDNS/IGMP chatter.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  // Stops DNS lookups; without the EXCLUDE of the relay's address (127.0.0.1,
  // and the IPv6 test address of e2e's TestChromiumIPv6), TURN over TCP
  // fails (701).
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1 , EXCLUDE 2001:db8:1::10',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--ignore-certificate-errors',
];

// withDeadline rejects when p has not settled within ms.
function withDeadline(p, ms, what) {
  let timer;
  const t = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// startChromium launches the browser ourselves rather than through
// Playwright's launch, so every flag (including a fresh --user-data-dir) is
// ours and the process group is known: Chromium is started detached and
// leads its own group.
function startChromium(bin, userDataDir, extraArgs = []) {
  const args = [...CHROMIUM_ARGS, ...extraArgs, `--user-data-dir=${userDataDir}`, '--remote-debugging-port=0', 'about:blank'];
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; if (stderr.length > 65536) stderr = stderr.slice(-32768); });
  // Our own exit must not leave the browser behind, whatever the reason
  // ('exit' does not fire when a signal ends node, hence the handlers).
  process.on('exit', () => killGroup(child.pid));
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
    process.on(sig, () => { killGroup(child.pid); process.exit(128 + os.constants.signals[sig]); });
  }
  return { child, stderr: () => stderr };
}

// devtoolsURL resolves with the DevTools WebSocket URL Chromium prints.
function devtoolsURL(child) {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stderr.on('data', (d) => {
      buf += d;
      const m = buf.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code, sig) => reject(new Error(`Chromium exited (${code ?? sig}) before DevTools was up: ${buf.slice(-1000)}`)));
    child.on('error', reject);
  });
}

// killGroup ends Chromium and its helpers (it never exits by itself).
function killGroup(pid) {
  if (!pid) return;
  try { process.kill(-pid, 'SIGKILL'); } catch (_) { /* already gone */ }
}

module.exports = { CHROMIUM_ARGS, startChromium, devtoolsURL, killGroup, withDeadline };
