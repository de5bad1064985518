// A plugin's settings form, generated from its schema
// (GET /api/plugins/{name}/config): bool -> checkbox, int/double -> number
// with min/max, string with choices -> select, other strings -> text, secret
// -> password. Save sends the changed values in one PUT; the engine checks
// them all first and either stores all or none, answering a refusal with one
// sentence per field, which appears under that field.

import { ApiError, enc, get, put } from '../api.js';
import { busy, fill, h, say } from '../dom.js';

const TRUE = new Set(['true', '1', 'yes', 'on']);

function asBool(v) {
  return v === true || TRUE.has(String(v).toLowerCase());
}

function kindOf(s) {
  if (s.secret) {
    return 'secret';
  }
  if (s.type === 'bool') {
    return 'bool';
  }
  if (s.type === 'int' || s.type === 'double') {
    return 'number';
  }
  if (Array.isArray(s.choices) && s.choices.length > 0) {
    return 'choice';
  }
  return 'text';
}

function describe(s) {
  const bits = [];
  if (s.type === 'bool') {
    bits.push(`Default: ${asBool(s.default) ? 'on' : 'off'}.`);
  } else if (!s.secret && s.default !== undefined && s.default !== null) {
    bits.push(s.default === '' ? 'Default: empty.' : `Default: ${s.default}.`);
  }
  if (s.max_length !== undefined) {
    bits.push(`At most ${s.max_length} characters.`);
  }
  if ((s.type === 'int' || s.type === 'double') && (s.min !== undefined || s.max !== undefined)) {
    if (s.min !== undefined && s.max !== undefined) {
      bits.push(`From ${s.min} to ${s.max}.`);
    } else if (s.min !== undefined) {
      bits.push(`At least ${s.min}.`);
    } else {
      bits.push(`At most ${s.max}.`);
    }
  }
  bits.push(s.live ? 'Applies at once.' : 'Saving restarts the plugin.');
  return bits.join(' ');
}

// Builds one field; returns {key, el, input, err, read(), reset()}.
function field(s, i) {
  const id = 'set-' + i;
  const kind = kindOf(s);
  const helpId = id + '-help';
  const errId = id + '-err';
  const common = { id, name: s.key, 'aria-describedby': `${helpId} ${errId}` };
  let input;
  if (kind === 'bool') {
    input = h('input', { ...common, type: 'checkbox' });
  } else if (kind === 'number') {
    input = h('input', {
      ...common, type: 'number', inputmode: s.type === 'int' ? 'numeric' : 'decimal',
      step: s.type === 'int' ? '1' : 'any', min: s.min, max: s.max,
    });
  } else if (kind === 'choice') {
    const choices = s.choices.slice();
    if (s.value !== undefined && !choices.includes(s.value)) {
      choices.unshift(s.value); // show a stored value the schema no longer lists
    }
    input = h('select', common, choices.map((c) => h('option', { value: c }, c)));
  } else if (kind === 'secret') {
    input = h('input', {
      ...common, type: 'password', autocomplete: 'new-password',
      placeholder: s.value ? 'unchanged' : 'not set',
    });
  } else {
    input = h('input', {
      ...common, type: 'text', spellcheck: 'false', autocomplete: 'off', maxlength: s.max_length,
    });
  }
  const err = h('p', { class: 'err', id: errId });
  const help = h('p', { class: 'help', id: helpId },
    s.help ? s.help + ' ' : '', h('span', { class: 'muted' }, describe(s)));
  const label = kind === 'bool'
    ? h('label', { class: 'check', for: id }, input, h('span', { class: 'mono' }, s.key))
    : h('label', { for: id, class: 'mono' }, s.key);
  const el = h('div', { class: 'field', 'data-key': s.key },
    label, kind === 'bool' ? null : input, help, err);

  const f = {
    key: s.key, el, input, err,
    reset() {
      if (kind === 'bool') {
        input.checked = asBool(s.value);
      } else if (kind === 'secret') {
        input.value = '';
      } else {
        input.value = s.value === null || s.value === undefined ? '' : String(s.value);
      }
      f.setError('');
    },
    // {changed, value} or {error} for what the browser could not read.
    read() {
      if (kind === 'bool') {
        return { changed: input.checked !== asBool(s.value), value: input.checked };
      }
      if (kind === 'number' && input.validity.badInput) {
        return { error: 'Enter a number.' };
      }
      if (kind === 'secret') {
        return { changed: input.value !== '', value: input.value };
      }
      const v = input.value;
      return { changed: v !== String(s.value ?? ''), value: v };
    },
    setError(text) {
      err.textContent = text || '';
      if (text) {
        input.setAttribute('aria-invalid', 'true');
      } else {
        input.removeAttribute('aria-invalid');
      }
    },
  };
  f.reset();
  return f;
}

// Fills section with the settings form of plugin name.
export async function settingsForm(section, name) {
  const head = h('h2', { id: 'settings-h' }, 'Settings');
  let data;
  try {
    data = await get(`/api/plugins/${enc(name)}/config`);
  } catch (e) {
    fill(section, head, h('p', { class: 'msg error' }, e.message));
    return;
  }
  render(section, head, name, data.settings || [], null);
}

function render(section, head, name, settings, note) {
  if (settings.length === 0) {
    fill(section, head, h('p', { class: 'muted' }, 'This plugin has no settings.'));
    return;
  }
  const fields = settings.map(field);
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save');
  const reset = h('button', { type: 'button' }, 'Undo changes');
  const msg = h('p', { class: 'msg', role: 'status', 'aria-live': 'polite', id: 'settings-msg' });
  const form = h('form', { novalidate: true, 'aria-labelledby': 'settings-h' },
    fields.map((f) => f.el),
    h('div', { class: 'form-actions' }, save, reset),
    msg);
  if (note) {
    say(msg, note[0], note[1]);
  }
  reset.addEventListener('click', () => {
    fields.forEach((f) => f.reset());
    say(msg, '', '');
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const values = {};
    let bad = null;
    for (const f of fields) {
      const r = f.read();
      f.setError(r.error || '');
      if (r.error) {
        bad = bad || f;
      } else if (r.changed) {
        values[f.key] = r.value;
      }
    }
    if (bad) {
      say(msg, 'error', 'Nothing was saved. Fix the marked settings.');
      bad.input.focus();
      return;
    }
    if (Object.keys(values).length === 0) {
      say(msg, 'info', 'No changes to save.');
      return;
    }
    say(msg, '', '');
    let res;
    try {
      res = await busy(save, 'Saving…', () => put(`/api/plugins/${enc(name)}/config`, { values }), [save, reset]);
    } catch (err) {
      showError(err, fields, msg);
      return;
    }
    render(section, head, name, res.settings || settings, ['ok', res.message || 'Saved.']);
  });
  fill(section, head, form);
}

function showError(err, fields, msg) {
  if (!(err instanceof ApiError) || !err.fields) {
    say(msg, 'error', err.message || String(err));
    return;
  }
  let first = null;
  const other = [];
  for (const [key, text] of Object.entries(err.fields)) {
    const f = fields.find((x) => x.key === key);
    if (f) {
      f.setError(text);
      first = first || f;
    } else {
      other.push(text);
    }
  }
  say(msg, 'error', ['Nothing was saved. Fix the marked settings.', ...other].join(' '));
  if (first) {
    first.input.focus();
  }
}
