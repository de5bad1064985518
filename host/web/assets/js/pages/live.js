// Live: the live plugin's broadcasts (its `list` command, refreshed on
// live.* events and every 5 s), a form that starts one, a Stop button per
// broadcast (after a confirmation) and a chat panel per running broadcast
// (GET /api/live/<cid>/chat as server-sent events, POST to send).
// When the live plugin is missing or not running the page says so and
// links to the plugin's page, where it can be enabled.

import { ApiError, enc, get, post } from '../api.js';
import { badge, busy, debounce, every, fill, fmtCount, fmtKib, fmtTime, h, say } from '../dom.js';
import { follow, subscribe } from '../live.js';

const PLUGIN = 'live';
const CMD = `/api/plugins/${PLUGIN}/commands/`;
const POLL_MS = 5000;
const CHAT_MAX = 300;        // chat lines kept on the page per broadcast
const CHAT_TEXT_MAX = 500;   // bytes of UTF-8 the engine accepts
const EXAMPLE_SOURCE = 'lavfi:testsrc2=size=640x360:rate=25[out0];sine=frequency=440:sample_rate=48000[out1]';

function errText(e) {
  return e instanceof ApiError ? e.message : String((e && e.message) || e);
}

// Uploaded bytes: below 1 KiB in bytes, else dom.js's KiB/MiB/GiB.
function fmtBytes(n) {
  const b = Number(n) || 0;
  return b < 1024 ? b + ' B' : fmtKib(Math.round(b / 1024));
}

// Puts text on the clipboard; falls back to a selected hidden text area
// where the Clipboard API is missing (plain http to a non-local name).
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (e) {
      // Try the old way below.
    }
  }
  const ta = h('textarea', { class: 'visually-hidden', readonly: true, 'aria-hidden': 'true' });
  ta.value = text;
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch (e) {
    ok = false;
  }
  ta.remove();
  return ok;
}

// A URL as a link plus a Copy button that says whether copying worked.
function copyRow(label, url, id) {
  const note = h('span', { class: 'small muted', role: 'status', 'aria-live': 'polite' });
  const btn = h('button', { type: 'button', class: 'link-button', 'aria-label': `Copy the ${label} URL` }, 'Copy');
  btn.addEventListener('click', async () => {
    const ok = await copyText(url);
    note.textContent = ok ? 'Copied.' : 'Select the link and copy it by hand.';
    setTimeout(() => { note.textContent = ''; }, 3000);
  });
  return [h('dt', {}, label),
    h('dd', { class: 'copy-row' },
      h('a', { href: url, id, class: 'mono', target: '_blank', rel: 'noopener' }, url), btn, note)];
}

// The text of a chat message with its parsed @mentions and :emotes:
// highlighted (only the names the engine listed, so nothing is guessed).
function chatText(m) {
  const mentions = new Set(m.mentions || []);
  const emotes = new Set(m.emotes || []);
  const text = String(m.text || '');
  const out = [];
  const re = /@([A-Za-z0-9_.-]{1,32})|:([A-Za-z0-9_+-]{1,32}):/g;
  let at = 0;
  let t;
  for (;;) {
    t = re.exec(text);
    if (!t) {
      break;
    }
    let node = null;
    if (t[1] !== undefined && mentions.has(t[1])) {
      node = h('mark', { class: 'mention' }, t[0]);
    } else if (t[2] !== undefined && emotes.has(t[2])) {
      node = h('span', { class: 'emote', title: `emote ${t[2]}` }, t[0]);
    }
    if (node) {
      out.push(text.slice(at, t.index), node);
      at = t.index + t[0].length;
    }
  }
  out.push(text.slice(at));
  return out;
}

// Reads one chat stream (text/event-stream) with fetch, so that the
// status shows and the named events ("chat", "mute") all arrive; resumes
// after a break with Last-Event-ID. onEvent(name, data) for messages whose
// data is JSON, onStatus(state, detail). Returns a function that ends it.
function readChat(cid, onEvent, onStatus) {
  return follow(`/api/live/${enc(cid)}/chat`, (name, data) => {
    if (data) {
      onEvent(name, data);
    }
  }, onStatus, { resume: true, notFound: 'the stream is not open on this engine yet' });
}

// One broadcast's chat: the messages (a log region) and a form to send.
function chatPanel(b) {
  const cid = b.content_id;
  const idp = 'chat-' + cid.slice(0, 12);
  const title = h('span', { class: 'chat-name' }, b.name);
  const dot = h('span', { class: 'live-dot wait', 'aria-hidden': 'true' });
  const state = h('span', {}, 'connecting');
  const log = h('ol', {
    class: 'chat-log', id: idp + '-log', role: 'log', 'aria-live': 'polite',
    'aria-label': `Chat of ${b.name}`, tabindex: '0',
  });
  const empty = h('li', { class: 'chat-empty muted' }, 'No messages yet.');
  log.appendChild(empty);
  const input = h('input', {
    id: idp + '-text', type: 'text', autocomplete: 'off', maxlength: String(CHAT_TEXT_MAX),
    'aria-describedby': `${idp}-hint ${idp}-msg`,
  });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const msg = h('p', { class: 'msg', id: idp + '-msg', role: 'alert' });
  const form = h('form', { class: 'chat-form', novalidate: true },
    h('label', { for: idp + '-text' }, `Message to the chat of ${b.name}`),
    h('div', { class: 'inline-row' }, input, send),
    h('p', { class: 'help small muted', id: idp + '-hint' },
      'Up to 500 bytes. @name mentions someone, :name: is an emote.'),
    msg);
  const el = h('section', { class: 'panel chat', 'data-cid': cid, 'aria-labelledby': idp + '-h' },
    h('div', { class: 'section-head' },
      h('h3', { id: idp + '-h' }, 'Chat: ', title),
      h('span', { class: 'small muted', role: 'status' }, dot, state)),
    log, form);

  const seen = new Set();
  const mine = new Set();   // seq numbers this page sent
  const selves = new Set(); // the key(s) those came from: this engine's
  const muted = new Map();  // sender key -> until (unix s)

  function who(from) {
    const k = String(from || '');
    return selves.has(k) ? 'you' : k.slice(0, 8) || '?';
  }

  // The answer to a send names the message's seq; the line may already be
  // on the page (the stream can be faster than the answer): its sender
  // key is this engine's, shown as "you".
  function markMine(seq) {
    mine.add(seq);
    for (const li of log.querySelectorAll(`li[data-seq="${String(seq)}"]`)) {
      selves.add(li.dataset.from);
    }
    for (const li of log.querySelectorAll('li[data-from]')) {
      if (selves.has(li.dataset.from)) {
        const f = li.querySelector('.chat-from');
        if (f) {
          f.textContent = 'you';
        }
      }
    }
  }

  function add(li) {
    empty.remove();
    const stick = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.appendChild(li);
    while (log.childElementCount > CHAT_MAX) {
      log.removeChild(log.firstChild);
    }
    if (stick) {
      log.scrollTop = log.scrollHeight;
    }
  }

  function onEvent(name, m) {
    if (name === 'mute' || m.event === 'mute') {
      muted.set(m.target, m.until);
      for (const li of log.querySelectorAll('li[data-from]')) {
        if (li.dataset.from === m.target) {
          li.classList.add('muted-sender');
        }
      }
      const until = m.until ? fmtTime(new Date(m.until * 1000)) : '?';
      add(h('li', { class: 'chat-line system' },
        h('span', { class: 'mono small muted' }, fmtTime(new Date(m.ts_ms || Date.now()), true)),
        h('span', {}, `The broadcaster muted ${who(m.target)} until ${until}.`)));
      return;
    }
    if (name !== 'chat') {
      return;
    }
    const key = `${m.from}:${m.seq}`;
    if (seen.has(key)) {
      return;
    }
    seen.add(key);
    if (mine.has(m.seq)) {
      selves.add(m.from);
    }
    const hasMention = (m.mentions || []).length > 0;
    add(h('li', {
      class: 'chat-line' + (hasMention ? ' has-mention' : '') + (muted.has(m.from) ? ' muted-sender' : ''),
      'data-from': m.from,
      'data-seq': String(m.seq),
    },
    h('span', { class: 'mono small muted' }, fmtTime(new Date(m.ts_ms), true)),
    h('span', { class: 'mono small chat-from', title: m.from }, who(m.from)),
    h('span', { class: 'chat-text' }, chatText(m))));
  }

  const stop = readChat(cid, onEvent, (s, why) => {
    dot.className = 'live-dot ' + (s === 'open' ? 'on' : 'wait');
    state.textContent = s === 'open' ? 'connected' : s + (why ? ` (${why})` : '');
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = input.value;
    if (!text.trim()) {
      say(msg, 'error', 'Write a message first.');
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    if (new TextEncoder().encode(text).length > CHAT_TEXT_MAX) {
      say(msg, 'error', `The message is longer than ${CHAT_TEXT_MAX} bytes; shorten it.`);
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    input.removeAttribute('aria-invalid');
    say(msg, '', '');
    try {
      const r = await busy(send, 'Sending…', () => post(`/api/live/${enc(cid)}/chat`, { text }));
      if (r && r.seq !== undefined) {
        markMine(r.seq);
      }
      input.value = '';
    } catch (err) {
      if (err instanceof ApiError && err.status === 429) {
        say(msg, 'error', `Too many messages: wait ${err.retryAfter || 'a few'} seconds and send again.`);
      } else {
        say(msg, 'error', errText(err));
      }
    }
    input.focus();
  });

  return {
    el,
    rename(n) {
      title.textContent = n;
    },
    stop,
  };
}

export function mountLive(root) {
  const dot = h('span', { class: 'live-dot wait', 'aria-hidden': 'true' });
  const updated = h('span', {}, 'connecting');
  const notice = h('div', { class: 'hidden', id: 'live-notice' });
  const content = h('div', { class: 'hidden', id: 'live-content' });
  fill(root,
    h('div', { class: 'page-head' }, h('h1', {}, 'Live'),
      h('span', { class: 'small muted' }, dot, updated)),
    notice, content);

  // ---- start form ---------------------------------------------------------
  const fName = h('input', {
    id: 'live-name', name: 'name', type: 'text', autocomplete: 'off', spellcheck: 'false',
    maxlength: '127', required: true, 'aria-describedby': 'live-name-help',
  });
  const fSource = h('input', {
    id: 'live-source', name: 'source', type: 'text', autocomplete: 'off', spellcheck: 'false',
    required: true, placeholder: 'lavfi:testsrc2=size=640x360:rate=25', 'aria-describedby': 'live-source-help',
  });
  const fLoop = h('input', { id: 'live-loop', name: 'loop', type: 'checkbox' });
  const fChunk = h('input', {
    id: 'live-chunk', name: 'chunk_seconds', type: 'number', inputmode: 'decimal',
    min: '0.2', max: '10', step: 'any', value: '1', 'aria-describedby': 'live-chunk-help',
  });
  const fAuto = h('input', { id: 'live-auto', name: 'auto_start', type: 'checkbox', checked: true });
  const startBtn = h('button', { type: 'submit', class: 'primary' }, 'Start broadcast');
  const startMsg = h('p', { class: 'msg', id: 'start-msg', role: 'alert' });
  const useExample = h('button', { type: 'button', class: 'link-button' }, 'Fill in a test pattern with sound');
  useExample.addEventListener('click', () => {
    fSource.value = EXAMPLE_SOURCE;
    fSource.focus();
  });
  const result = h('div', { class: 'start-result hidden', id: 'start-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'live-start', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'live-name' }, 'Name'), fName,
      h('p', { class: 'help', id: 'live-name-help' },
        'The broadcast\'s identity (1 to 127 bytes). Starting a name that exists restarts it with the same key.')),
    h('div', { class: 'field' }, h('label', { for: 'live-source' }, 'Source'), fSource,
      h('p', { class: 'help', id: 'live-source-help' },
        'A file path or any FFmpeg URL (udp://, http://, rtmp://…), or lavfi:<filtergraph> for a '
        + 'generated source, e.g. ', h('code', {}, 'lavfi:testsrc2=size=640x360:rate=25'), '. ',
        useExample)),
    h('div', { class: 'field' },
      h('label', { class: 'check', for: 'live-loop' }, fLoop, 'Loop'),
      h('p', { class: 'help' }, 'Play a file again and again, in real time.')),
    h('div', { class: 'field' }, h('label', { for: 'live-chunk' }, 'Chunk seconds'), fChunk,
      h('p', { class: 'help', id: 'live-chunk-help' },
        '0.2 to 10. Chunks are cut at the first keyframe after it.')),
    h('div', { class: 'field' },
      h('label', { class: 'check', for: 'live-auto' }, fAuto, 'Auto-start'),
      h('p', { class: 'help' }, 'Resume this broadcast when the engine starts again.')),
    h('div', { class: 'form-actions' }, startBtn), startMsg);

  // ---- broadcasts table ---------------------------------------------------
  const tbody = h('tbody', { id: 'broadcast-list' });
  const listMsg = h('p', { class: 'msg', role: 'alert' });
  const chats = h('div', { id: 'live-chats' });
  const COLS = ['Name', 'State', 'Content ID', 'Peers', 'Viewers', 'Chunks', 'Uploaded', 'Source error', 'Actions'];
  fill(content,
    h('section', { class: 'panel', 'aria-labelledby': 'start-h' },
      h('h2', { id: 'start-h' }, 'Start a broadcast'), form, result),
    h('section', { 'aria-labelledby': 'bc-h' },
      h('div', { class: 'section-head' }, h('h2', { id: 'bc-h' }, 'Broadcasts')),
      listMsg,
      h('div', { class: 'table-wrap' },
        h('table', { class: 'live-table' },
          h('caption', { class: 'visually-hidden' }, 'Broadcasts of this engine'),
          h('thead', {}, h('tr', {}, COLS.map((t) => h('th', { scope: 'col' }, t)))),
          tbody))),
    chats);

  const rows = new Map();   // name -> row
  const panels = new Map(); // content_id -> chat panel
  let running = null;       // is the live plugin running (null: not known yet)
  let gone = false;

  function showResult(r) {
    const cid = r.content_id || '';
    fill(result,
      h('p', { class: 'msg ok' }, `Started ${r.name}: ${r.state || 'starting'}.`),
      h('dl', { class: 'dl' },
        h('dt', {}, 'Content ID'),
        h('dd', { class: 'copy-row' }, h('code', { id: 'start-cid' }, cid),
          (() => {
            const note = h('span', { class: 'small muted', role: 'status' });
            const b = h('button', { type: 'button', class: 'link-button', 'aria-label': 'Copy the content ID' }, 'Copy');
            b.addEventListener('click', async () => {
              note.textContent = (await copyText(cid)) ? 'Copied.' : 'Select it and copy it by hand.';
              setTimeout(() => { note.textContent = ''; }, 3000);
            });
            return [b, note];
          })()),
        r.getstream ? copyRow('getstream', r.getstream, 'start-getstream') : null,
        r.manifest ? copyRow('manifest', r.manifest, 'start-manifest') : null,
        r.descriptor ? copyRow('descriptor', r.descriptor, 'start-descriptor') : null));
    result.classList.remove('hidden');
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    for (const f of [fName, fSource, fChunk]) {
      f.removeAttribute('aria-invalid');
    }
    const name = fName.value.trim();
    const source = fSource.value.trim();
    const bad = (f, text) => {
      say(startMsg, 'error', text);
      f.setAttribute('aria-invalid', 'true');
      f.focus();
    };
    if (!name) {
      bad(fName, 'Enter a name for the broadcast.');
      return;
    }
    if (new TextEncoder().encode(name).length > 127) {
      bad(fName, 'The name is longer than 127 bytes; shorten it.');
      return;
    }
    if (!source) {
      bad(fSource, 'Enter a source: a file, an FFmpeg URL or lavfi:<filtergraph>.');
      return;
    }
    const body = { name, source, loop: fLoop.checked, auto_start: fAuto.checked };
    if (fChunk.value.trim() !== '') {
      const c = Number(fChunk.value);
      if (!Number.isFinite(c) || c < 0.2 || c > 10) {
        bad(fChunk, 'Chunk seconds must be a number from 0.2 to 10.');
        return;
      }
      body.chunk_seconds = c;
    }
    say(startMsg, '', '');
    try {
      const r = await busy(startBtn, 'Starting…', () => post(CMD + 'start', body));
      showResult((r && r.result) || {});
      reloadSoon();
    } catch (err) {
      say(startMsg, 'error', 'The broadcast did not start: ' + errText(err));
    }
  });

  // One table row, updated in place so that focus and a pending
  // confirmation survive a refresh.
  function makeRow(name) {
    const r = { name, confirming: false, acting: false, b: null };
    r.cells = COLS.slice(0, 8).map(() => h('td'));
    r.cells[0].className = 'name';
    r.cells[2].className = 'mono cid';
    r.cells[7].className = 'msgcol';
    for (const i of [3, 4, 5, 6]) {
      r.cells[i].className = 'num';
      r.cells[i].dataset.label = COLS[i];
    }
    r.actions = h('td', { class: 'actions' });
    r.msg = h('p', { class: 'msg', role: 'alert' });
    r.tr = h('tr', { 'data-name': name }, r.cells, r.actions);
    r.tr.dataset.name = name;
    return r;
  }

  function renderActions(r) {
    if (r.acting) {
      return;
    }
    const b = r.b;
    if (r.confirming) {
      const yes = h('button', { type: 'button', class: 'danger' }, 'Yes, stop');
      const no = h('button', { type: 'button' }, 'Cancel');
      yes.addEventListener('click', () => stopBroadcast(r, yes, [yes, no]));
      no.addEventListener('click', () => {
        r.confirming = false;
        renderActions(r);
        const s = r.actions.querySelector('[data-action="stop"]');
        if (s) {
          s.focus();
        }
      });
      fill(r.actions, h('p', { class: 'confirm' },
        `Stop ${b.name}? Its viewers lose the stream.`), h('div', { class: 'row-buttons' }, yes, no), r.msg);
      return;
    }
    if (b.state === 'stopped') {
      fill(r.actions, r.msg);
      return;
    }
    const stopBtn = h('button', { type: 'button', class: 'danger', 'data-action': 'stop', 'aria-label': `Stop ${b.name}` }, 'Stop');
    stopBtn.addEventListener('click', () => {
      r.confirming = true;
      say(r.msg, '', '');
      renderActions(r);
      r.actions.querySelector('button:last-child').focus(); // Cancel
    });
    fill(r.actions, stopBtn, r.msg);
  }

  async function stopBroadcast(r, button, group) {
    r.acting = true;
    try {
      await busy(button, 'Stopping…', () => post(CMD + 'stop', { name: r.name }), group);
      r.acting = false;
      r.confirming = false;
      say(r.msg, '', '');
      if (r.b) {
        r.b = { ...r.b, state: 'stopped' };
        updateRow(r, r.b);
      }
      reloadSoon();
    } catch (err) {
      r.acting = false;
      r.confirming = false;
      renderActions(r);
      say(r.msg, 'error', 'Not stopped: ' + errText(err));
    }
  }

  function updateRow(r, b) {
    const prevKey = r.key;
    r.b = b;
    const c = r.cells;
    c[0].textContent = b.name;
    fill(c[1], badge(b.state === 'live' ? 'running' : b.state === 'stopped' ? 'stopped' : 'starting', b.state));
    c[1].dataset.state = b.state;
    c[2].textContent = b.content_id || '—';
    c[2].title = b.content_id || '';
    c[3].textContent = fmtCount(b.peers);
    c[4].textContent = fmtCount(b.viewers);
    c[5].textContent = fmtCount(b.chunks);
    c[6].textContent = fmtBytes(b.uploaded);
    c[7].textContent = b.source_error || '';
    c[7].classList.toggle('bad-text', !!b.source_error);
    r.key = JSON.stringify([b.state, r.confirming]);
    if (r.key !== prevKey) {
      renderActions(r);
    }
  }

  function syncChats(list) {
    const want = new Map();
    for (const b of list) {
      if (b.state !== 'stopped' && b.content_id) {
        want.set(b.content_id, b);
      }
    }
    for (const [cid, p] of panels) {
      if (!want.has(cid)) {
        p.stop();
        p.el.remove();
        panels.delete(cid);
      }
    }
    for (const [cid, b] of want) {
      let p = panels.get(cid);
      if (!p) {
        p = chatPanel(b);
        panels.set(cid, p);
        chats.appendChild(p.el);
      } else {
        p.rename(b.name);
      }
    }
  }

  function render(list) {
    const seen = new Set();
    for (const b of list) {
      seen.add(b.name);
      let r = rows.get(b.name);
      if (!r) {
        r = makeRow(b.name);
        rows.set(b.name, r);
      }
      updateRow(r, b);
    }
    for (const [name, r] of rows) {
      if (!seen.has(name) && !r.acting) {
        r.tr.remove();
        rows.delete(name);
      }
    }
    const order = list.map((b) => rows.get(b.name).tr);
    if (order.length === 0) {
      fill(tbody, h('tr', {}, h('td', { colspan: String(COLS.length), class: 'empty' },
        'No broadcasts yet. Start one above.')));
    } else {
      const now = Array.from(tbody.children);
      if (now.length !== order.length || now.some((tr, i) => tr !== order[i])) {
        fill(tbody, order);
      }
    }
    syncChats(list);
  }

  function showNotice(kind, text, link) {
    fill(notice, h('section', { class: 'panel', 'aria-labelledby': 'live-off-h' },
      h('h2', { id: 'live-off-h' }, kind),
      h('p', { class: 'msg info', role: 'status' }, text),
      link ? h('p', {}, h('a', { href: '/admin/plugins/' + enc(PLUGIN) }, link)) : null));
    notice.classList.remove('hidden');
    content.classList.add('hidden');
    syncChats([]);
  }

  // Is the plugin running? Shows the notice when it is not.
  async function checkPlugin() {
    let p;
    try {
      p = await get('/api/plugins/' + enc(PLUGIN));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        running = false;
        showNotice('The live plugin is not installed',
          'This engine has no live plugin in its plugin folder, so it cannot broadcast. '
          + 'Install live.so (with transport-tcp, swarm, segmenter and streamer) and restart the engine.', null);
        return false;
      }
      throw e;
    }
    if (p.state !== 'running') {
      running = false;
      const why = p.enabled === false || p.state === 'disabled'
        ? 'The live plugin is disabled, so this engine cannot broadcast.'
        : `The live plugin is ${p.state}${p.reason ? ': ' + p.reason : ''}.`;
      showNotice('Live broadcasting is off', why + ' Enable it on its plugin page; this page follows.',
        'Open the live plugin\'s page to enable it');
      return false;
    }
    if (running !== true) {
      running = true;
      notice.classList.add('hidden');
      content.classList.remove('hidden');
    }
    return true;
  }

  async function load() {
    if (gone) {
      return;
    }
    try {
      if (!(await checkPlugin())) {
        updated.textContent = 'Updated ' + fmtTime(new Date(), true);
        return;
      }
      const r = await post(CMD + 'list', {});
      if (gone) {
        return;
      }
      say(listMsg, '', '');
      render(((r && r.result) || {}).broadcasts || []);
      updated.textContent = 'Updated ' + fmtTime(new Date(), true);
    } catch (e) {
      say(listMsg, 'error', 'Cannot read the broadcasts: ' + errText(e));
      throw e;
    }
  }

  const reloadSoon = debounce(() => load().catch(() => {}), 300);
  load().catch(() => {});
  // Each `list` is a command, and the engine audits every command: poll
  // only while the page is in sight, and catch up when it comes back.
  const stopPoll = every(POLL_MS, () => (document.hidden ? null : load()));
  const onVisible = () => {
    if (!document.hidden) {
      reloadSoon();
    }
  };
  document.addEventListener('visibilitychange', onVisible);
  const stopEvents = subscribe('live.*,plugin.state', (topic, ev) => {
    if (topic === 'live.chat' || topic === 'live.chat.mute') {
      return; // the chat panels read their own stream
    }
    if (topic === 'plugin.state' && !(ev && ev.name === PLUGIN)) {
      return;
    }
    reloadSoon();
  }, (s) => {
    dot.className = 'live-dot ' + (s === 'open' ? 'on' : 'wait');
    if (s === 'open') {
      reloadSoon(); // catch up on what happened while away
    }
  });

  return () => {
    gone = true;
    stopPoll();
    document.removeEventListener('visibilitychange', onVisible);
    stopEvents();
    reloadSoon.cancel();
    for (const p of panels.values()) {
      p.stop();
    }
    panels.clear();
  };
}
