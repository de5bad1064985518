// Overview: version, uptime, memory, plugins by state and by health.
// /api/status is polled every 3 s; plugin events trigger an early refresh.

import { get } from '../api.js';
import { badge, debounce, every, fill, fmtCount, fmtDuration, fmtKib, fmtTime, h, say } from '../dom.js';
import { subscribe } from '../live.js';

const STATES = ['running', 'starting', 'discovered', 'disabled', 'failed', 'rejected'];
const HEALTH = ['ok', 'degraded', 'bad', 'unknown'];

function stat(label) {
  const value = h('div', { class: 'value' }, '—');
  const sub = h('div', { class: 'sub' });
  const el = h('section', { class: 'panel stat', 'aria-label': label },
    h('div', { class: 'label' }, label), value, sub);
  return { el, value, sub };
}

function chips(counts, order) {
  return h('div', { class: 'chips' }, order.map((k) => {
    const n = counts[k] || 0;
    return h('a', { class: 'chip' + (n ? '' : ' zero'), href: '/admin/plugins' },
      badge(k), h('span', { class: 'n' }, String(n)));
  }));
}

export function mountOverview(root) {
  const version = stat('Version');
  const uptime = stat('Uptime');
  const memory = stat('Memory (RSS)');
  const http = stat('HTTP requests');
  const bus = stat('Bus events');
  const total = stat('Plugins');
  const states = h('div', { id: 'plugin-states' });
  const health = h('div', { id: 'plugin-health' });
  const msg = h('p', { class: 'msg', role: 'status' });
  const updated = h('span', {}, '');
  const dot = h('span', { class: 'live-dot wait', 'aria-hidden': 'true' });
  fill(root,
    h('div', { class: 'page-head' }, h('h1', {}, 'Overview'),
      h('span', { class: 'small muted' }, dot, updated)),
    msg,
    h('div', { class: 'grid' }, version.el, uptime.el, memory.el, total.el, http.el, bus.el),
    h('div', { class: 'grid wide' },
      h('section', { class: 'panel', 'aria-labelledby': 'states-h' },
        h('h2', { id: 'states-h' }, 'Plugins by state'), states),
      h('section', { class: 'panel', 'aria-labelledby': 'health-h' },
        h('h2', { id: 'health-h' }, 'Health of running plugins'), health)));

  // Uptime moves on between polls.
  let upBase = null;
  let upAt = 0;
  const tick = setInterval(() => {
    if (upBase !== null) {
      uptime.value.textContent = fmtDuration(upBase + (Date.now() - upAt) / 1000);
    }
  }, 1000);

  async function refreshStatus() {
    let s;
    try {
      s = await get('/api/status');
    } catch (e) {
      say(msg, 'error', e.message);
      dot.className = 'live-dot wait';
      throw e;
    }
    say(msg, '', '');
    dot.className = 'live-dot on';
    updated.textContent = 'Updated ' + fmtTime(new Date(), true);
    version.value.textContent = s.version || '—';
    version.sub.textContent = s.sdk ? `SDK ${s.sdk}` : '';
    upBase = Number(s.uptime_s) || 0;
    upAt = Date.now();
    uptime.value.textContent = fmtDuration(upBase);
    memory.value.textContent = s.rss_kib !== undefined ? fmtKib(s.rss_kib) : '—';
    const p = s.plugins || {};
    total.value.textContent = String(p.total ?? '—');
    total.sub.textContent = `${p.running || 0} running, ${p.failed || 0} failed`;
    const hs = s.http || {};
    http.value.textContent = fmtCount(hs.requests);
    http.sub.textContent = `${fmtCount(hs.streams_open)} stream${hs.streams_open === 1 ? '' : 's'} open`;
    const b = s.bus || {};
    bus.value.textContent = fmtCount(b.published);
    bus.sub.textContent = `${fmtCount(b.delivered)} delivered, ${fmtCount(b.dropped)} dropped, ${fmtCount(b.queued)} queued`;
    fill(states, chips(p, STATES));
  }

  async function refreshHealth() {
    const data = await get('/api/plugins');
    const counts = {};
    for (const pl of data.plugins || []) {
      if (pl.state === 'running') {
        const k = pl.health || 'unknown';
        counts[k] = (counts[k] || 0) + 1;
      }
    }
    fill(health, chips(counts, HEALTH));
  }

  const refresh = () => Promise.all([refreshStatus(), refreshHealth()]);
  const soon = debounce(() => refresh().catch(() => {}), 300);
  refresh().catch(() => {});
  const stopPoll = every(3000, refresh);
  const stopLive = subscribe('plugin.*', () => soon());

  return () => {
    clearInterval(tick);
    stopPoll();
    stopLive();
    soon.cancel();
  };
}
