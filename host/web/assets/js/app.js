// The admin app: checks the session, then routes /admin/... paths to pages.
// A page is a function mount(root, params) that fills root and returns a
// function that stops its timers and streams when the user leaves.

import { api, ApiError, get, setCsrf, toLogin } from './api.js';
import { fill, h } from './dom.js';
import { mountOverview } from './pages/overview.js';
import { mountPlugins } from './pages/plugins.js';
import { mountPlugin } from './pages/plugin.js';
import { mountScript, mountScripts } from './pages/scripts.js';
import { mountLogs } from './pages/logs.js';
import { mountEvents } from './pages/events.js';
import { mountAudit } from './pages/audit.js';
import { mountLive } from './pages/live.js';

const routes = [
  { re: /^\/admin\/?$/, title: 'Overview', nav: '/admin/', mount: mountOverview },
  { re: /^\/admin\/plugins\/?$/, title: 'Plugins', nav: '/admin/plugins', mount: mountPlugins },
  { re: /^\/admin\/plugins\/([^/]+)\/?$/, title: 'Plugin', nav: '/admin/plugins', mount: mountPlugin },
  { re: /^\/admin\/scripts\/?$/, title: 'Scripts', nav: '/admin/scripts', mount: mountScripts },
  { re: /^\/admin\/scripts\/([^/]+)\/?$/, title: 'Script', nav: '/admin/scripts', mount: mountScript },
  { re: /^\/admin\/logs\/?$/, title: 'Logs', nav: '/admin/logs', mount: mountLogs },
  { re: /^\/admin\/live\/?$/, title: 'Live', nav: '/admin/live', mount: mountLive },
  { re: /^\/admin\/events\/?$/, title: 'Events', nav: '/admin/events', mount: mountEvents },
  { re: /^\/admin\/audit\/?$/, title: 'Audit', nav: '/admin/audit', mount: mountAudit },
];

const main = document.getElementById('main');
let leave = null;

function notFound(root) {
  fill(root, h('h1', {}, 'Not found'),
    h('p', {}, 'There is no page at this address. ', h('a', { href: '/admin/' }, 'Go to the overview.')));
  return null;
}

function route(focus) {
  if (leave) {
    leave();
    leave = null;
  }
  const path = location.pathname;
  let match = null;
  let found = null;
  for (const r of routes) {
    match = r.re.exec(path);
    if (match) {
      found = r;
      break;
    }
  }
  for (const a of document.querySelectorAll('.nav a')) {
    if (found && a.getAttribute('href') === found.nav) {
      a.setAttribute('aria-current', 'page');
    } else {
      a.removeAttribute('aria-current');
    }
  }
  const root = h('div');
  fill(main, root);
  if (!found) {
    document.title = 'Not found - OpenAce';
    notFound(root);
    return;
  }
  const params = match.slice(1).map((p) => decodeURIComponent(p));
  document.title = (params[0] || found.title) + ' - OpenAce';
  leave = found.mount(root, params) || null;
  if (focus) {
    main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
}

// Moves to another page of the app without reloading it.
export function navigate(path) {
  history.pushState(null, '', path);
  route(true);
}

// Links inside the app stay inside it.
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) {
    return;
  }
  const a = e.target.closest('a[href]');
  if (!a || a.target) {
    return;
  }
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith('/admin/') || url.hash) {
    return;
  }
  e.preventDefault();
  if (url.pathname !== location.pathname) {
    navigate(url.pathname + url.search);
  }
});
window.addEventListener('popstate', () => route(true));

document.getElementById('logout').addEventListener('click', async (e) => {
  e.currentTarget.disabled = true;
  try {
    await api('POST', '/api/logout');
  } catch (err) {
    // Leave anyway; a failed logout still ends at the login page.
  }
  location.replace('/login');
});

async function start() {
  try {
    const s = await get('/api/session');
    setCsrf(s.csrf);
    document.getElementById('who').textContent = s.user;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      toLogin();
      return;
    }
    fill(main, h('div', { class: 'panel' },
      h('h1', {}, 'Cannot reach the engine'),
      h('p', { class: 'msg error' }, e.message),
      h('button', { type: 'button', onclick: () => location.reload() }, 'Try again')));
    return;
  }
  route(false);
}

start();
