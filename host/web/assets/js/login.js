// The login page: POST /api/login, then on to the page the user wanted
// (only paths inside /admin/) or the overview.

import { api, ApiError } from './api.js';

const form = document.getElementById('login-form');
const user = document.getElementById('user');
const password = document.getElementById('password');
const button = document.getElementById('login-button');
const msg = document.getElementById('login-msg');

function target() {
  const next = new URLSearchParams(location.search).get('next') || '';
  return /^\/admin\/[^\\]*$/.test(next) && !next.startsWith('//') ? next : '/admin/';
}

function show(kind, text) {
  msg.className = 'msg' + (kind ? ' ' + kind : '');
  msg.textContent = text;
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!user.value.trim() || !password.value) {
    show('error', 'Enter your user name and password.');
    (user.value.trim() ? password : user).focus();
    return;
  }
  button.disabled = true;
  button.textContent = 'Logging in…';
  show('', '');
  try {
    await api('POST', '/api/login', { user: user.value.trim(), password: password.value }, { login: true });
    location.replace(target());
    return;
  } catch (err) {
    if (err instanceof ApiError && err.status === 429) {
      const s = Number(err.retryAfter);
      show('error', 'Too many failed attempts. Try again '
        + (s > 0 ? `in ${s} second${s === 1 ? '' : 's'}.` : 'later.'));
    } else if (err instanceof ApiError && err.status === 401) {
      show('error', 'Wrong user name or password.');
      password.select();
    } else {
      show('error', err.message || String(err));
    }
  }
  button.disabled = false;
  button.textContent = 'Log in';
});

// Already logged in: go straight on.
api('GET', '/api/session', undefined, { login: true })
  .then(() => location.replace(target()))
  .catch(() => {
    (user.value ? password : user).focus();
  });
