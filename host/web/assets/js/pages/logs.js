// Logs: the engine's in-memory ring (GET /api/logs), filtered by level,
// plugin tag and text. Follow polls for new lines every 2 s.

import { get } from '../api.js';
import { badge, debounce, fill, fmtTime, h, say } from '../dom.js';

const LEVELS = ['error', 'warn', 'info', 'debug', 'trace'];
const MAX_ROWS = 1000;
const PAGE = 500;

export function mountLogs(root) {
  const level = h('select', { id: 'log-level' },
    h('option', { value: '' }, 'all'), LEVELS.map((l) => h('option', { value: l }, l + (l === 'error' ? '' : ' and above'))));
  const tag = h('input', { id: 'log-plugin', type: 'text', list: 'log-tags', autocomplete: 'off', spellcheck: 'false', placeholder: 'any' });
  const tags = h('datalist', { id: 'log-tags' }, h('option', { value: 'host' }));
  const text = h('input', { id: 'log-q', type: 'search', autocomplete: 'off', placeholder: 'contains…' });
  const refreshBtn = h('button', { type: 'button' }, 'Refresh');
  const follow = h('input', { id: 'log-follow', type: 'checkbox' });
  const msg = h('p', { class: 'msg', role: 'status' });
  const body = h('tbody');
  const count = h('span', { class: 'small muted' });
  const wrap = h('div', { class: 'table-wrap logs-wrap' },
    h('table', { class: 'log-table' },
      h('caption', { class: 'visually-hidden' }, 'Log lines, oldest first'),
      h('thead', {}, h('tr', {},
        h('th', { class: 'nowrap', scope: 'col' }, 'Time'),
        h('th', { scope: 'col' }, 'Level'),
        h('th', { scope: 'col' }, 'Tag'),
        h('th', { scope: 'col' }, 'Message'))),
      body));
  fill(root,
    h('div', { class: 'page-head' }, h('h1', {}, 'Logs'), count),
    h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => { e.preventDefault(); reload(); } },
      h('label', { for: 'log-level' }, 'Level', level),
      h('label', { for: 'log-plugin' }, 'Plugin', tag, tags),
      h('label', { for: 'log-q', class: 'grow' }, 'Text', text),
      refreshBtn,
      h('label', { class: 'inline', for: 'log-follow' }, follow, 'Follow')),
    msg, wrap);

  let lastSeq = 0;
  let timer = 0;
  let gen = 0; // drops answers to requests made before the filters changed

  function query(after) {
    const q = new URLSearchParams();
    if (level.value) {
      q.set('level', level.value);
    }
    if (tag.value.trim()) {
      q.set('plugin', tag.value.trim());
    }
    if (text.value.trim()) {
      q.set('q', text.value.trim());
    }
    if (after) {
      q.set('after', String(after));
    }
    q.set('limit', String(PAGE));
    return '/api/logs?' + q.toString();
  }

  function row(l) {
    return h('tr', {},
      h('td', { class: 'nowrap mono', title: l.time }, fmtTime(l.time, true)),
      h('td', {}, badge(l.level)),
      h('td', { class: 'nowrap' }, l.tag),
      h('td', { class: 'msgcol' }, l.msg));
  }

  function atBottom() {
    return wrap.scrollHeight - wrap.scrollTop - wrap.clientHeight < 40;
  }

  function showCount() {
    const n = body.querySelectorAll('tr.line').length;
    count.textContent = `${n} line${n === 1 ? '' : 's'}`;
  }

  // Reads every matching line after lastSeq, a page at a time (the ring
  // answers oldest first), and appends them.
  async function fetchLines(append) {
    const my = gen;
    let after = append ? lastSeq : 0;
    const lines = [];
    let data;
    for (let pages = 0; pages < 10; pages++) {
      data = await get(query(after));
      if (my !== gen) {
        return;
      }
      const got = data.lines || [];
      lines.push(...got);
      if (got.length < PAGE) {
        break;
      }
      after = got[got.length - 1].seq;
    }
    say(msg, '', '');
    const stick = !append || atBottom();
    if (!append) {
      fill(body);
    }
    for (const l of lines.slice(-MAX_ROWS)) {
      const r = row(l);
      r.className = 'line';
      body.appendChild(r);
    }
    while (body.childElementCount > MAX_ROWS) {
      body.removeChild(body.firstChild);
    }
    if (body.childElementCount === 0) {
      body.appendChild(h('tr', {}, h('td', { colspan: '4', class: 'empty' }, 'No log lines match.')));
    } else {
      const empty = body.querySelector('td.empty');
      if (empty) {
        empty.parentElement.remove();
      }
    }
    if (lines.length) {
      lastSeq = Math.max(lastSeq, lines[lines.length - 1].seq);
    }
    if (data && typeof data.last_seq === 'number') {
      lastSeq = Math.max(lastSeq, data.last_seq);
    }
    showCount();
    if (stick) {
      wrap.scrollTop = wrap.scrollHeight;
    }
  }

  async function reload() {
    gen++;
    lastSeq = 0;
    try {
      await fetchLines(false);
    } catch (e) {
      say(msg, 'error', e.message);
    }
  }

  function schedule() {
    clearTimeout(timer);
    if (follow.checked) {
      timer = setTimeout(async () => {
        try {
          await fetchLines(true);
        } catch (e) {
          say(msg, 'error', e.message);
        }
        schedule();
      }, 2000);
    }
  }

  const reloadSoon = debounce(reload, 350);
  level.addEventListener('change', reload);
  tag.addEventListener('input', reloadSoon);
  text.addEventListener('input', reloadSoon);
  refreshBtn.addEventListener('click', reload);
  follow.addEventListener('change', schedule);

  get('/api/plugins').then((d) => {
    for (const p of d.plugins || []) {
      if (p.name) {
        tags.appendChild(h('option', { value: p.name }));
      }
    }
  }).catch(() => {});
  reload();

  return () => {
    clearTimeout(timer);
    reloadSoon.cancel();
    gen++;
  };
}
