// One plugin: its card with the actions, its details, the settings form
// generated from its schema, and a box to run its commands.

import { ApiError, enc, get, post } from '../api.js';
import { busy, debounce, fill, h, say } from '../dom.js';
import { subscribe } from '../live.js';
import { pluginCard } from './plugincard.js';
import { settingsForm } from './settings.js';

export function mountPlugin(root, [name]) {
  const top = h('div', { class: 'detail-card' });
  const details = h('section', { class: 'panel', 'aria-labelledby': 'details-h' });
  const settings = h('section', { class: 'panel', 'aria-labelledby': 'settings-h' },
    h('h2', { id: 'settings-h' }, 'Settings'), h('p', { class: 'muted' }, 'Loading…'));
  const commands = h('section', { class: 'panel hidden', 'aria-labelledby': 'commands-h' });
  fill(root,
    h('p', { class: 'small' }, h('a', { href: '/admin/plugins' }, '← All plugins')),
    top, settings, details, commands);

  let card = null;

  async function load() {
    let p;
    try {
      p = await get('/api/plugins/' + enc(name));
    } catch (e) {
      fill(top, h('h1', {}, name), h('p', { class: 'msg error' }, e.message));
      return false;
    }
    if (!card) {
      card = pluginCard(p, { heading: 'h1' });
      fill(top, card.el);
    } else {
      card.update(p);
    }
    renderDetails(details, card.plugin);
    if (p.has_commands) {
      if (commands.classList.contains('hidden')) {
        commandBox(commands, name);
        commands.classList.remove('hidden');
      }
    }
    return true;
  }

  const reloadSoon = debounce(load, 300);
  load().then((ok) => {
    if (ok) {
      settingsForm(settings, name);
    } else {
      settings.remove();
    }
  });
  const stopLive = subscribe('plugin.state', (topic, ev) => {
    if (card && ev && ev.name === name) {
      card.update({ state: ev.state, reason: ev.reason, enabled: ev.enabled });
      reloadSoon();
    }
  });
  return () => {
    stopLive();
    reloadSoon.cancel();
  };
}

function list(a) {
  return a && a.length ? a.join(', ') : '—';
}

function renderDetails(box, p) {
  const rows = [
    ['Summary', p.summary || '—'],
    ['Version', p.version || '—'],
    ['Kind', p.kind || '—'],
    ['License', p.license || '—'],
    ['Built for SDK', p.sdk || '—'],
    ['Requires', list(p.requires)],
    ['Provides', list(p.provides)],
    ['Crashes', String(p.crash_count || 0)],
    ['File', h('code', {}, p.file || '—')],
  ];
  fill(box, h('h2', { id: 'details-h' }, 'Details'),
    h('dl', { class: 'dl' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    p.health_detail ? [h('h3', { class: 'health-detail' }, 'Health detail'),
      h('pre', {}, JSON.stringify(p.health_detail, null, 2))] : null);
}

function commandBox(box, name) {
  const cmd = h('input', { id: 'cmd-name', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'stats' });
  const args = h('textarea', { id: 'cmd-args', spellcheck: 'false', placeholder: '{}' });
  const run = h('button', { type: 'submit', class: 'primary' }, 'Run');
  const msg = h('p', { class: 'msg', role: 'status' });
  const out = h('pre', { class: 'hidden', 'aria-label': 'Command result' });
  const form = h('form', { novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'cmd-name' }, 'Command'), cmd),
    h('div', { class: 'field' }, h('label', { for: 'cmd-args' }, 'Arguments (JSON)'), args),
    h('div', { class: 'form-actions' }, run), msg, out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    out.classList.add('hidden');
    const c = cmd.value.trim();
    if (!c) {
      say(msg, 'error', 'Enter the name of a command.');
      cmd.focus();
      return;
    }
    let body = {};
    if (args.value.trim()) {
      try {
        body = JSON.parse(args.value);
      } catch (err) {
        say(msg, 'error', 'The arguments are not valid JSON: ' + err.message);
        args.focus();
        return;
      }
    }
    say(msg, '', '');
    try {
      const r = await busy(run, 'Running…', () => post(`/api/plugins/${enc(name)}/commands/${enc(c)}`, body));
      out.textContent = JSON.stringify(r.result, null, 2);
      out.classList.remove('hidden');
    } catch (err) {
      say(msg, 'error', err instanceof ApiError ? err.message : String(err));
    }
  });
  fill(box, h('h2', { id: 'commands-h' }, 'Commands'),
    h('p', { class: 'muted small' }, 'Run one of the plugin\'s named commands with JSON arguments.'), form);
}
