// The engine's Server-Sent Events stream, /api/events?topics=...
//
// Read with fetch() rather than EventSource: the engine names each message
// after its bus topic ("event: plugin.state"), and EventSource only delivers
// named messages to listeners registered for that exact name, so a pattern
// such as "plugin.*" or "*" could not be followed. fetch also shows the
// status code, so a 401 sends the browser to the login page.

import { toLogin } from './api.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Calls onEvent(topic, data, rawText) for each message (data is the parsed
// JSON, or null when it is not JSON) and onStatus('connecting' | 'open' |
// 'reconnecting', detail) as the connection changes. Reconnects with
// back-off. Returns a function that closes the stream for good.
export function subscribe(topics, onEvent, onStatus = () => {}) {
  return follow('/api/events?topics=' + encodeURIComponent(topics || '*'), onEvent, onStatus);
}

// Follows any text/event-stream URL of the engine the way subscribe does:
// onEvent(name, data, rawText) per message, onStatus(state, detail), back-off
// reconnects, a 401 goes to the login page. opts.resume sends Last-Event-ID
// (the last "id:" the stream gave) when it reconnects; opts.notFound is the
// reason onStatus shows when the URL answers 404. Returns a function that
// closes the stream for good.
export function follow(url, onEvent, onStatus = () => {}, opts = {}) {
  let stopped = false;
  let ctl = null;
  let lastId = '';

  async function run() {
    let delay = 1000;
    while (!stopped) {
      ctl = new AbortController();
      onStatus('connecting');
      let why = 'the stream ended';
      try {
        const headers = { Accept: 'text/event-stream' };
        if (opts.resume && lastId) {
          headers['Last-Event-ID'] = lastId;
        }
        const res = await fetch(url, {
          headers,
          credentials: 'same-origin',
          cache: 'no-store',
          signal: ctl.signal,
        });
        if (res.status === 401) {
          toLogin();
          return;
        }
        if (res.status === 404 && opts.notFound) {
          throw new Error(opts.notFound);
        }
        if (!res.ok || !res.body) {
          throw new Error(`the engine answered ${res.status}`);
        }
        onStatus('open');
        delay = 1000;
        await readEvents(res.body, onEvent, (id) => {
          lastId = id;
        });
      } catch (e) {
        if (stopped) {
          return;
        }
        why = e.message || String(e);
      }
      if (stopped) {
        return;
      }
      onStatus('reconnecting', why);
      await sleep(delay);
      delay = Math.min(delay * 2, 15000);
    }
  }

  run();
  return () => {
    stopped = true;
    if (ctl) {
      ctl.abort();
    }
  };
}

// Parses the text/event-stream format from a response body: "field: value"
// lines, a blank line ends a message, lines starting with ":" are comments
// (keep-alives). Calls onEvent(name, data, rawText) for each message with
// data (data is the parsed JSON, or null when it is not JSON) and onId(id)
// when a message carried an "id:" field. Resolves when the body ends.
export async function readEvents(body, onEvent, onId = () => {}) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let event = '';
  let id = '';
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      return;
    }
    buf += value;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      let line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
      if (line.endsWith('\r')) {
        line = line.slice(0, -1);
      }
      if (line === '') {
        if (id) {
          onId(id);
        }
        if (data.length > 0) {
          const text = data.join('\n');
          let parsed = null;
          try {
            parsed = JSON.parse(text);
          } catch (e) {
            parsed = null;
          }
          onEvent(event || 'message', parsed, text);
        }
        event = '';
        id = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) {
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? '' : line.slice(colon + 1);
      if (val.startsWith(' ')) {
        val = val.slice(1);
      }
      if (field === 'event') {
        event = val;
      } else if (field === 'data') {
        data.push(val);
      } else if (field === 'id') {
        id = val;
      }
    }
  }
}
