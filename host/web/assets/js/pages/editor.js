// A plain-text code editor: a monospace textarea with line numbers beside
// it. Tab indents (Shift+Tab outdents), Enter keeps the line's indent,
// Escape then Tab leaves the editor (so the keyboard is never trapped), and
// one line can be marked, in the gutter and as a band behind its text, for
// an error. No external editor library: the text stays in a <textarea>, so
// the browser's own undo, selection, find and accessibility keep working.

import { h } from '../dom.js';

const INDENT = '  ';

// codeEditor({id, labelledby, describedby, minRows, maxRows, onSave}) -> {el, ta,
// value(), setValue(text), mark(line, kind), unmark(), goTo(line), onChange}.
// onSave: called for Ctrl+S / Cmd+S. onChange: set by the caller, called
// after every edit.
export function codeEditor(opts = {}) {
  const ta = h('textarea', {
    id: opts.id, class: 'code', wrap: 'off', spellcheck: 'false', autocomplete: 'off',
    autocapitalize: 'off', autocorrect: 'off', rows: String(opts.minRows || 10),
    'aria-labelledby': opts.labelledby, 'aria-describedby': opts.describedby,
  });
  const nums = h('div', { class: 'gutter-nums' });
  const band = h('div', { class: 'line-band hidden', 'aria-hidden': 'true' });
  const where = h('span', { class: 'where small muted', 'aria-live': 'off' });
  const el = h('div', { class: 'editor' },
    h('div', { class: 'gutter', 'aria-hidden': 'true' }, nums),
    h('div', { class: 'editor-text' }, band, ta));
  const ed = { el, ta, where, onChange: null };
  let marked = 0;
  let markKind = '';
  let escaped = false;

  function lineCount() {
    let n = 1;
    for (let i = ta.value.indexOf('\n'); i >= 0; i = ta.value.indexOf('\n', i + 1)) {
      n++;
    }
    return n;
  }

  function metrics() {
    const cs = getComputedStyle(ta);
    return { lh: parseFloat(cs.lineHeight) || 20, top: parseFloat(cs.paddingTop) || 0 };
  }

  function renumber() {
    const n = lineCount();
    while (nums.childElementCount < n) {
      nums.appendChild(h('div', {}, String(nums.childElementCount + 1)));
    }
    while (nums.childElementCount > n) {
      nums.removeChild(nums.lastChild);
    }
    Array.from(nums.querySelectorAll('.mark')).forEach((d) => { d.className = ''; });
    if (marked > 0 && marked <= n) {
      nums.children[marked - 1].className = 'mark ' + markKind;
    }
    sync();
  }

  // Keeps the numbers and the band level with the text as it scrolls.
  function sync() {
    nums.style.transform = `translateY(${-ta.scrollTop}px)`;
    if (marked > 0 && marked <= lineCount()) {
      const { lh, top } = metrics();
      band.style.top = `${top + (marked - 1) * lh - ta.scrollTop}px`;
      band.style.height = `${lh}px`;
      band.className = 'line-band ' + markKind;
    } else {
      band.className = 'line-band hidden';
    }
  }

  function lineStart(pos) {
    return ta.value.lastIndexOf('\n', pos - 1) + 1;
  }

  function showWhere() {
    const pos = ta.selectionStart;
    const before = ta.value.slice(0, pos);
    const line = before.split('\n').length;
    where.textContent = `Line ${line}, column ${pos - lineStart(pos) + 1}`;
  }

  // Replaces the selection with text the way typing would, so that the
  // browser's undo still works (execCommand keeps the undo stack; the
  // fallback does not).
  function insert(text) {
    if (!document.execCommand('insertText', false, text)) {
      ta.setRangeText(text, ta.selectionStart, ta.selectionEnd, 'end');
      ta.dispatchEvent(new Event('input', { bubbles: true }));
    }
  }

  // Tab: indents the selected lines, or inserts spaces up to the next stop.
  // Shift+Tab: outdents the selected lines (or the caret's line).
  function indent(out) {
    const v = ta.value;
    const s = ta.selectionStart;
    let e = ta.selectionEnd;
    const multi = v.slice(s, e).includes('\n');
    if (!out && !multi) {
      const col = s - lineStart(s);
      insert(' '.repeat(INDENT.length - (col % INDENT.length)));
      return;
    }
    if (e > s && v[e - 1] === '\n') {
      e--; // a selection ending at a line start does not take that line
    }
    const from = lineStart(s);
    let to = v.indexOf('\n', e);
    if (to < 0) {
      to = v.length;
    }
    const lines = v.slice(from, to).split('\n');
    const changed = lines.map((l) => {
      if (!out) {
        return l === '' ? l : INDENT + l;
      }
      let k = 0;
      while (k < INDENT.length && l[k] === ' ') {
        k++;
      }
      return l.slice(k);
    }).join('\n');
    if (changed === v.slice(from, to)) {
      return;
    }
    ta.setSelectionRange(from, to);
    insert(changed);
    if (multi) {
      ta.setSelectionRange(from, from + changed.length);
    } else {
      const shift = (to - from) - changed.length; // what came off this line
      const pos = Math.max(from, s - shift);
      ta.setSelectionRange(pos, pos);
    }
  }

  ta.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      escaped = true;
      return;
    }
    if (e.key === 'Shift') {
      return;
    }
    const was = escaped;
    escaped = false;
    if (e.key === 'Tab' && !was && !e.ctrlKey && !e.altKey && !e.metaKey) {
      e.preventDefault();
      indent(e.shiftKey);
    } else if (e.key === 'Enter' && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey
      && !e.isComposing) {
      const s = ta.selectionStart;
      const lead = /^[ \t]*/.exec(ta.value.slice(lineStart(s), s))[0];
      if (lead) {
        e.preventDefault();
        insert('\n' + lead);
      }
    } else if ((e.ctrlKey || e.metaKey) && !e.altKey && (e.key === 's' || e.key === 'S')) {
      e.preventDefault();
      if (opts.onSave) {
        opts.onSave();
      }
    }
  });
  ta.addEventListener('blur', () => { escaped = false; });
  ta.addEventListener('input', () => {
    renumber();
    showWhere();
    if (ed.onChange) {
      ed.onChange();
    }
  });
  ta.addEventListener('scroll', sync);
  for (const ev of ['keyup', 'click', 'select', 'focus']) {
    ta.addEventListener(ev, showWhere);
  }
  // The textarea can be resized; the numbers follow its height by
  // themselves, but the band must be placed again.
  if (typeof ResizeObserver === 'function') {
    new ResizeObserver(() => sync()).observe(ta);
  }

  ed.value = () => ta.value;
  // Replaces the text (the caret goes to the start) and sizes the box to
  // it: two spare lines, between minRows and maxRows.
  ed.setValue = (text) => {
    ta.value = text;
    ta.rows = Math.min(Math.max(lineCount() + 2, opts.minRows || 10), opts.maxRows || 28);
    ta.setSelectionRange(0, 0);
    ta.scrollTop = 0;
    renumber();
    showWhere();
  };
  // Marks line (1-based) as kind ('error' or 'warn'); 0 or less unmarks.
  ed.mark = (line, kind = 'error') => {
    marked = line > 0 ? line : 0;
    markKind = kind;
    renumber();
  };
  ed.unmark = () => ed.mark(0);
  ed.marked = () => marked;
  // Puts the caret at the start of line and scrolls it into the middle.
  ed.goTo = (line) => {
    const lines = ta.value.split('\n');
    const n = Math.min(Math.max(1, line), lines.length);
    let pos = 0;
    for (let i = 0; i < n - 1; i++) {
      pos += lines[i].length + 1;
    }
    el.scrollIntoView({ block: 'nearest' });
    ta.focus({ preventScroll: true });
    ta.setSelectionRange(pos, pos);
    const { lh } = metrics();
    ta.scrollTop = Math.max(0, (n - 1) * lh - ta.clientHeight / 2 + lh);
    ta.scrollLeft = 0;
    sync();
    showWhere();
  };
  renumber();
  return ed;
}
