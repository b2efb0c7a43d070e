#!/usr/bin/env node
// webrtc.js drives Debian's Chromium through playwright-core to check that two
// real RTCPeerConnections can talk through a TURN relay using relay
// candidates only. turnkey's e2e tests run it inside a network namespace.
//
// Input: one JSON object, from argv[2] or the WEBRTC_INPUT environment variable:
//   iceServers   ICE servers, in W3C form ({urls, username, credential}) or in
//                Twilio's Tokens.json form ({url, urls: "string", ...}).
//   keepUrls     optional; only these exact URLs are given to the browser, so a
//                case can pin one transport (e.g. "turn:127.0.0.1:443?transport=tcp").
//   mediaMs      how long audio flows after connecting (default 3000).
//   timeoutMs    deadline for gathering plus connecting (default 20000).
//   messages     data-channel messages sent each way (default 10).
//   chromium     browser binary (default /usr/bin/chromium).
// Output: exactly one JSON line on stdout. Exit 0 only when both peers
// connected over relay candidates, every message arrived both ways and audio
// packets were received; otherwise exit 1 with what was observed.
'use strict';

const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');
const { startChromium, devtoolsURL, killGroup, withDeadline } = require('./chromium');


function readInput() {
  const raw = process.argv[2] || process.env.WEBRTC_INPUT;
  if (!raw) throw new Error('no input: pass a JSON object as argv[2] or WEBRTC_INPUT');
  const input = JSON.parse(raw);
  if (!Array.isArray(input.iceServers)) throw new Error('input.iceServers must be an array');
  return {
    iceServers: input.iceServers,
    keepUrls: input.keepUrls || null,
    mediaMs: input.mediaMs ?? 3000,
    timeoutMs: input.timeoutMs ?? 20000,
    messages: input.messages ?? 10,
    chromium: input.chromium || '/usr/bin/chromium',
  };
}

// normalize turns Twilio's {url, urls: "x"} entries into W3C {urls: [..]} and
// keeps only the wanted URLs, dropping servers left with none.
function normalize(servers, keep) {
  const out = [];
  for (const s of servers) {
    let urls = s.urls ?? s.url;
    urls = Array.isArray(urls) ? urls : [urls];
    urls = [...new Set(urls.filter(Boolean))];
    if (keep) urls = urls.filter((u) => keep.includes(u));
    if (urls.length === 0) continue;
    const e = { urls };
    if (s.username !== undefined) e.username = s.username;
    if (s.credential !== undefined) e.credential = s.credential;
    out.push(e);
  }
  return out;
}

// pageTest runs inside Chromium. It must be self-contained: Playwright
// serialises it into the page.
async function pageTest(cfg) {
  const obs = {
    gathering: {}, connection: {}, iceConnection: {}, candidateErrors: [],
    candidates: { a: [], b: [] }, messagesReceived: { aFromB: 0, bFromA: 0 },
    events: [],
  };
  const t0 = performance.now();
  const log = (s) => obs.events.push(`${Math.round(performance.now() - t0)}ms ${s}`);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  // until polls cond until it holds or the deadline passes.
  const until = async (cond, deadline) => {
    while (!cond()) {
      if (performance.now() > deadline) return false;
      await sleep(50);
    }
    return true;
  };
  const cfgPC = { iceServers: cfg.iceServers, iceTransportPolicy: 'relay' };
  const a = new RTCPeerConnection(cfgPC);
  const b = new RTCPeerConnection(cfgPC);
  const pcs = { a, b };
  for (const [name, pc] of Object.entries(pcs)) {
    const other = name === 'a' ? b : a;
    obs.gathering[name] = pc.iceGatheringState;
    pc.onicecandidate = (e) => {
      if (!e.candidate) { log(`${name} end-of-candidates`); return; }
      obs.candidates[name].push(e.candidate.candidate);
      other.addIceCandidate(e.candidate).catch((err) => log(`${name} addIceCandidate: ${err}`));
    };
    pc.onicecandidateerror = (e) => {
      obs.candidateErrors.push({ pc: name, errorCode: e.errorCode, errorText: e.errorText, url: e.url, address: e.address, port: e.port });
    };
    pc.onicegatheringstatechange = () => { obs.gathering[name] = pc.iceGatheringState; log(`${name} gathering ${pc.iceGatheringState}`); };
    pc.oniceconnectionstatechange = () => { obs.iceConnection[name] = pc.iceConnectionState; log(`${name} ice ${pc.iceConnectionState}`); };
    pc.onconnectionstatechange = () => { obs.connection[name] = pc.connectionState; log(`${name} connection ${pc.connectionState}`); };
  }

  const deadline = performance.now() + cfg.timeoutMs;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    obs.failure = `getUserMedia: ${err}`;
    return obs;
  }
  for (const track of stream.getAudioTracks()) a.addTrack(track, stream);
  let audioTracksAtB = 0;
  b.ontrack = () => { audioTracksAtB++; };

  const dcA = a.createDataChannel('e2e');
  let dcB = null;
  b.ondatachannel = (e) => {
    dcB = e.channel;
    dcB.onmessage = () => { obs.messagesReceived.bFromA++; };
  };
  dcA.onmessage = () => { obs.messagesReceived.aFromB++; };

  await a.setLocalDescription();
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription();
  await a.setRemoteDescription(b.localDescription);

  const bothConnected = () => a.connectionState === 'connected' && b.connectionState === 'connected';
  const hopeless = () => {
    // Gathering finished on both sides without a single relay candidate:
    // nothing can connect, so stop waiting.
    const done = a.iceGatheringState === 'complete' && b.iceGatheringState === 'complete';
    return done && (obs.candidates.a.length === 0 || obs.candidates.b.length === 0);
  };
  await until(() => bothConnected() || hopeless() || a.connectionState === 'failed' || b.connectionState === 'failed', deadline);
  obs.connected = bothConnected();
  if (!obs.connected) {
    obs.failure = hopeless() ? 'gathering completed without relay candidates' : 'peers did not connect before the deadline';
    return obs;
  }
  if (!await until(() => dcA.readyState === 'open' && dcB && dcB.readyState === 'open', deadline)) {
    obs.failure = 'data channel did not open before the deadline';
    return obs;
  }
  for (let i = 0; i < cfg.messages; i++) {
    dcA.send(`a->b ${i}`);
    dcB.send(`b->a ${i}`);
  }
  // Audio flows for mediaMs; the message wait shares that window.
  await sleep(cfg.mediaMs);
  await until(() => obs.messagesReceived.aFromB >= cfg.messages && obs.messagesReceived.bFromA >= cfg.messages,
    performance.now() + 2000);
  obs.audioTracksAtB = audioTracksAtB;

  const selected = async (pc) => {
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    if (!pair) stats.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
    const out = { audioPacketsReceived: 0, audioPacketsSent: 0 };
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') out.audioPacketsReceived += s.packetsReceived || 0;
      if (s.type === 'outbound-rtp' && s.kind === 'audio') out.audioPacketsSent += s.packetsSent || 0;
    });
    if (!pair) return out;
    const l = stats.get(pair.localCandidateId) || {};
    const r = stats.get(pair.remoteCandidateId) || {};
    Object.assign(out, {
      localCandidateType: l.candidateType, localRelayProtocol: l.relayProtocol, localAddress: `${l.address}:${l.port}`,
      localUrl: l.url, remoteCandidateType: r.candidateType, remoteAddress: `${r.address}:${r.port}`,
      bytesSent: pair.bytesSent, bytesReceived: pair.bytesReceived,
    });
    return out;
  };
  obs.selected = { a: await selected(a), b: await selected(b) };
  for (const t of stream.getTracks()) t.stop();
  a.close();
  b.close();
  return obs;
}

// verdict lists everything a successful relay call must show.
function verdict(obs, want) {
  const problems = [];
  if (obs.failure) problems.push(obs.failure);
  for (const name of ['a', 'b']) {
    const s = obs.selected && obs.selected[name];
    if (!s) continue;
    if (s.localCandidateType !== 'relay') problems.push(`${name}: local candidate is ${s.localCandidateType}, not relay`);
    if (s.remoteCandidateType !== 'relay') problems.push(`${name}: remote candidate is ${s.remoteCandidateType}, not relay`);
  }
  if (!obs.failure && obs.selected) {
    if (obs.messagesReceived.aFromB < want.messages) problems.push(`a received ${obs.messagesReceived.aFromB}/${want.messages} messages`);
    if (obs.messagesReceived.bFromA < want.messages) problems.push(`b received ${obs.messagesReceived.bFromA}/${want.messages} messages`);
    if (!(obs.selected.b.audioPacketsReceived > 0)) problems.push('b received no audio packets');
  }
  return problems;
}


async function main() {
  const input = readInput();
  const iceServers = normalize(input.iceServers, input.keepUrls);
  const result = { iceServers: iceServers.map((s) => ({ urls: s.urls, username: s.username })) };
  if (iceServers.length === 0) {
    result.ok = false;
    result.problems = ['no ICE server left after keepUrls filtering'];
    return result;
  }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tk-chromium-'));
  let browser;
  let proc;
  let server;
  try {
    proc = startChromium(input.chromium, userDataDir);
    const ws = await withDeadline(devtoolsURL(proc.child), 30000, 'launching Chromium');
    browser = await withDeadline(chromium.connectOverCDP(ws, { timeout: 10000 }), 15000, 'connecting to Chromium');
    const context = browser.contexts()[0] || await browser.newContext();
    const page = context.pages()[0] || await context.newPage();
    // getUserMedia needs a secure context; about:blank is not one here, but
    // http://127.0.0.1 is, so the page comes from a throwaway local server.
    server = await servePage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`, { timeout: 10000 });
    const obs = await withDeadline(page.evaluate(pageTest, {
      iceServers, timeoutMs: input.timeoutMs, mediaMs: input.mediaMs, messages: input.messages,
    }), input.timeoutMs + input.mediaMs + 10000, 'page test');
    Object.assign(result, obs);
    result.problems = verdict(obs, input);
    result.ok = result.problems.length === 0;
  } catch (err) {
    result.ok = false;
    result.problems = [String(err && err.message ? err.message : err)];
    if (proc) result.chromiumStderr = proc.stderr().slice(-2000);
  } finally {
    if (browser) await withDeadline(browser.close(), 5000, 'disconnecting').catch(() => {});
    if (proc) killGroup(proc.child.pid);
    if (server) server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  return result;
}

// servePage listens on an ephemeral loopback port with a blank page.
function servePage() {
  return new Promise((resolve, reject) => {
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>turnkey e2e</title>');
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

main().then((result) => {
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(result.ok ? 0 : 1);
}, (err) => {
  process.stdout.write(JSON.stringify({ ok: false, problems: [String(err && err.stack ? err.stack : err)] }) + '\n');
  process.exit(1);
});
