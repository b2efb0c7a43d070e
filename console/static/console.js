// turnkey console. The tenant view (API listener) signs in with an account's
// auth token or a Main key, kept in sessionStorage, and calls the API with
// Basic auth; the operator view (admin listener) needs no sign-in. Every
// element is built with textContent, never innerHTML, so nothing a client
// chose (an identity, a key name) can become markup.
'use strict';

(() => {
  const view = document.body.dataset.view;
  const tenant = view === 'tenant';
  const $ = (id) => document.getElementById(id);
  const store = 'turnkey-console';
  const POLL_MS = 2000;
  const SAMPLES = 60;
  let creds = null;
  let timers = [];

  // --- helpers ---------------------------------------------------------

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')));
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function showError(msg) {
    const e = $('error');
    e.textContent = msg || '';
    e.hidden = !msg;
  }

  function bytes(n) {
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + ' ' + units[i];
  }

  function age(iso) {
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's';
    return Math.floor(s / 3600) + 'h' + String(Math.floor(s / 60) % 60).padStart(2, '0') + 'm';
  }

  // api calls this server: with Basic auth in the tenant view. A 401
  // signs out (the token was rotated, the key deleted).
  async function api(method, path, form) {
    const headers = { Accept: 'application/json' };
    if (tenant && creds) headers.Authorization = 'Basic ' + btoa(creds.user + ':' + creds.secret);
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (form) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      init.body = new URLSearchParams(form).toString();
    }
    const res = await fetch(path, init);
    if (res.status === 401 && tenant) {
      signOut('The server refused these credentials (401). Sign in with the auth token or a Main key.');
      throw new Error('unauthorized');
    }
    const text = await res.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
    if (!res.ok) {
      const msg = (body && (body.message || body.error)) || res.status + ' ' + res.statusText;
      throw new Error(method + ' ' + path + ': ' + msg);
    }
    return body;
  }

  function every(ms, f) {
    const tick = () => f().catch((err) => { if (err.message !== 'unauthorized') showError(err.message); });
    tick();
    timers.push(setInterval(tick, ms));
  }

  // --- sign-in (tenant) ------------------------------------------------

  function signOut(msg) {
    sessionStorage.removeItem(store);
    creds = null;
    for (const t of timers) clearInterval(t);
    timers = [];
    $('signed-in').hidden = true;
    $('who').hidden = true;
    $('sign-in').hidden = false;
    showError(msg);
  }

  async function signIn(c) {
    creds = c;
    // The account resource needs the auth token or a Main key, as the
    // console's keys and sessions do: a Standard key is refused here.
    await api('GET', '/2010-04-01/Accounts/' + encodeURIComponent(c.account) + '.json');
    sessionStorage.setItem(store, JSON.stringify(c));
    $('sign-in').hidden = true;
    $('who-account').textContent = c.account + (c.user !== c.account ? ' (key ' + c.user + ')' : '');
    $('who').hidden = false;
    start();
  }

  $('sign-in-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const account = $('in-account').value.trim();
    const key = $('in-key').value.trim();
    const secret = $('in-secret').value;
    $('in-secret').value = '';
    showError('');
    signIn({ account, user: key || account, secret }).catch((err) => {
      if (err.message !== 'unauthorized') signOut(err.message);
    });
  });
  $('sign-out').addEventListener('click', () => signOut(''));

  // --- allocations -----------------------------------------------------

  async function loadAllocations() {
    const rows = [];
    let url = '/v1/allocations?page_size=1000';
    for (let pages = 0; url && pages < 20; pages++) {
      const page = await api('GET', url);
      rows.push(...page.allocations);
      url = page.meta.next_page_url;
    }
    const body = $('alloc-rows');
    body.replaceChildren(...rows.map((a) => {
      const close = el('button', { type: 'button', class: 'quiet', textContent: 'Close' });
      close.addEventListener('click', () => {
        close.disabled = true;
        api('DELETE', '/v1/allocations/' + encodeURIComponent(a.id))
          .then(loadAllocations, (err) => { close.disabled = false; showError(err.message); });
      });
      return el('tr', { 'data-id': a.id, 'data-relay': a.relay },
        el('td', {}, el('code', {}, a.id.slice(0, 12) + '…')),
        el('td', { class: 'op-only' }, el('code', {}, a.account_sid || '–')),
        el('td', {}, a.identity || '–'),
        el('td', {}, a.transport),
        el('td', {}, el('code', {}, a.client)),
        el('td', {}, el('code', {}, a.relay)),
        el('td', {}, age(a.created_at)),
        el('td', { class: 'num' }, bytes(a.bytes_client_to_peer)),
        el('td', { class: 'num' }, bytes(a.bytes_peer_to_client)),
        el('td', { class: 'num' }, a.packets_client_to_peer + ' / ' + a.packets_peer_to_client),
        el('td', {}, close));
    }));
    $('alloc-count').textContent = '(' + rows.length + ')';
    $('alloc-empty').hidden = rows.length > 0;
  }

  // --- usage chart -----------------------------------------------------

  // series: name -> [{t, total}] of cumulative relayed bytes; the chart
  // draws the rate between samples.
  const series = new Map();

  function sample(name, total) {
    let s = series.get(name);
    if (!s) { s = []; series.set(name, s); }
    s.push({ t: Date.now(), total });
    if (s.length > SAMPLES + 1) s.shift();
  }

  async function loadUsage() {
    if (tenant) {
      const u = await api('GET', '/v1/usage');
      sample(u.account_sid, u.relay_bytes);
    } else {
      // Per account from the admin listener's metrics, as Prometheus
      // would scrape them.
      const res = await fetch('/metrics', { cache: 'no-store' });
      const text = await res.text();
      const re = /^turnkey_account_relay_bytes_total\{account="([^"]*)"\} (\S+)$/gm;
      let m;
      while ((m = re.exec(text)) !== null) sample(m[1], Number(m[2]));
    }
    drawChart();
  }

  function drawChart() {
    const chart = $('usage-chart');
    const W = 600, H = 160, L = 56, B = 18, T = 8;
    const rates = [];
    for (const [name, s] of series) {
      const pts = [];
      for (let i = 1; i < s.length; i++) {
        const dt = (s[i].t - s[i - 1].t) / 1000;
        pts.push({ t: s[i].t, v: dt > 0 ? Math.max(0, s[i].total - s[i - 1].total) / dt : 0 });
      }
      const last = s.length ? s[s.length - 1].total : 0;
      rates.push({ name, pts, last });
    }
    // The busiest accounts first; six at most stay readable.
    rates.sort((a, b) => b.last - a.last);
    const shown = rates.slice(0, 6);
    const now = Date.now(), span = SAMPLES * POLL_MS;
    const max = Math.max(1, ...shown.flatMap((r) => r.pts.map((p) => p.v)));
    const x = (t) => L + (W - L - 4) * (1 - (now - t) / span);
    const y = (v) => T + (H - T - B) * (1 - v / max);
    const parts = [
      svg('line', { class: 'axis', x1: L, y1: H - B, x2: W - 4, y2: H - B }),
      svg('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }),
      svg('text', { class: 'label', x: 4, y: T + 8 }, bytes(max) + '/s'),
      svg('text', { class: 'label', x: 4, y: H - B }, '0'),
      svg('text', { class: 'label', x: L, y: H - 4 }, '−' + Math.round(span / 1000) + ' s'),
      svg('text', { class: 'label', x: W - 30, y: H - 4 }, 'now'),
    ];
    shown.forEach((r, i) => {
      const pts = r.pts.filter((p) => now - p.t <= span).map((p) => x(p.t).toFixed(1) + ',' + y(p.v).toFixed(1));
      if (pts.length > 1) parts.push(svg('polyline', { class: 'series s' + i, points: pts.join(' ') }));
    });
    chart.replaceChildren(...parts);
    $('usage-legend').replaceChildren(...shown.map((r, i) =>
      el('li', { class: 's' + i, 'data-account': r.name }, r.name + ' · ' + bytes(r.last) + ' relayed')));
  }

  // --- keys (tenant) ---------------------------------------------------

  const keysPath = () => '/2010-04-01/Accounts/' + encodeURIComponent(creds.account) + '/Keys';

  async function loadKeys() {
    const page = await api('GET', keysPath() + '.json?PageSize=100');
    $('key-rows').replaceChildren(...page.keys.map((k) => {
      const del = el('button', { type: 'button', class: 'quiet', textContent: 'Delete' });
      del.addEventListener('click', () => {
        del.disabled = true;
        api('DELETE', keysPath() + '/' + encodeURIComponent(k.sid) + '.json')
          .then(loadKeys, (err) => { del.disabled = false; showError(err.message); });
      });
      return el('tr', { 'data-sid': k.sid },
        el('td', {}, el('code', {}, k.sid)), el('td', {}, k.friendly_name), el('td', {}, k.date_created), el('td', {}, del));
    }));
  }

  $('key-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = $('key-name').value.trim();
    api('POST', keysPath() + '.json', name ? { FriendlyName: name } : {}).then((k) => {
      $('key-name').value = '';
      $('key-secret-sid').textContent = k.sid;
      $('key-secret-value').textContent = k.secret;
      $('key-secret').hidden = false;
      return loadKeys();
    }).catch((err) => showError(err.message));
  });
  $('key-secret-done').addEventListener('click', () => {
    // The secret leaves the page: it is never shown again.
    $('key-secret-value').textContent = '';
    $('key-secret').hidden = true;
  });

  // --- TURN self-test (tenant) -----------------------------------------

  // turnURLs picks one TURN URL per transport from Tokens.json.
  function turnURLs(token) {
    const out = new Map();
    for (const s of token.ice_servers || []) {
      const url = s.urls || s.url;
      if (!s.username || typeof url !== 'string') continue;
      let transport = null;
      if (url.startsWith('turns:')) transport = 'tls';
      else if (url.startsWith('turn:')) transport = url.endsWith('transport=tcp') ? 'tcp' : 'udp';
      if (transport && !out.has(transport)) out.set(transport, { url, username: s.username, credential: s.credential });
    }
    return out;
  }

  function deadline(ms, what) {
    return new Promise((_, reject) => setTimeout(() => reject(new Error(what + ' within ' + ms / 1000 + ' s')), ms));
  }

  // relayCheck connects two peer connections through one TURN URL with
  // relay candidates only and times a data-channel echo.
  async function relayCheck(server) {
    const cfg = { iceServers: [{ urls: [server.url], username: server.username, credential: server.credential }],
      iceTransportPolicy: 'relay' };
    const a = new RTCPeerConnection(cfg), b = new RTCPeerConnection(cfg);
    const r = { candidate: null, open: false, rtt: null, problem: null };
    const errors = [];
    a.addEventListener('icecandidateerror', (e) => errors.push(e.errorCode + ' ' + e.errorText));
    a.addEventListener('icecandidate', (e) => {
      if (e.candidate) {
        if (e.candidate.type === 'relay' && !r.candidate) r.candidate = e.candidate.address + ':' + e.candidate.port;
        b.addIceCandidate(e.candidate).catch(() => {});
      }
    });
    b.addEventListener('icecandidate', (e) => { if (e.candidate) a.addIceCandidate(e.candidate).catch(() => {}); });
    b.addEventListener('datachannel', (e) => e.channel.addEventListener('message', (m) => e.channel.send(m.data)));
    const dc = a.createDataChannel('turnkey-selftest');
    try {
      await a.setLocalDescription();
      await b.setRemoteDescription(a.localDescription);
      await b.setLocalDescription();
      await a.setRemoteDescription(b.localDescription);
      await Promise.race([
        new Promise((resolve) => dc.addEventListener('open', resolve, { once: true })),
        deadline(15000, 'the data channel did not open'),
      ]);
      r.open = true;
      const t0 = performance.now();
      await Promise.race([
        new Promise((resolve) => {
          dc.addEventListener('message', resolve, { once: true });
          dc.send('ping ' + t0);
        }),
        deadline(5000, 'no echo'),
      ]);
      r.rtt = performance.now() - t0;
      const stats = await a.getStats();
      stats.forEach((s) => {
        if (s.type === 'local-candidate' && s.candidateType === 'relay') {
          r.protocol = s.relayProtocol;
          if (!r.candidate) r.candidate = s.address + ':' + s.port;
        }
      });
    } catch (err) {
      r.problem = err.message + (errors.length ? ' (' + errors.join(', ') + ')' : '');
      if (!r.candidate && !errors.length) r.problem += ': no relay candidate was gathered';
    } finally {
      a.close();
      b.close();
    }
    return r;
  }

  $('selftest-run').addEventListener('click', async () => {
    const button = $('selftest-run');
    button.disabled = true;
    const rows = $('selftest-rows');
    rows.replaceChildren();
    try {
      const token = await api('POST', '/2010-04-01/Accounts/' + encodeURIComponent(creds.account) + '/Tokens.json', { Ttl: '600' });
      const urls = turnURLs(token);
      if (urls.size === 0) throw new Error('Tokens.json returned no TURN server');
      for (const [transport, server] of urls) {
        const cells = [el('td', {}, transport), el('td', {}, el('code', {}, server.url)),
          el('td', { class: 'pending' }, 'testing…'), el('td', {}), el('td', {}), el('td', {})];
        const row = el('tr', { 'data-transport': transport, 'data-state': 'running' }, ...cells);
        rows.append(row);
        const r = await relayCheck(server);
        cells[2].className = r.candidate ? 'ok' : 'bad';
        cells[2].textContent = r.candidate ? r.candidate + (r.protocol ? ' (' + r.protocol + ')' : '') : 'none';
        cells[3].className = r.open ? 'ok' : 'bad';
        cells[3].textContent = r.open ? (r.rtt !== null ? 'echoed' : 'open') : 'failed';
        cells[4].textContent = r.rtt !== null ? r.rtt.toFixed(1) + ' ms' : '–';
        cells[5].textContent = r.problem || '';
        row.dataset.state = 'done';
        row.dataset.relay = r.candidate ? 'yes' : 'no';
        row.dataset.ok = String(r.open && r.rtt !== null);
      }
    } catch (err) {
      if (err.message !== 'unauthorized') showError('self-test: ' + err.message);
    } finally {
      button.disabled = false;
      rows.dataset.done = 'true';
    }
  });

  // --- start -----------------------------------------------------------

  function start() {
    $('signed-in').hidden = false;
    every(POLL_MS, loadAllocations);
    every(POLL_MS, loadUsage);
    if (tenant) loadKeys().catch((err) => { if (err.message !== 'unauthorized') showError(err.message); });
  }

  $('view-name').textContent = tenant ? 'console' : 'operator console';
  if (!tenant) {
    start();
    return;
  }
  const saved = sessionStorage.getItem(store);
  if (saved) {
    let c = null;
    try { c = JSON.parse(saved); } catch (_) { c = null; }
    if (c && c.account && c.user && c.secret) {
      signIn(c).catch((err) => { if (err.message !== 'unauthorized') signOut(err.message); });
      return;
    }
  }
  signOut('');
})();
