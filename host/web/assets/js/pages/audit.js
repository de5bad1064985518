// Audit: who changed what through the API, newest first, 100 at a time.

import { get } from '../api.js';
import { busy, fill, fmtTime, h, say } from '../dom.js';

const PAGE = 100;

export function mountAudit(root) {
  const body = h('tbody');
  const msg = h('p', { class: 'msg', role: 'status' });
  const more = h('button', { type: 'button', class: 'hidden' }, 'Load older entries');
  const refresh = h('button', { type: 'button' }, 'Refresh');
  fill(root,
    h('div', { class: 'page-head' }, h('h1', {}, 'Audit'), refresh),
    h('p', { class: 'muted' }, 'Every change made through the API: logins, failed logins, '
      + 'plugin actions, settings and commands.'),
    msg,
    h('div', { class: 'table-wrap' },
      h('table', { class: 'audit-table' },
        h('caption', { class: 'visually-hidden' }, 'Audit entries, newest first'),
        h('thead', {}, h('tr', {},
          ['Time', 'Who', 'Client', 'Action', 'Detail'].map((t) => h('th', { scope: 'col' }, t)))),
        body)),
    h('div', { class: 'form-actions' }, more));

  let oldest = null;

  async function load(older) {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (older && oldest !== null) {
      q.set('before', String(oldest));
    }
    let data;
    try {
      data = await get('/api/audit?' + q.toString());
    } catch (e) {
      say(msg, 'error', e.message);
      return;
    }
    say(msg, '', '');
    if (!older) {
      fill(body);
      oldest = null;
    }
    const entries = data.entries || [];
    for (const e of entries) {
      body.appendChild(h('tr', {},
        h('td', { class: 'nowrap', title: e.time }, fmtTime(e.time)),
        h('td', {}, e.who || '—'),
        h('td', { class: 'nowrap mono' }, e.client || ''),
        h('td', { class: 'nowrap action' }, e.action),
        h('td', { class: 'msgcol' }, e.detail || '')));
      oldest = e.id;
    }
    if (body.childElementCount === 0) {
      body.appendChild(h('tr', {}, h('td', { colspan: '5', class: 'empty' }, 'Nothing recorded yet.')));
    }
    more.classList.toggle('hidden', entries.length < PAGE);
  }

  refresh.addEventListener('click', () => busy(refresh, 'Refreshing…', () => load(false)));
  more.addEventListener('click', () => busy(more, 'Loading…', () => load(true)));
  load(false);
  return null;
}
