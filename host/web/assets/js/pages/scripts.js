// Scripts: the engine's Lua automation scripts (docs/admin-api.md,
// "Scripts"). /admin/scripts lists them with their state and starts a new
// one; /admin/scripts/{name} edits one: its source with line numbers, Save,
// Enable / Disable, Delete, its state and last error, and its recent log
// lines. Both follow the script.* events (loaded, unloaded, error,
// disabled) and poll slowly for what sends no event (a disabled script
// saved elsewhere, lines a script logs from its callbacks).

import { ApiError, del, enc, get, post, put } from '../api.js';
import { badge, busy, debounce, every, fill, fmtTime, h } from '../dom.js';
import { subscribe } from '../live.js';
// app.js imports this module too; navigate is only called after both ran.
import { navigate } from '../app.js';
import { codeEditor } from './editor.js';

const NAME_RE = /^[a-z0-9_-]{1,64}$/;
const NAME_RULE = '1 to 64 characters of a-z, 0-9, _ and -';

// A sentence for the list to show once, left by a delete on a script's page.
let flash = null;

// The line an error names, found as the engine finds it: the first
// ":<digits>:" on its first line ("watchdog:12: message"); 0 when none.
function errorLine(text) {
  const m = /:(\d+):/.exec(String(text || '').split('\n')[0]);
  return m ? Number(m[1]) : 0;
}

// Sets a message box: kind 'ok', 'error', 'info' or '' (hidden when it has
// no children). Like dom.say, but the message may hold elements.
function tell(box, kind, ...children) {
  box.className = 'msg' + (kind ? ' ' + kind : '');
  fill(box, ...children);
}

// An engine error about a script: "<lead>: line N: message", what it means
// for the stored script, and the traceback folded away.
function errorParts(name, message, line, lead, consequence, goTo) {
  const [head, ...rest] = String(message || '').split('\n');
  const prefix = `${name}:${line}: `;
  const text = line && head.startsWith(prefix) ? head.slice(prefix.length) : head;
  return [
    h('p', {}, h('strong', {}, line ? `${lead}: line ${line}: ` : `${lead}: `), text),
    h('p', {}, consequence,
      line && goTo ? [' ', h('button', { type: 'button', class: 'link-button', onclick: () => goTo(line) },
        `Go to line ${line}`)] : null),
    rest.length ? h('details', {}, h('summary', {}, 'Traceback'), h('pre', {}, rest.join('\n'))) : null,
  ];
}

function enabledBadge(s) {
  return s.enabled ? badge('enabled') : badge('disabled');
}

// An enabled script that is not running did not load (or was stopped).
function runningBadge(s) {
  if (s.running) {
    return badge('running');
  }
  return s.enabled ? badge('failed', 'not running') : badge('stopped');
}

function liveStatus() {
  const dot = h('span', { class: 'live-dot wait', 'aria-hidden': 'true' });
  const text = h('span', {}, 'connecting');
  return {
    el: h('span', { class: 'small muted' }, dot, 'Live updates: ', text),
    set(status) {
      dot.className = 'live-dot ' + (status === 'open' ? 'on' : 'wait');
      text.textContent = status === 'open' ? 'on' : status;
    },
  };
}

// ---- the list -------------------------------------------------------------

export function mountScripts(root) {
  const live = liveStatus();
  const msg = h('p', { class: 'msg', role: 'status' });
  const count = h('span', { class: 'small muted' });
  const body = h('tbody');
  const nameIn = h('input', {
    id: 'new-name', type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none',
    maxlength: '64', placeholder: 'e.g. night_restart', 'aria-describedby': 'new-help new-err',
  });
  const nameErr = h('p', { class: 'err', id: 'new-err' });
  const create = h('button', { type: 'submit', class: 'primary' }, 'New script');
  const form = h('form', { class: 'new-script', novalidate: true, 'aria-label': 'New script' },
    h('label', { for: 'new-name' }, 'Name of a new script'),
    h('div', { class: 'inline-row' }, nameIn, create),
    h('p', { class: 'help', id: 'new-help' },
      `${NAME_RULE}. You write it on the next page; it is stored disabled until you enable it.`),
    nameErr);
  fill(root,
    h('div', { class: 'page-head' }, h('h1', {}, 'Scripts'), live.el),
    h('p', { class: 'muted' }, 'Lua scripts that run inside the engine and act on its events '
      + '(the oa API is described in docs/lua.md). The examples the engine ships arrive disabled.'),
    msg,
    h('div', { class: 'table-wrap' },
      h('table', { class: 'script-table', id: 'script-list' },
        h('caption', { class: 'visually-hidden' }, 'Scripts, by name'),
        h('thead', {}, h('tr', {},
          ['Name', 'Enabled', 'Running', 'Failures', 'Last error'].map((t) =>
            h('th', { scope: 'col', class: t === 'Failures' ? 'num' : null }, t)))),
        body)),
    h('div', { class: 'list-foot' }, count),
    h('section', { class: 'panel' }, form));

  if (flash) {
    tell(msg, 'ok', flash);
    flash = null;
  }

  let names = new Set();
  let shown = '';

  function row(s) {
    const err = s.last_error ? String(s.last_error) : '';
    return h('tr', { 'data-script': s.name },
      h('td', { class: 'name' }, h('a', { href: '/admin/scripts/' + enc(s.name) }, s.name)),
      h('td', { class: 'state' }, enabledBadge(s)),
      h('td', { class: 'state' }, runningBadge(s)),
      h('td', { class: 'num', 'data-label': 'Failures' }, String(s.failures || 0)),
      h('td', { class: 'msgcol' + (err ? '' : ' none'), title: err || null },
        err ? err.split('\n')[0] : h('span', { class: 'muted' }, '—')));
  }

  async function load() {
    let data;
    try {
      data = await get('/api/scripts');
    } catch (e) {
      tell(msg, 'error', e.message);
      return;
    }
    if (msg.classList.contains('error')) {
      tell(msg, '');
    }
    const list = data.scripts || [];
    names = new Set(list.map((s) => s.name));
    const json = JSON.stringify(list);
    if (json === shown) {
      return; // unchanged: keep the rows (and the focus on a link)
    }
    shown = json;
    fill(body, list.length ? list.map(row)
      : h('tr', {}, h('td', { colspan: '5', class: 'empty' }, 'No scripts yet. Name a new one below.')));
    const running = list.filter((s) => s.running).length;
    count.textContent = `${list.length} script${list.length === 1 ? '' : 's'}, ${running} running`;
  }

  function setNameError(text) {
    nameErr.textContent = text;
    if (text) {
      nameIn.setAttribute('aria-invalid', 'true');
    } else {
      nameIn.removeAttribute('aria-invalid');
    }
  }

  nameIn.addEventListener('input', () => setNameError(''));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = nameIn.value.trim();
    let problem = '';
    if (!v) {
      problem = 'Enter a name for the new script.';
    } else if (!NAME_RE.test(v)) {
      const near = v.toLowerCase().replace(/[^a-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '');
      problem = v.length > 64 ? 'That name is too long: names have at most 64 characters.'
        : `"${v}" is not a valid name: use ${NAME_RULE}`
          + (NAME_RE.test(near) ? `, such as ${near}.` : '.');
    } else if (names.has(v)) {
      problem = `There is already a script named ${v}; open it from the list.`;
    }
    if (problem) {
      setNameError(problem);
      nameIn.focus();
      return;
    }
    navigate('/admin/scripts/' + enc(v));
  });

  const reloadSoon = debounce(load, 250);
  load();
  const stopPoll = every(10000, load);
  const stopLive = subscribe('script.*', () => reloadSoon(), (status) => {
    live.set(status);
    if (status === 'open') {
      reloadSoon(); // catch up on anything missed while away
    }
  });
  return () => {
    stopPoll();
    stopLive();
    reloadSoon.cancel();
  };
}

// ---- one script -------------------------------------------------------------

function template(name) {
  return `-- ${name}: what this script does, in one sentence.\n\noa.log.info("${name} started")\n`;
}

export function mountScript(root, [name]) {
  const back = h('p', { class: 'small' }, h('a', { href: '/admin/scripts' }, '← All scripts'));
  if (!NAME_RE.test(name)) {
    fill(root, back, h('h1', {}, 'No such script'),
      h('p', { class: 'msg error' }, `"${name}" is not a script name: names are ${NAME_RULE}.`));
    return null;
  }
  const tpl = template(name);
  const live = liveStatus();

  // The head: state, last error, Enable / Disable, Delete.
  const stateLine = h('p', { class: 'state-line' });
  const badges = h('div', { class: 'badges' });
  const lastErr = h('div', { class: 'last-error hidden' });
  const actions = h('div', { class: 'actions' });
  const actMsg = h('div', { class: 'msg', role: 'status', 'aria-live': 'polite', id: 'script-msg' });
  const head = h('section', { class: 'panel script-head', 'aria-label': 'State' },
    badges, stateLine, lastErr, actions, actMsg);

  // The editor.
  const saveMsg = h('div', { class: 'msg', role: 'status', 'aria-live': 'polite', id: 'save-msg' });
  const staleNote = h('p', { class: 'msg info hidden' },
    'The stored source changed elsewhere since you started editing; Save replaces it with yours.');
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save');
  const revert = h('button', { type: 'button' }, 'Undo changes');
  const dirtyNote = h('span', { class: 'small muted', id: 'dirty-note' });
  const ed = codeEditor({
    id: 'script-source', labelledby: 'source-h', describedby: 'source-help save-msg',
    onSave: () => form.requestSubmit(),
  });
  const form = h('form', { class: 'panel', novalidate: true, 'aria-labelledby': 'source-h' },
    h('div', { class: 'section-head' }, h('h2', { id: 'source-h' }, 'Source'), ed.where),
    ed.el,
    h('p', { class: 'help small muted', id: 'source-help' },
      'Tab indents by two spaces, Shift+Tab outdents; Esc then Tab moves on. Ctrl+S saves.'),
    staleNote,
    h('div', { class: 'form-actions' }, save, revert, dirtyNote),
    saveMsg);

  // The log.
  const logBody = h('tbody');
  const logWrap = h('div', { class: 'table-wrap script-log' },
    h('table', { class: 'log-table' },
      h('caption', { class: 'visually-hidden' }, 'The script\'s log lines, oldest first'),
      h('thead', {}, h('tr', {},
        h('th', { class: 'nowrap', scope: 'col' }, 'Time'),
        h('th', { scope: 'col' }, 'Level'),
        h('th', { scope: 'col' }, 'Message'))),
      logBody));
  const logSec = h('section', { class: 'panel', 'aria-labelledby': 'log-h' },
    h('div', { class: 'section-head' }, h('h2', { id: 'log-h' }, 'Recent log'),
      h('span', { class: 'small muted' }, `Tag lua:${name}; the newest 100 lines, newest last`)),
    logWrap);

  fill(root, back,
    h('div', { class: 'page-head' }, h('h1', { class: 'mono-title' }, name), live.el),
    head, form, logSec);

  let script = null; // the stored script as last read; null: not stored
  let loaded = false;
  let base = tpl; // what the editor holds when it has no unsaved change
  let acting = false; // an action owns the head's buttons
  let confirming = false;
  let gen = 0; // answers to reads made before a change are dropped
  let logKey = '';
  let readFailed = false; // actMsg shows that the last read failed

  const isDirty = () => ed.value() !== base;

  function updateDirty() {
    const dirty = isDirty();
    dirtyNote.textContent = !script ? 'Not saved yet' : dirty ? 'Unsaved changes' : '';
    revert.disabled = !dirty;
  }
  ed.onChange = updateDirty;

  function showLine(line, kind) {
    ed.mark(line, kind);
    ed.goTo(line);
  }

  let stateKey = null;
  let actionsKey = null;

  function renderState() {
    const key = JSON.stringify(script && [script.enabled, script.running, script.failures, script.last_error]);
    if (key === stateKey) {
      return; // unchanged: keep the elements (and the focus on them)
    }
    stateKey = key;
    if (!script) {
      fill(badges, badge('new', 'not saved yet'));
      stateLine.textContent = `There is no script named ${name} yet. Write it below and press Save: `
        + 'a new script is stored disabled, and Enable runs it.';
      lastErr.classList.add('hidden');
      return;
    }
    const s = script;
    const n = s.failures || 0;
    fill(badges, enabledBadge(s), runningBadge(s),
      n ? h('span', { class: 'small' }, `${n} failure${n === 1 ? '' : 's'} in a row`) : null);
    if (s.running) {
      stateLine.textContent = n ? `Running; its last ${n === 1 ? 'callback' : n + ' callbacks'} failed.`
        : 'Running.';
    } else if (s.enabled) {
      stateLine.textContent = 'Enabled, but not running: it did not load. The last error says why.';
    } else {
      stateLine.textContent = 'Disabled: stored, not running. Enable runs the saved source.';
    }
    if (s.last_error) {
      const line = errorLine(s.last_error);
      fill(lastErr,
        h('div', { class: 'last-error-head' },
          h('strong', {}, line ? `Last error, line ${line}` : 'Last error'),
          line ? h('button', { type: 'button', class: 'link-button', onclick: () => showLine(line, 'warn') },
            `Show line ${line}`) : null),
        h('pre', {}, s.last_error));
      lastErr.classList.remove('hidden');
    } else {
      lastErr.classList.add('hidden');
    }
  }

  function renderActions() {
    if (acting) {
      return;
    }
    const key = JSON.stringify(script && [script.enabled, confirming]);
    if (key === actionsKey) {
      return;
    }
    actionsKey = key;
    if (!script) {
      fill(actions);
      return;
    }
    if (confirming) {
      const yes = h('button', { type: 'button', class: 'danger' }, 'Yes, delete');
      const no = h('button', { type: 'button' }, 'Cancel');
      yes.addEventListener('click', () => remove(yes, [yes, no]));
      no.addEventListener('click', () => {
        confirming = false;
        renderActions();
        actions.querySelector('[data-action="delete"]').focus();
      });
      fill(actions, h('p', { class: 'confirm' },
        `Delete ${name} for good? It stops, and its source is gone.`), yes, no);
      return;
    }
    const action = script.enabled ? 'disable' : 'enable';
    const toggle = h('button', { type: 'button', 'data-action': action,
      'aria-label': `${script.enabled ? 'Disable' : 'Enable'} ${name}` },
    script.enabled ? 'Disable' : 'Enable');
    const delBtn = h('button', { type: 'button', class: 'danger', 'data-action': 'delete',
      'aria-label': `Delete ${name}` }, 'Delete');
    toggle.addEventListener('click', () => toggleEnabled(toggle, [toggle, delBtn], action));
    delBtn.addEventListener('click', () => {
      confirming = true;
      tell(actMsg, '');
      renderActions();
      actions.querySelector('button:last-child').focus(); // Cancel
    });
    fill(actions, toggle, delBtn);
  }

  function renderLog(lines) {
    const key = lines.length + ':' + (lines.length ? lines[lines.length - 1].seq : 0);
    if (key === logKey) {
      return;
    }
    logKey = key;
    const stick = logWrap.scrollHeight - logWrap.scrollTop - logWrap.clientHeight < 40;
    fill(logBody, lines.length ? lines.map((l) => h('tr', { class: 'line' },
      h('td', { class: 'nowrap mono', title: l.time }, fmtTime(l.time, true)),
      h('td', {}, badge(l.level)),
      h('td', { class: 'msgcol' }, l.msg)))
      : h('tr', {}, h('td', { colspan: '3', class: 'empty' }, 'Nothing logged yet.')));
    if (stick) {
      logWrap.scrollTop = logWrap.scrollHeight;
    }
  }

  // Takes in the stored script (or null): the head, the log, and the
  // editor when it holds no unsaved change.
  function apply(s) {
    const wasDirty = isDirty();
    const wasStored = script !== null;
    script = s;
    if (s && !wasDirty && s.source !== ed.value()) {
      ed.setValue(s.source);
      ed.unmark();
      base = s.source;
    } else if (s && !wasDirty) {
      base = s.source;
    }
    staleNote.classList.toggle('hidden', !(s && wasDirty && s.source !== base));
    if (wasStored && !s && !acting) {
      tell(actMsg, 'info', `${name} is no longer stored (deleted elsewhere?). Save stores it again.`);
    }
    renderState();
    renderActions();
    renderLog(s ? s.log || [] : []);
    updateDirty();
  }

  async function load() {
    const my = gen;
    let s = null;
    try {
      s = await get('/api/scripts/' + enc(name));
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) {
        if (my === gen && !acting) {
          tell(actMsg, 'error', e.message);
          readFailed = true;
        }
        return;
      }
    }
    if (my !== gen) {
      return;
    }
    if (readFailed && !acting) {
      tell(actMsg, ''); // the engine answers again
    }
    readFailed = false;
    if (!loaded) {
      loaded = true;
      ed.setValue(s ? s.source : tpl);
      base = ed.value();
    }
    apply(s);
  }

  async function toggleEnabled(button, group, action) {
    acting = true;
    gen++;
    tell(actMsg, '');
    readFailed = false;
    let res = null;
    try {
      res = await busy(button, action === 'enable' ? 'Enabling…' : 'Disabling…',
        () => post(`/api/scripts/${enc(name)}/${action}`), group);
    } catch (e) {
      if (e instanceof ApiError && e.status === 400 && e.code === 'invalid_value') {
        // The saved source did not load; mark the line when the editor
        // shows that source.
        const same = script && ed.value() === script.source;
        tell(actMsg, 'error', errorParts(name, e.message, e.line, 'Not enabled',
          `${name} stays disabled${same ? '' : ' (the error is in the saved source, not in your unsaved changes)'}.`,
          same ? (line) => showLine(line, 'error') : null));
        if (e.line && same) {
          ed.mark(e.line, 'error');
        }
      } else {
        tell(actMsg, 'error', e.message);
      }
    } finally {
      acting = false;
      actionsKey = null;
      gen++;
    }
    if (res && res.script) {
      const s = res.script;
      tell(actMsg, 'ok', action === 'enable'
        ? `Enabled: ${name} is ${s.running ? 'running' : 'stored enabled'}.`
          + (isDirty() ? ' It runs the saved source, without your unsaved changes.' : '')
        : `Disabled: ${name} is stopped and stays off across restarts.`);
      apply(s);
    } else {
      renderActions();
      refreshSoon(); // the last error and log say more now
    }
  }

  async function remove(button, group) {
    acting = true;
    gen++;
    try {
      await busy(button, 'Deleting…', () => del('/api/scripts/' + enc(name)), group);
    } catch (e) {
      acting = false;
      confirming = false;
      actionsKey = null;
      tell(actMsg, 'error', e.message);
      renderActions();
      return;
    }
    flash = `Deleted ${name}.`;
    navigate('/admin/scripts');
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (save.disabled) {
      return; // Ctrl+S while a save runs
    }
    const source = ed.value();
    const creating = !script;
    const wasRunning = script && script.running;
    const body = { source };
    if (creating) {
      body.enabled = false; // nothing new runs before someone enables it
    }
    tell(saveMsg, '');
    gen++;
    let res;
    try {
      res = await busy(save, 'Saving…', () => put('/api/scripts/' + enc(name), body), [save, revert]);
    } catch (err) {
      gen++;
      if (err instanceof ApiError && err.status === 400 && err.code === 'invalid_value') {
        let consequence = 'Nothing was stored.';
        if (wasRunning) {
          consequence = `Nothing was saved: ${name} keeps running the version it had.`;
        } else if (!creating) {
          consequence = 'Nothing was saved: the stored version is unchanged.';
        }
        tell(saveMsg, 'error', errorParts(name, err.message, err.line, 'Not saved', consequence,
          (line) => showLine(line, 'error')));
        if (err.line) {
          showLine(err.line, 'error');
        } else {
          ed.unmark();
        }
      } else {
        tell(saveMsg, 'error', err.message);
      }
      updateDirty();
      return;
    }
    gen++;
    const s = res.script;
    base = source;
    ed.unmark();
    if (creating) {
      tell(saveMsg, 'ok', `Saved ${name}. It is disabled: Enable runs it.`);
    } else if (s && s.running) {
      tell(saveMsg, 'ok', `Saved. ${name} was reloaded and runs the new version.`);
    } else {
      tell(saveMsg, 'ok', `Saved. ${name} is disabled; Enable runs it.`);
    }
    if (s) {
      apply(s);
    } else {
      refreshSoon();
    }
  });

  revert.addEventListener('click', () => {
    ed.setValue(base);
    ed.unmark();
    tell(saveMsg, '');
    staleNote.classList.add('hidden');
    updateDirty();
    ed.ta.focus();
  });

  // Leaving the browser tab with unsaved changes asks first.
  const onBeforeUnload = (e) => {
    if (isDirty()) {
      e.preventDefault();
      e.returnValue = '';
    }
  };
  window.addEventListener('beforeunload', onBeforeUnload);

  const refreshSoon = debounce(load, 250);
  renderState();
  updateDirty();
  load();
  const stopPoll = every(8000, load);
  const stopLive = subscribe('script.*', (topic, data) => {
    if (topic === 'dropped' || (data && data.script === name)) {
      if (topic === 'script.error' && script && data) {
        script = { ...script, failures: data.failures, last_error: data.error };
        renderState();
      }
      refreshSoon();
    }
  }, (status) => {
    live.set(status);
    if (status === 'open' && loaded) {
      refreshSoon();
    }
  });

  return () => {
    stopPoll();
    stopLive();
    refreshSoon.cancel();
    window.removeEventListener('beforeunload', onBeforeUnload);
  };
}
