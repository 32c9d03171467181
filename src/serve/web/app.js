/* global window, document, location, history, sessionStorage, fetch, setTimeout, setInterval, performance, confirm, WebSocket, TextEncoder, TextDecoder, EventSource, URLSearchParams, AbortController */
// The page's behaviour: the container list with its buttons and usage, the
// create form, the picture (picture.js), the terminal (xterm.js over the
// exec websocket), a container's logs (followed), and the audit, kept live
// by the server-sent event stream (usage, which no event announces, is
// asked for again every 5 s while the page is visible).
// Everything from the server is put in the page as text, never as HTML.
'use strict';
(function () {
  const $ = (sel) => document.querySelector(sel);
  // Over TCP the page is opened as /?token=T: keep the token for this tab only, and out of the address bar.
  const params = new URLSearchParams(location.search);
  if (params.has('token')) {
    sessionStorage.setItem('igloo-token', params.get('token'));
    history.replaceState(null, '', location.pathname);
  }
  const token = sessionStorage.getItem('igloo-token');
  const withToken = (path) =>
    token ? `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : path;

  async function api(method, path, body) {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = res.status === 204 ? null : await res.json();
    if (!res.ok) {
      const err = new Error(data && data.message ? data.message : `${res.status}`);
      err.hint = data && data.hint;
      throw err;
    }
    return data;
  }

  function showError(err) {
    const p = $('#error');
    if (!err) {
      p.hidden = true;
      p.textContent = '';
      return;
    }
    p.hidden = false;
    p.textContent = err.hint ? `${err.message}\nhint: ${err.hint}` : err.message;
  }

  const cell = (text, cls) => {
    const td = document.createElement('td');
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  };
  const mapText = (idmap) =>
    idmap && idmap.uid
      ? [
          ...idmap.uid.map((e) => `u ${e.inside} ${e.outside} ${e.count}`),
          ...idmap.gid.map((e) => `g ${e.inside} ${e.outside} ${e.count}`),
        ].join('\n')
      : '';

  const MiB = 1024 * 1024;
  /** "12.3 MiB / 512 MiB · 0.4% CPU · 3 pids", or "" for a container without a cgroup. */
  function usageText(c) {
    const u = c.usage;
    if (!u) return '';
    const parts = [];
    if (u.memory)
      parts.push(
        `${(u.memory.current / MiB).toFixed(1)} MiB` +
          (u.memory.limit !== undefined ? ` / ${Math.round(u.memory.limit / MiB)} MiB` : ''),
      );
    if (c.cpuPercent !== undefined) parts.push(`${c.cpuPercent}% CPU`);
    else if (u.cpu) parts.push(`${(u.cpu.usageNs / 1e9).toFixed(2)} s CPU`);
    if (u.pids) parts.push(`${u.pids.current} pids`);
    if (u.memory && u.memory.oomKills) parts.push(`${u.memory.oomKills} OOM kills`);
    return parts.join(' \u00b7 ');
  }

  function button(label, action, name) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.dataset.action = action;
    b.dataset.name = name;
    b.addEventListener('click', () => act(action, name));
    return b;
  }

  async function act(action, name) {
    showError(null);
    try {
      if (action === 'terminal') return openTerminal(name);
      if (action === 'logs') return openLogs(name);
      if (action === 'destroy') {
        if (!confirm(`Destroy ${name}?`)) return;
        await api('DELETE', `/containers/${encodeURIComponent(name)}?force=true`);
      } else await api('POST', `/containers/${encodeURIComponent(name)}/${action}`, {});
    } catch (err) {
      showError(err);
    }
    schedule();
  }

  function renderContainers(list) {
    const body = $('#containers tbody');
    body.replaceChildren(
      ...list.map((c) => {
        const tr = document.createElement('tr');
        tr.dataset.container = c.name;
        const actions = document.createElement('td');
        if (c.state.status === 'running')
          actions.append(button('Stop', 'stop', c.name), button('Terminal', 'terminal', c.name));
        else actions.append(button('Start', 'start', c.name));
        actions.append(button('Logs', 'logs', c.name), button('Destroy', 'destroy', c.name));
        tr.append(
          cell(c.name, 'name'),
          cell(c.state.status, `state state-${c.state.status}`),
          cell(c.state.pid === undefined ? '-' : String(c.state.pid), 'pid'),
          cell(mapText(c.idmap), 'map'),
          cell(usageText(c), 'usage'),
          cell(c.state.lastExit || c.error || '', 'exit'),
          actions,
        );
        return tr;
      }),
    );
  }

  window.iglooEvents = [];
  window.iglooRenders = [];
  let timer = null;
  let running = false;
  let again = false;
  function schedule() {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      void refresh();
    }, 0);
  }
  async function refresh() {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const [list, snapshot] = await Promise.all([api('GET', '/containers'), api('GET', '/tree')]);
      renderContainers(list);
      window.iglooPicture($('#picture'), snapshot);
      window.iglooRenders.push(performance.now());
    } catch (err) {
      showError(err);
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  }

  async function loadAudit() {
    try {
      const audit = await api('GET', '/audit');
      const ul = $('#audit');
      if (!audit.findings.length) {
        const li = document.createElement('li');
        li.textContent = `no findings for ${audit.owner}`;
        ul.replaceChildren(li);
        return;
      }
      ul.replaceChildren(
        ...audit.findings.map((f) => {
          const li = document.createElement('li');
          const sev = document.createElement('span');
          sev.className = `sev-${f.severity}`;
          sev.textContent = f.severity;
          const text = document.createElement('div');
          text.textContent = `${f.check}: ${f.message}`;
          const why = document.createElement('div');
          why.textContent = `why: ${f.why}`;
          const fix = document.createElement('div');
          fix.textContent = `fix: ${f.fix}`;
          li.append(sev, text, why, fix);
          return li;
        }),
      );
    } catch (err) {
      showError(err);
    }
  }

  let term = null;
  let socket = null;
  let fitTerminal = null;
  window.addEventListener('resize', () => fitTerminal && fitTerminal());
  function openTerminal(name) {
    closeTerminal();
    $('#terminal-section').hidden = false;
    $('#terminal-name').textContent = name;
    term = new window.Terminal({ convertEol: false, fontSize: 13 });
    const fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open($('#terminal'));
    fit.fit();
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    socket = new WebSocket(
      `${proto}//${location.host}${withToken(`/containers/${encodeURIComponent(name)}/exec`)}`,
    );
    socket.binaryType = 'arraybuffer';
    const enc = new TextEncoder();
    // The pty inside follows the terminal's size: now, and when the window changes.
    const sendSize = () => {
      if (socket && socket.readyState === WebSocket.OPEN && term)
        socket.send(JSON.stringify({ type: 'resize', rows: term.rows, cols: term.cols }));
    };
    socket.onopen = sendSize;
    term.onResize(sendSize);
    fitTerminal = () => fit.fit();
    socket.onmessage = (ev) => {
      if (typeof ev.data === 'string') {
        const msg = JSON.parse(ev.data);
        if (msg.type === 'exit') term.write(`\r\n[exited ${msg.exitCode}]\r\n`);
        else if (msg.type === 'error') term.write(`\r\n${msg.message}\r\n`);
      } else term.write(new Uint8Array(ev.data));
    };
    term.onData((d) => {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(enc.encode(d));
    });
    term.focus();
  }
  function closeTerminal() {
    fitTerminal = null;
    if (socket) socket.close();
    socket = null;
    if (term) term.dispose();
    term = null;
    $('#terminal-section').hidden = true;
  }
  $('#terminal-close').addEventListener('click', closeTerminal);

  // A container's console output, as the monitor kept it, then followed (a
  // chunked answer read as it comes) until the container stops. The bytes
  // are the container's: control sequences are taken out, and the text is
  // put in as text.
  let logs = null;
  const CONTROL =
    // eslint-disable-next-line no-control-regex
    /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]/g;
  const LOG_KEEP = 200000; // characters the page keeps
  async function openLogs(name) {
    closeLogs();
    const mine = new AbortController();
    logs = mine;
    $('#logs-section').hidden = false;
    $('#logs-name').textContent = name;
    const pre = $('#logs');
    pre.textContent = '';
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    try {
      const res = await fetch(`/containers/${encodeURIComponent(name)}/logs?tail=500&follow=true`, {
        headers,
        signal: mine.signal,
      });
      if (!res.ok) {
        const data = await res.json();
        pre.textContent = data.hint ? `${data.message}\nhint: ${data.hint}` : data.message;
        return;
      }
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const text = (
          pre.textContent + dec.decode(value, { stream: true }).replace(CONTROL, '')
        ).slice(-LOG_KEEP);
        pre.textContent = text;
        pre.scrollTop = pre.scrollHeight;
      }
      pre.dataset.ended = 'true';
    } catch (err) {
      if (logs === mine) showError(err);
    }
  }
  function closeLogs() {
    if (logs) logs.abort();
    logs = null;
    $('#logs').textContent = '';
    delete $('#logs').dataset.ended;
    $('#logs-section').hidden = true;
  }
  $('#logs-close').addEventListener('click', closeLogs);

  $('#create-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showError(null);
    const name = $('#create-name').value.trim();
    const image = $('#create-image').value.trim();
    try {
      await api('POST', '/containers', image ? { name, image } : { name });
      $('#create-name').value = '';
    } catch (err) {
      showError(err);
    }
    schedule();
  });

  const events = new EventSource(withToken('/events'));
  events.onopen = () => {
    $('#live').textContent = 'live';
    $('#live').classList.add('on');
  };
  events.onerror = () => {
    $('#live').textContent = 'reconnecting';
    $('#live').classList.remove('on');
  };
  for (const type of ['created', 'started', 'exited', 'stopped', 'destroyed'])
    events.addEventListener(type, (ev) => {
      window.iglooEvents.push({ at: performance.now(), event: JSON.parse(ev.data) });
      schedule();
    });

  // Usage changes without an event: the list is asked for again while the page is seen.
  setInterval(() => {
    if (document.visibilityState === 'visible') schedule();
  }, 5000);

  void refresh();
  void loadAudit();
})();
