// One plugin as a card: name, version, kind, state, reason, health, and the
// Enable / Disable / Restart buttons. Used by the plugins list and by a
// plugin's own page.

import { ApiError, enc, post } from '../api.js';
import { badge, busy, fill, h, say } from '../dom.js';

// The key that identifies a plugin row: its name, or its file when it was
// rejected before it had a name.
export function pluginKey(p) {
  return p.name || 'file:' + (p.file || '?');
}

function basename(path) {
  return String(path || '').split('/').pop();
}

// What the buttons do: [action, label, label while running].
const ACTIONS = {
  enable: ['Enable', 'Enabling…'],
  disable: ['Disable', 'Disabling…'],
  restart: ['Restart', 'Restarting…'],
};

// Creates a card for plugin p. opts.link: the name links to the plugin's
// page. opts.onChange(plugin): called after an action succeeded.
export function pluginCard(p, opts = {}) {
  const card = {
    plugin: p,
    busy: false,
    el: h('article', { class: 'panel card' }),
    head: h('div', { class: 'card-head' }),
    meta: h('div', { class: 'meta' }),
    badges: h('div', { class: 'badges' }),
    reason: h('p', { class: 'reason' }),
    actions: h('div', { class: 'actions' }),
    msg: h('p', { class: 'msg', role: 'status', 'aria-live': 'polite' }),
  };
  card.el.dataset.plugin = pluginKey(p);
  card.el.append(card.head, card.meta, card.badges, card.reason, card.actions, card.msg);

  card.update = (np) => {
    card.plugin = { ...card.plugin, ...np };
    render(card, opts);
  };
  render(card, opts);
  return card;
}

function render(card, opts) {
  const p = card.plugin;
  const title = p.name || basename(p.file) || '(unnamed)';
  const name = opts.link && p.name
    ? h('a', { href: '/admin/plugins/' + enc(p.name) }, title)
    : title;
  fill(card.head, h(opts.heading || 'h2', {}, name),
    p.version ? h('span', { class: 'muted small' }, 'v' + p.version) : null);
  fill(card.meta, [p.kind, p.summary].filter(Boolean).join(' · ') || basename(p.file));
  card.el.dataset.state = p.state || '';
  fill(card.badges,
    h('span', { class: 'small muted' }, 'State'),
    h('span', { class: 'state' }, badge(p.state)),
    h('span', { class: 'small muted' }, 'Health'),
    h('span', { class: 'health' }, badge(p.health === null || p.health === undefined ? 'unknown' : p.health,
      p.health === null || p.health === undefined ? '—' : p.health)),
    p.crash_count ? h('span', { class: 'small muted' }, `${p.crash_count} crash${p.crash_count === 1 ? '' : 'es'}`) : null);
  card.reason.textContent = p.reason || '';
  card.reason.classList.toggle('hidden', !p.reason);
  renderActions(card, opts);
}

function renderActions(card, opts) {
  const p = card.plugin;
  if (card.busy) {
    return; // the running action owns the buttons until it ends
  }
  const list = [];
  if (p.name && p.state !== 'rejected') {
    if (p.enabled === false || p.state === 'disabled') {
      list.push('enable');
    } else {
      list.push('disable', 'restart');
    }
  }
  const buttons = list.map((a) => h('button', {
    type: 'button',
    class: a === 'disable' ? 'danger' : null,
    'data-action': a,
    'aria-label': `${ACTIONS[a][0]} ${p.name}`,
  }, ACTIONS[a][0]));
  buttons.forEach((b) => b.addEventListener('click', () => act(card, opts, b, buttons)));
  fill(card.actions, buttons);
}

async function act(card, opts, button, group) {
  const action = button.dataset.action;
  const name = card.plugin.name;
  card.busy = true;
  card.el.setAttribute('aria-busy', 'true');
  say(card.msg, '', '');
  let result = null;
  try {
    result = await busy(button, ACTIONS[action][1], () => post(`/api/plugins/${enc(name)}/${action}`), group);
  } catch (e) {
    say(card.msg, 'error', e instanceof ApiError ? e.message : String(e));
  } finally {
    card.busy = false;
    card.el.removeAttribute('aria-busy');
  }
  if (result) {
    say(card.msg, 'ok', result.message || 'Done.');
    if (result.plugin) {
      card.update(result.plugin);
    }
    if (opts.onChange) {
      opts.onChange(card.plugin);
    }
  }
  renderActions(card, opts);
}
