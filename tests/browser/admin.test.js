// The admin UI in a real browser: Debian's Chromium driven by playwright-core
// against the real engine (build/bin/openace) and the example-echo plugin.
//
//   OA_BUILD_DIR=build node --test tests/browser/admin.test.js
//
// Needs: chromium (apt), `npm ci` in tests/browser. OA_CHROMIUM overrides the
// browser path. Screenshots go to <build>/tests/artifacts/.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch (e) {
  throw new Error('playwright-core is missing: run `npm ci --prefix tests/browser` ('
    + e.message + ')');
}

const BUILD = path.resolve(process.env.OA_BUILD_DIR || path.join(__dirname, '..', '..', 'build'));
const ENGINE = path.join(BUILD, 'bin', 'openace');
const PLUGINS = path.join(BUILD, 'tests', 'echo-plugins');
const ARTIFACTS = path.join(BUILD, 'tests', 'artifacts');
const CHROMIUM = process.env.OA_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync'];
const PLUGIN = 'example-echo';
// The script the Scripts tests write: its main chunk logs a line, so the
// page's log shows it as soon as the script loads. BROKEN fails to compile
// at line 4, LATE_BROKEN at line 6.
const SCRIPT = 'hello';
const GOOD = [
  '-- hello: says hello, then counts the minutes it has been running.',
  'oa.log.info("hello from lua")',
  '',
  'local minutes = 0',
  'oa.every(60 * 1000, function()',
  '  minutes = minutes + 1',
  '  oa.log.info(string.format("up for %d minutes", minutes))',
  'end)',
  ''].join('\n');
const BROKEN = GOOD.replace('local minutes = 0', 'local minutes = = 0');
const LATE_BROKEN = GOOD.replace('minutes = minutes + 1', 'minutes == minutes + 1');

let engine = null;
let engineLog = '';
let dataDir = '';
let profileDir = '';
let base = '';
let password = '';
let context = null;
let page = null;
const pageErrors = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Waits until fn() returns a truthy value; throws with what to look at.
async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) {
      return v;
    }
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}\n--- engine log ---\n${engineLog}`);
    }
    await sleep(100);
  }
}

async function startEngine() {
  const port = await freePort();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oa-browser-data-'));
  base = `http://127.0.0.1:${port}`;
  engine = spawn(ENGINE, ['--data', dataDir, '--plugins', PLUGINS, '--http', `127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const collect = (b) => { engineLog += b.toString(); };
  engine.stdout.on('data', collect);
  engine.stderr.on('data', collect);
  engine.on('exit', (code, sig) => { engineLog += `\n[engine exited: ${code ?? sig}]\n`; });
  // The engine prints the first admin password once, at WARN, on first start.
  password = await until('the admin password in the engine log', () => {
    const m = /user '?admin'? with password ['"]?([^\s'"]+)/i.exec(engineLog);
    return m && m[1];
  });
  await until('the engine to serve /login', async () => {
    try {
      return (await fetch(base + '/login')).status === 200;
    } catch (e) {
      return false;
    }
  });
}

// Stops the engine with SIGTERM (SIGKILL after 20 s); returns its exit code,
// or the signal's name when a signal ended it.
async function stopEngine() {
  if (!engine) {
    return null;
  }
  if (engine.exitCode !== null || engine.signalCode !== null) {
    return engine.exitCode ?? engine.signalCode;
  }
  const exited = new Promise((r) => engine.once('exit', (code, sig) => r(code ?? sig)));
  engine.kill('SIGTERM');
  const t = setTimeout(() => engine.kill('SIGKILL'), 20000);
  const status = await exited;
  clearTimeout(t);
  return status;
}

// Saves a screenshot: of one element (a locator), or of the top of the
// page down to `height` pixels.
async function shot(name, what = 720) {
  const file = path.join(ARTIFACTS, name + '.png');
  if (typeof what === 'number') {
    const { width } = page.viewportSize();
    await page.screenshot({ path: file, clip: { x: 0, y: 0, width, height: what } });
  } else {
    await what.screenshot({ path: file });
  }
}

// The engine's view, asked directly with the browser's own session.
async function apiGet(p) {
  const res = await page.request.get(base + p);
  assert.equal(res.status(), 200, `GET ${p}: ${await res.text()}`);
  return res.json();
}

// The status of GET p (for checking that something is not there).
async function apiStatus(p) {
  return (await page.request.get(base + p)).status();
}

async function apiPost(p) {
  const { csrf } = await apiGet('/api/session');
  const res = await page.request.post(base + p, { headers: { 'X-CSRF-Token': csrf } });
  assert.equal(res.status(), 200, `POST ${p}: ${await res.text()}`);
  return res.json();
}

const card = () => page.locator(`article[data-plugin="${PLUGIN}"]`);
const scriptHead = () => page.locator('section.script-head');
const source = () => page.locator('#script-source');

async function waitState(state, timeout = 10000) {
  await card().locator('.state', { hasText: new RegExp(`^${state}$`) }).waitFor({ timeout });
}

async function settingValue(key) {
  const cfg = await apiGet(`/api/plugins/${PLUGIN}/config`);
  return cfg.settings.find((s) => s.key === key).value;
}

before(async () => {
  assert.ok(fs.existsSync(ENGINE), `no engine at ${ENGINE}; build first`);
  assert.ok(fs.existsSync(CHROMIUM), `no browser at ${CHROMIUM}; apt-get install chromium`);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await startEngine();
  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oa-browser-profile-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1100, height: 720 },
  });
  page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

after(async () => {
  if (context) {
    await context.close();
  }
  await stopEngine();
  for (const d of [profileDir, dataDir]) {
    if (d) {
      fs.rmSync(d, { recursive: true, force: true });
    }
  }
});

test('admin UI', { timeout: 240000 }, async (t) => {
  await t.test('a browser without a session lands on the login page', async () => {
    const res = await page.goto(base + '/');
    await page.waitForURL(/\/login(\?|$)/, { timeout: 5000 }).catch(() => {});
    assert.match(page.url(), /\/login(\?|$)/,
      `opening / ended at ${page.url()} (status ${res && res.status()}), not at /login`);
  });

  await t.test('logs in through the form', async () => {
    await page.goto(base + '/login');
    await page.getByLabel('User').fill('admin');
    await shot('login', page.locator('form.login'));
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Wrong user name or password' }).waitFor();
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(base + '/admin/');
    await page.locator('#plugin-states .chip', { hasText: 'running' }).waitFor();
    await page.getByText(/^Updated /).waitFor();
  });

  await t.test('the overview follows the engine without a reload', async () => {
    // The engine checks plugin health every 10 s; the page shows the result
    // when it comes, and the uptime keeps counting.
    // The build may hold more plugins than example-echo: the chip counts as
    // many as the engine says are running and ok.
    const ok = page.locator('#plugin-health .chip:not(.zero)', { hasText: 'ok' });
    await ok.waitFor({ timeout: 25000 });
    await until('the ok chip to count the engine\'s healthy plugins', async () => {
      const { plugins } = await apiGet('/api/plugins');
      const n = plugins.filter((p) => p.state === 'running' && p.health === 'ok').length;
      return n >= 1 && (await ok.innerText()).replace(/\s+/g, ' ') === `ok ${n}`;
    }, 25000);
    const up1 = await page.locator('.stat', { hasText: 'Uptime' }).locator('.value').innerText();
    await sleep(2200);
    const up2 = await page.locator('.stat', { hasText: 'Uptime' }).locator('.value').innerText();
    assert.notEqual(up1, up2, 'the uptime did not move');
    await shot('overview', 470);
  });

  await t.test('disables the plugin from its card and the state follows', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Plugins' }).click();
    await page.waitForURL(base + '/admin/plugins');
    await waitState('running');
    await page.getByRole('button', { name: `Disable ${PLUGIN}` }).click();
    await waitState('disabled');
    await card().locator('.msg.ok').waitFor();
    assert.match(await card().locator('.msg.ok').innerText(), /disabled/i);
    assert.equal((await apiGet(`/api/plugins/${PLUGIN}`)).state, 'disabled');
    await page.getByRole('button', { name: `Enable ${PLUGIN}` }).waitFor();
    await shot('plugins', 400);
  });

  await t.test('the plugin stays disabled after a reload', async () => {
    await page.reload();
    await waitState('disabled');
    await page.getByRole('button', { name: `Enable ${PLUGIN}` }).waitFor();
    assert.equal(await page.getByRole('button', { name: `Disable ${PLUGIN}` }).count(), 0);
  });

  await t.test('re-enables it', async () => {
    await page.getByRole('button', { name: `Enable ${PLUGIN}` }).click();
    await waitState('running');
    await page.getByRole('button', { name: `Disable ${PLUGIN}` }).waitFor();
    assert.equal((await apiGet(`/api/plugins/${PLUGIN}`)).state, 'running');
  });

  await t.test('a change made elsewhere shows up live, without a reload', async () => {
    // The page polls only every 10 s; the event stream must be faster.
    await apiPost(`/api/plugins/${PLUGIN}/disable`);
    await waitState('disabled', 5000);
    await apiPost(`/api/plugins/${PLUGIN}/enable`);
    await waitState('running', 5000);
  });

  await t.test('a bad setting is refused inline and nothing is saved', async () => {
    await card().getByRole('link', { name: PLUGIN }).click();
    await page.waitForURL(`${base}/admin/plugins/${PLUGIN}`);
    const field = page.getByLabel('interval_ms');
    await field.fill('-5');
    await page.getByRole('button', { name: 'Save' }).click();
    const err = page.locator('.field[data-key="interval_ms"] .err');
    await err.filter({ hasText: /interval_ms/ }).waitFor();
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    await page.locator('#settings-msg.error', { hasText: 'Nothing was saved' }).waitFor();
    assert.equal(await settingValue('interval_ms'), '0');
    await shot('settings-error', page.locator('section[aria-labelledby="settings-h"]'));
  });

  await t.test('a good setting is saved', async () => {
    const field = page.getByLabel('interval_ms');
    await field.fill('250');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#settings-msg.ok').waitFor();
    assert.equal(await page.locator('.field[data-key="interval_ms"] .err').innerText(), '');
    assert.equal(await settingValue('interval_ms'), '250');
    await page.reload();
    await page.getByLabel('interval_ms').waitFor();
    assert.equal(await page.getByLabel('interval_ms').inputValue(), '250');
  });

  await t.test('live events show the plugin\'s ticks, newest first', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Events' }).click();
    await page.getByLabel('Topics').fill('echo.tick');
    await page.getByRole('button', { name: 'Apply' }).click();
    const rows = page.locator('#event-list li', { hasText: 'echo.tick' });
    await until('two echo.tick events on the page', async () => (await rows.count()) >= 2, 10000);
    const n = (await rows.allInnerTexts()).map((s) => Number((/"n":(\d+)/.exec(s) || [])[1]));
    assert.ok(n[0] > n[1], `newest first, got ${n.slice(0, 3)}`);
  });

  await t.test('logs and audit show what happened', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Logs' }).click();
    await page.getByLabel('Plugin').fill('host');
    await page.locator('.log-table tr.line', { hasText: `plugin ${PLUGIN}: disabled` }).first().waitFor();
    await page.getByRole('navigation').getByRole('link', { name: 'Audit' }).click();
    await page.locator('.audit-table tr', { hasText: 'plugin.disable' }).first().waitFor();
  });

  await t.test('the scripts page lists the shipped examples, disabled', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Scripts' }).click();
    await page.waitForURL(base + '/admin/scripts');
    const row = page.locator('#script-list tr[data-script="watchdog"]');
    await row.waitFor();
    assert.match(await row.innerText(), /disabled/);
    assert.match(await row.innerText(), /stopped/);
  });

  await t.test('a new script\'s name is checked before anything is sent', async () => {
    const name = page.getByLabel('Name of a new script');
    const err = page.locator('#new-err');
    await name.fill('Hello World');
    await page.getByRole('button', { name: 'New script' }).click();
    await err.filter({ hasText: /not a valid name: .* such as hello_world/ }).waitFor();
    assert.equal(await name.getAttribute('aria-invalid'), 'true');
    await name.fill('watchdog');
    await page.getByRole('button', { name: 'New script' }).click();
    await err.filter({ hasText: /already a script named watchdog/ }).waitFor();
    assert.equal(page.url(), base + '/admin/scripts');
    await name.fill(SCRIPT);
    assert.equal(await err.innerText(), '');
    await page.getByRole('button', { name: 'New script' }).click();
    await page.waitForURL(`${base}/admin/scripts/${SCRIPT}`);
    await scriptHead().getByText('not saved yet').waitFor();
    assert.equal(await apiStatus(`/api/scripts/${SCRIPT}`), 404);
  });

  await t.test('the editor indents with Tab and numbers its lines', async () => {
    await source().fill('x = 1\ny = 2');
    await source().press('Control+End');
    await source().press('Enter');
    await source().press('Tab');
    await source().pressSequentially('z = 3');
    assert.equal(await source().inputValue(), 'x = 1\ny = 2\n  z = 3');
    await source().press('Enter'); // keeps the indent
    assert.equal(await source().inputValue(), 'x = 1\ny = 2\n  z = 3\n  ');
    assert.deepEqual(await page.locator('.gutter-nums div').allInnerTexts(), ['1', '2', '3', '4']);
    await source().press('Shift+Tab');
    assert.equal(await source().inputValue(), 'x = 1\ny = 2\n  z = 3\n');
  });

  await t.test('a syntax error shows inline with its line, and nothing is stored', async () => {
    await source().fill(BROKEN);
    await page.getByRole('button', { name: 'Save' }).click();
    const err = page.locator('#save-msg.error');
    await err.waitFor();
    assert.match(await err.innerText(), /Not saved: line 4: .*'='/);
    assert.match(await err.innerText(), /Nothing was stored/);
    assert.equal(await page.locator('.gutter-nums .mark.error').innerText(), '4');
    await page.locator('.line-band.error').waitFor();
    assert.equal(await apiStatus(`/api/scripts/${SCRIPT}`), 404);
    await scriptHead().getByText('not saved yet').waitFor();
  });

  await t.test('the fixed script is stored disabled, then enabled, and runs', async () => {
    await source().fill(GOOD);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#save-msg.ok', { hasText: `Saved ${SCRIPT}` }).waitFor();
    assert.equal(await page.locator('.gutter-nums .mark').count(), 0);
    let s = await apiGet(`/api/scripts/${SCRIPT}`);
    assert.equal(s.source, GOOD);
    assert.equal(s.enabled, false);
    assert.equal(s.running, false);
    await scriptHead().locator('.badge.stopped').waitFor();

    await page.getByRole('button', { name: `Enable ${SCRIPT}` }).click();
    await scriptHead().locator('.badge.running').waitFor();
    await page.locator('#script-msg.ok', { hasText: `Enabled: ${SCRIPT} is running` }).waitFor();
    s = await apiGet(`/api/scripts/${SCRIPT}`);
    assert.equal(s.running, true);
    // The line the main chunk logged, in the script's own log.
    await page.locator('.script-log tr.line', { hasText: 'hello from lua' }).waitFor();
    await page.getByRole('button', { name: `Disable ${SCRIPT}` }).waitFor();
  });

  await t.test('a broken save is refused and the running version keeps running', async () => {
    await source().fill(LATE_BROKEN);
    await page.getByRole('button', { name: 'Save' }).click();
    const err = page.locator('#save-msg.error');
    await err.waitFor();
    assert.match(await err.innerText(), /Not saved: line 6: .*'=='/);
    assert.match(await err.innerText(), new RegExp(`${SCRIPT} keeps running the version it had`));
    assert.equal(await page.locator('.gutter-nums .mark.error').innerText(), '6');
    const s = await apiGet(`/api/scripts/${SCRIPT}`);
    assert.equal(s.running, true);
    assert.equal(s.source, GOOD);
    assert.equal(await source().inputValue(), LATE_BROKEN, 'the editor keeps the text');
    await scriptHead().locator('.badge.running').waitFor();
    await page.locator('#dirty-note', { hasText: 'Unsaved changes' }).waitFor();
    const file = path.join(ARTIFACTS, 'scripts.png');
    await page.screenshot({ path: file, fullPage: true });
    await page.getByRole('button', { name: 'Undo changes' }).click();
    assert.equal(await source().inputValue(), GOOD);
    assert.equal(await page.locator('.gutter-nums .mark').count(), 0);
  });

  await t.test('a script stopped elsewhere shows up live, without a reload', async () => {
    // The page polls every 8 s; the script.* events must be faster.
    await apiPost(`/api/scripts/${SCRIPT}/disable`);
    await scriptHead().locator('.badge.stopped').waitFor({ timeout: 4000 });
    await apiPost(`/api/scripts/${SCRIPT}/enable`);
    await scriptHead().locator('.badge.running').waitFor({ timeout: 4000 });
  });

  await t.test('disables the script, then deletes it after a confirmation', async () => {
    await page.getByRole('button', { name: `Disable ${SCRIPT}` }).click();
    await scriptHead().locator('.badge.stopped').waitFor();
    await page.locator('#script-msg.ok', { hasText: `Disabled: ${SCRIPT} is stopped` }).waitFor();
    assert.equal((await apiGet(`/api/scripts/${SCRIPT}`)).enabled, false);

    await page.getByRole('button', { name: `Delete ${SCRIPT}` }).click();
    await page.getByText(`Delete ${SCRIPT} for good?`).waitFor();
    assert.equal(await apiStatus(`/api/scripts/${SCRIPT}`), 200, 'asking deleted nothing');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: `Delete ${SCRIPT}` }).click();
    await page.getByRole('button', { name: 'Yes, delete' }).click();
    await page.waitForURL(base + '/admin/scripts');
    await page.locator('main .msg.ok', { hasText: `Deleted ${SCRIPT}.` }).waitFor();
    await page.locator('#script-list tr[data-script="watchdog"]').waitFor();
    assert.equal(await page.locator(`#script-list tr[data-script="${SCRIPT}"]`).count(), 0);
    assert.equal(await apiStatus(`/api/scripts/${SCRIPT}`), 404);
    await page.getByRole('navigation').getByRole('link', { name: 'Audit' }).click();
    await page.locator('.audit-table tr', { hasText: 'script.delete' }).first().waitFor();
  });

  await t.test('usable on a 360 px wide phone', async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    for (const p of ['/admin/', '/admin/plugins', `/admin/plugins/${PLUGIN}`, '/admin/scripts',
      '/admin/scripts/watchdog', '/admin/logs', '/admin/events', '/admin/audit']) {
      await page.goto(base + p);
      await page.locator('main h1').first().waitFor();
      await sleep(300);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(wide <= 360, `${p} is ${wide} px wide on a 360 px screen`);
      if (p === '/admin/scripts/watchdog') {
        await page.locator('.script-log tr').first().waitFor();
        await page.screenshot({ path: path.join(ARTIFACTS, 'scripts-mobile.png'), fullPage: true });
      }
    }
    await page.setViewportSize({ width: 1100, height: 720 });
  });

  await t.test('logs out', async () => {
    await page.goto(base + '/admin/');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(/\/login(\?|$)/);
    const res = await page.request.get(base + '/api/session');
    assert.equal(res.status(), 401);
  });

  await t.test('no script errors on any page', () => {
    assert.deepEqual(pageErrors, []);
  });

  await t.test('the engine shuts down cleanly', async () => {
    await context.close();
    context = null;
    const status = await stopEngine();
    assert.equal(status, 0, `the engine ended with ${status}\n${engineLog}`);
    assert.doesNotMatch(engineLog, /AddressSanitizer|LeakSanitizer|runtime error:/);
  });
});
