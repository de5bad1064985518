// Small DOM helpers. Text always goes in as text nodes, never as HTML, so
// nothing the engine or a plugin says can inject markup.

// h('button', {class: 'primary', onclick: fn}, 'Save') -> element.
// Attributes: "class", "text", on<event> functions, booleans (set when
// true), everything else through setAttribute. Children: nodes, strings,
// numbers, arrays; null/undefined/false are skipped.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) {
      continue;
    }
    if (k === 'class') {
      el.className = v;
    } else if (k === 'text') {
      el.textContent = v;
    } else if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (v === true) {
      el.setAttribute(k, '');
    } else if (k === 'value') {
      el.value = v;
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) {
      continue;
    }
    if (Array.isArray(c)) {
      append(el, c);
    } else if (c instanceof Node) {
      el.appendChild(c);
    } else {
      el.appendChild(document.createTextNode(String(c)));
    }
  }
}

export function clear(el) {
  while (el.firstChild) {
    el.removeChild(el.firstChild);
  }
  return el;
}

// Replaces el's children.
export function fill(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// A status line: kind is 'ok', 'error', 'info' or '' (hidden when empty).
export function say(el, kind, text) {
  el.className = 'msg' + (kind ? ' ' + kind : '');
  el.textContent = text || '';
}

export function badge(value, label) {
  const v = value === null || value === undefined ? 'unknown' : String(value);
  return h('span', { class: 'badge ' + v.replace(/[^a-z0-9_-]/gi, '') }, label || v);
}

// Runs fn while button shows a spinner and busyText; every button in
// group (default: just this one) is disabled meanwhile.
export async function busy(button, busyText, fn, group = [button]) {
  const saved = Array.from(button.childNodes);
  const was = group.map((b) => b.disabled);
  group.forEach((b) => { b.disabled = true; });
  button.setAttribute('aria-busy', 'true');
  fill(button, h('span', { class: 'spinner', 'aria-hidden': 'true' }), busyText);
  try {
    return await fn();
  } finally {
    fill(button, saved);
    button.removeAttribute('aria-busy');
    group.forEach((b, i) => { b.disabled = was[i]; });
  }
}

export function fmtDuration(seconds) {
  let s = Math.max(0, Math.floor(Number(seconds) || 0));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hr = Math.floor(s / 3600);
  s -= hr * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) {
    return `${d}d ${hr}h ${m}m`;
  }
  if (hr > 0) {
    return `${hr}h ${m}m ${s}s`;
  }
  return m > 0 ? `${m}m ${s}s` : `${s}s`;
}

export function fmtKib(kib) {
  const n = Number(kib) || 0;
  if (n >= 1024 * 1024) {
    return (n / 1024 / 1024).toFixed(2) + ' GiB';
  }
  if (n >= 1024) {
    return (n / 1024).toFixed(1) + ' MiB';
  }
  return n + ' KiB';
}

export function fmtCount(n) {
  return Number(n || 0).toLocaleString('en-US');
}

// "2026-11-21T04:34:10.986Z" -> local "2026-11-21 05:34:10" (or the time
// alone when short is set).
export function fmtTime(iso, short = false) {
  const d = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(d.getTime())) {
    return String(iso || '');
  }
  const p = (n, w = 2) => String(n).padStart(w, '0');
  const time = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  if (short) {
    return time;
  }
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${time}`;
}

// Calls fn at most once per ms, at the end of a burst.
export function debounce(fn, ms) {
  let t = 0;
  const d = (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
  d.cancel = () => clearTimeout(t);
  return d;
}

// Repeats fn every ms (after each run finishes); returns a stop function.
export function every(ms, fn) {
  let stopped = false;
  let t = 0;
  const tick = async () => {
    try {
      await fn();
    } catch (e) {
      // The page shows its own errors; keep polling.
    }
    if (!stopped) {
      t = setTimeout(tick, ms);
    }
  };
  t = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(t);
  };
}
