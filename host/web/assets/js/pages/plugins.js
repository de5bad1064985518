// Plugins: a card per plugin, kept current by plugin.* events (and a slow
// poll for health, which has no event).

import { enc, get } from '../api.js';
import { debounce, every, fill, h, say } from '../dom.js';
import { subscribe } from '../live.js';
import { pluginCard, pluginKey } from './plugincard.js';

const ORDER = { failed: 0, rejected: 1, starting: 2, discovered: 3, running: 4, disabled: 5 };

export function mountPlugins(root) {
  const cards = new Map();
  const list = h('div', { class: 'cards', id: 'plugin-list' });
  const msg = h('p', { class: 'msg', role: 'status' });
  const liveDot = h('span', { class: 'live-dot wait', 'aria-hidden': 'true' });
  const liveText = h('span', {}, 'connecting');
  fill(root,
    h('div', { class: 'page-head' },
      h('h1', {}, 'Plugins'),
      h('span', { class: 'small muted' }, liveDot, 'Live updates: ', liveText)),
    msg, list);

  async function load() {
    let data;
    try {
      data = await get('/api/plugins');
    } catch (e) {
      say(msg, 'error', e.message);
      return;
    }
    say(msg, '', '');
    const plugins = (data.plugins || []).slice().sort((a, b) =>
      (ORDER[a.state] ?? 9) - (ORDER[b.state] ?? 9) || pluginKey(a).localeCompare(pluginKey(b)));
    const seen = new Set();
    for (const p of plugins) {
      const key = pluginKey(p);
      seen.add(key);
      const card = cards.get(key);
      if (card) {
        card.update(p);
      } else {
        cards.set(key, pluginCard(p, { link: true }));
      }
    }
    for (const [key, card] of cards) {
      if (!seen.has(key) && !card.busy) {
        cards.delete(key);
      }
    }
    // Keep the order stable while the list stays the same; append new ones.
    if (list.childElementCount === 0) {
      plugins.forEach((p) => list.appendChild(cards.get(pluginKey(p)).el));
    } else {
      for (const el of Array.from(list.children)) {
        if (!cards.has(el.dataset.plugin)) {
          el.remove();
        }
      }
      plugins.forEach((p) => {
        const el = cards.get(pluginKey(p)).el;
        if (!el.isConnected) {
          list.appendChild(el);
        }
      });
    }
    if (plugins.length === 0) {
      fill(list, h('p', { class: 'empty' }, 'No plugins found in the plugin directory.'));
    }
  }

  // A state event carries name, file, state, reason and enabled; health
  // comes with the plugin's full record, fetched shortly after.
  const refreshOne = new Map();
  function onState(ev) {
    if (!ev) {
      return;
    }
    const card = cards.get(pluginKey(ev));
    if (!card) {
      reloadSoon();
      return;
    }
    card.update({ state: ev.state, reason: ev.reason, enabled: ev.enabled,
      health: ev.state === 'running' ? card.plugin.health : null });
    if (!ev.name) {
      return;
    }
    if (!refreshOne.has(ev.name)) {
      const name = ev.name;
      refreshOne.set(name, debounce(async () => {
        try {
          const p = await get('/api/plugins/' + enc(name));
          const c = cards.get(pluginKey(p));
          if (c) {
            c.update(p);
          }
        } catch (e) {
          // The next poll tries again.
        }
      }, 400));
    }
    refreshOne.get(ev.name)();
  }

  const reloadSoon = debounce(load, 300);
  load();
  const stopPoll = every(10000, load);
  const stopLive = subscribe('plugin.*', (topic, data) => {
    if (topic === 'plugin.state') {
      onState(data);
    } else if (topic === 'plugin.health' && data && cards.has(pluginKey(data))) {
      cards.get(pluginKey(data)).update({ health: data.health });
    } else {
      reloadSoon(); // other plugin.* news, or "dropped": read the list again
    }
  }, (status) => {
    liveDot.className = 'live-dot ' + (status === 'open' ? 'on' : 'wait');
    liveText.textContent = status === 'open' ? 'on' : status;
    if (status === 'open') {
      reloadSoon(); // catch up on anything missed while away
    }
  });

  return () => {
    stopPoll();
    stopLive();
    reloadSoon.cancel();
    refreshOne.forEach((d) => d.cancel());
  };
}
