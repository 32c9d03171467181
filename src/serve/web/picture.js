/* global window, document, CSS */
// The seed's picture from GET /tree (src/core/snapshot/model.ts): the host,
// its users and their subordinate blocks, each user namespace with its map,
// its pid namespaces and their processes, nested namespaces inside their
// parent. Built with DOM nodes and textContent only: hostnames, commands and
// user names come from containers and are never parsed as HTML.
'use strict';
(function () {
  const el = (tag, attrs, ...kids) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v;
      else node.setAttribute(k, String(v));
    }
    for (const kid of kids) {
      if (kid === null || kid === undefined) continue;
      node.append(typeof kid === 'string' || typeof kid === 'number' ? String(kid) : kid);
    }
    return node;
  };

  const range = (e) =>
    e.count === 1 ? `${e.outside}` : `${e.outside}..${e.outside + e.count - 1}`;
  const mapLines = (kind, map) =>
    (map || []).map((e) =>
      el(
        'div',
        { class: 'map' },
        `${kind} ${e.inside}..${e.inside + e.count - 1} \u2192 ${range(e)}`,
        e.slice ? ` (${e.slice.text})` : '',
      ),
    );
  const idText = (v) =>
    v.inside === null ? `${v.host}/?` : `${v.insideName ?? v.inside}/${v.hostName ?? v.host}`;

  function processTable(pids, rows) {
    const table = el(
      'table',
      { class: 'procs' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          el('th', {}, 'pid in'),
          el('th', {}, 'pid out'),
          el('th', {}, 'uid in/out'),
          el('th', {}, 'command'),
        ),
      ),
    );
    const body = el('tbody');
    for (const pid of pids) {
      const r = rows.get(pid);
      if (!r) continue;
      body.append(
        el(
          'tr',
          { class: 'proc', 'data-pid': r.pid, 'data-userns': r.userns ?? '' },
          el('td', { class: 'pid-inside' }, r.pidInside),
          el('td', { class: 'pid-outside' }, r.pid),
          el('td', { class: 'uid' }, idText(r.uid)),
          el('td', { class: 'cmd' }, r.command),
        ),
      );
    }
    table.append(body);
    return table;
  }

  function nsBox(node, rows, isHost) {
    const names = node.containers.map((c) => c.name).filter(Boolean);
    const box = el('div', {
      class: isHost ? 'ns host' : 'ns',
      'data-userns': node.userns,
      tabindex: 0,
      ...(names.length ? { 'data-container': names.join(' ') } : {}),
    });
    const title = isHost
      ? `host: user namespace ${node.userns}`
      : `${names.length ? names.join(', ') : 'user namespace'} \u2014 userns ${node.userns}`;
    box.append(
      el(
        'div',
        { class: 'ns-title' },
        title,
        node.creator.name ? ` (created by ${node.creator.name})` : '',
      ),
    );
    if (!isHost) box.append(...mapLines('u', node.uidMap), ...mapLines('g', node.gidMap));
    for (const p of node.pidNamespaces) {
      const holder = el(
        'div',
        { class: 'pidns', 'data-pidns': p.pidns ?? '' },
        el(
          'div',
          {},
          `pid namespace ${p.pidns ?? '?'} (depth ${p.pidDepth}), ${p.processes.length} processes`,
        ),
      );
      const table = processTable(p.processes, rows);
      if (isHost) holder.append(el('details', {}, el('summary', {}, 'host processes'), table));
      else holder.append(table);
      box.append(holder);
    }
    const kids = node.children || [];
    if (kids.length) {
      const inner = el('div', { class: 'children' });
      if (isHost) {
        // The host's children grouped by the user who owns them, with that user's blocks.
        const byUser = new Map();
        for (const k of kids) {
          const who = k.creator.name ?? (k.creator.uid === null ? '?' : `uid ${k.creator.uid}`);
          if (!byUser.has(who)) byUser.set(who, []);
          byUser.get(who).push(k);
        }
        for (const [who, list] of byUser) {
          const blocks = new Set();
          for (const k of list)
            for (const m of k.uidMap || [])
              if (m.slice)
                blocks.add(`${m.slice.blockStart}..${m.slice.blockStart + m.slice.blockCount - 1}`);
          const userBox = el(
            'div',
            { class: 'ns user-box', 'data-user': who },
            el(
              'div',
              { class: 'ns-title' },
              `user ${who}`,
              blocks.size ? ` \u2014 subordinate block ${[...blocks].join(', ')}` : '',
            ),
          );
          for (const k of list) userBox.append(nsBox(k, rows, false));
          inner.append(userBox);
        }
      } else for (const k of kids) inner.append(nsBox(k, rows, false));
      box.append(inner);
    }
    return box;
  }

  function highlight(root, userns, on) {
    for (const n of root.querySelectorAll(`[data-userns="${CSS.escape(String(userns))}"]`))
      n.classList.toggle('hl', on);
  }

  window.iglooPicture = function render(target, snapshot) {
    const rows = new Map(snapshot.processes.map((r) => [r.pid, r]));
    const picture = nsBox(snapshot.tree, rows, snapshot.view.initial !== false);
    target.replaceChildren(picture);
    for (const box of target.querySelectorAll('.ns[data-userns]')) {
      const ns = box.getAttribute('data-userns');
      const on = (ev) => {
        ev.stopPropagation();
        highlight(target, ns, true);
      };
      const off = (ev) => {
        ev.stopPropagation();
        highlight(target, ns, false);
      };
      box.addEventListener('mouseover', on);
      box.addEventListener('mouseout', off);
      box.addEventListener('focus', on);
      box.addEventListener('blur', off);
    }
  };
})();
