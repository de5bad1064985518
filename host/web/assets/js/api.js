// Talking to the engine's JSON API (docs/admin-api.md).
// Every mutating request carries the session's CSRF token; a 401 from any
// call sends the browser to the login page.

let csrfToken = '';

export function setCsrf(token) {
  csrfToken = token || '';
}

// An error answer: status, the API's error code and sentence, for a
// rejected settings save the per-field sentences, and for a rejected script
// the line its error names (or null).
export class ApiError extends Error {
  constructor(status, code, message, fields = null, retryAfter = null, line = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.retryAfter = retryAfter;
    this.line = line;
  }
}

let leaving = false;

// Sends the browser to /login, remembering where it was.
export function toLogin() {
  if (leaving) {
    return;
  }
  leaving = true;
  const here = location.pathname + location.search + location.hash;
  location.replace('/login?next=' + encodeURIComponent(here));
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

// api('GET', '/api/status') -> the parsed JSON body, or throws ApiError.
// options.login: this call is the login itself, so a 401 is an answer for
// the caller, not a reason to leave the page.
export async function api(method, path, body, options = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (MUTATING.has(method) && csrfToken) {
    headers['X-CSRF-Token'] = csrfToken;
  }
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'The engine did not answer; is it running?');
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (e) {
      data = null;
    }
  }
  if (res.ok) {
    return data;
  }
  if (res.status === 401 && !options.login) {
    toLogin();
  }
  const err = (data && data.error) || {};
  throw new ApiError(res.status, err.code || 'http_' + res.status,
    err.message || `The engine answered ${res.status} ${res.statusText}.`,
    err.fields || null, res.headers.get('Retry-After'),
    Number.isInteger(err.line) && err.line > 0 ? err.line : null);
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);
export const put = (path, body) => api('PUT', path, body);
export const del = (path) => api('DELETE', path);

// The path segment for a plugin name.
export const enc = encodeURIComponent;
