// Live events: the bus as it happens (/api/events), newest first, at most
// MAX_ROWS kept.

import { fill, fmtTime, h } from '../dom.js';
import { subscribe } from '../live.js';

const MAX_ROWS = 500;

export function mountEvents(root) {
  const topics = h('input', {
    id: 'ev-topics', type: 'text', value: '*', autocomplete: 'off', spellcheck: 'false',
    'aria-describedby': 'ev-hint',
  });
  const apply = h('button', { type: 'submit' }, 'Apply');
  const toggle = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Pause');
  const clearBtn = h('button', { type: 'button' }, 'Clear');
  const dot = h('span', { class: 'live-dot wait', 'aria-hidden': 'true' });
  const state = h('span', {}, 'connecting');
  const count = h('span', { class: 'small muted' }, '0 events');
  const list = h('ol', { class: 'events', id: 'event-list', 'aria-label': 'Events, newest first' });
  const box = h('div', { class: 'table-wrap' }, list);
  const empty = h('p', { class: 'empty' }, 'Waiting for events…');
  fill(root,
    h('div', { class: 'page-head' }, h('h1', {}, 'Live events'),
      h('span', { class: 'small muted', role: 'status' }, dot, state)),
    h('form', { class: 'toolbar', onsubmit: (e) => { e.preventDefault(); connect(); } },
      h('label', { for: 'ev-topics', class: 'grow' }, 'Topics', topics),
      apply, toggle, clearBtn, count),
    h('p', { class: 'small muted', id: 'ev-hint' },
      'Comma-separated topic patterns; * matches anything, e.g. plugin.*, echo.tick.'),
    box);
  box.appendChild(empty);

  let stop = null;
  let total = 0;

  function add(topic, data, raw) {
    total++;
    count.textContent = `${total} event${total === 1 ? '' : 's'}`;
    empty.remove();
    const text = data !== null ? JSON.stringify(data) : raw;
    const li = h('li', { class: topic === 'dropped' ? 'dropped' : null },
      h('span', { class: 'mono small muted' }, fmtTime(new Date(), true)),
      h('span', { class: 'topic' }, topic),
      h('code', {}, topic === 'dropped' ? `${(data && data.dropped) || '?'} events lost: this page read too slowly` : text));
    list.insertBefore(li, list.firstChild);
    while (list.childElementCount > MAX_ROWS) {
      list.removeChild(list.lastChild);
    }
  }

  function status(s, why) {
    dot.className = 'live-dot ' + (s === 'open' ? 'on' : 'wait');
    state.textContent = s === 'open' ? 'live' : s + (why ? ` (${why})` : '');
  }

  function connect() {
    if (stop) {
      stop();
    }
    toggle.textContent = 'Pause';
    toggle.setAttribute('aria-pressed', 'false');
    stop = subscribe(topics.value.trim() || '*', add, status);
  }

  function pause() {
    if (stop) {
      stop();
      stop = null;
    }
    dot.className = 'live-dot';
    state.textContent = 'paused';
    toggle.textContent = 'Resume';
    toggle.setAttribute('aria-pressed', 'true');
  }

  toggle.addEventListener('click', () => (stop ? pause() : connect()));
  clearBtn.addEventListener('click', () => {
    fill(list);
    total = 0;
    count.textContent = '0 events';
    box.appendChild(empty);
  });
  connect();

  return () => {
    if (stop) {
      stop();
    }
  };
}
