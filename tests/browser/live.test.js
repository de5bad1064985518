// The admin UI's Live page in a real browser: Debian's Chromium driven by
// playwright-core against the real engine with transport-tcp, swarm,
// segmenter, streamer and live (copied from <build>/plugins into a folder of
// their own, enabled offline like tests/integration/test_live.py does).
//
//   OA_BUILD_DIR=build node --test tests/browser/live.test.js
//
// Needs: chromium (apt), `npm ci` in tests/browser, the build's plugins.
// The broadcast is a generated lavfi test pattern, so no media file is
// needed. Nothing asserts a duration: every wait is an upper bound.
// Screenshots go to <build>/tests/artifacts/.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
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
const BUILD_PLUGINS = path.join(BUILD, 'plugins');
const ARTIFACTS = path.join(BUILD, 'tests', 'artifacts');
const CHROMIUM = process.env.OA_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync'];
const PLUGINS = ['transport-tcp', 'swarm', 'segmenter', 'streamer', 'live'];
const PASSWORD = 'live-page-test-password';
const NAME = 'ui-test';
const SOURCE = 'lavfi:testsrc2=size=160x120:rate=10';
// Upper bounds only.
const WAIT = 60000;

let engine = null;
let engineLog = '';
let rootDir = '';
let profileDir = '';
let base = '';
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
async function until(what, fn, ms = WAIT) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) {
      return v;
    }
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}\n--- engine log ---\n${engineLog.slice(-6000)}`);
    }
    await sleep(150);
  }
}

// Runs an offline engine command (the engine not started) on the test's
// data and plugin folders; fails the test when it does not exit 0.
function offline(args, input) {
  const r = spawnSync(ENGINE, ['--data', path.join(rootDir, 'data'),
    '--plugins', path.join(rootDir, 'plugins'), ...args],
  { input: input || '', encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, `openace ${args.join(' ')}: ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

async function startEngine() {
  const http = await freePort();
  const p2p = await freePort();
  rootDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oa-browser-live-'));
  const pluginDir = path.join(rootDir, 'plugins');
  fs.mkdirSync(pluginDir);
  fs.mkdirSync(path.join(rootDir, 'downloads'));
  for (const p of PLUGINS) {
    fs.copyFileSync(path.join(BUILD_PLUGINS, p + '.so'), path.join(pluginDir, p + '.so'));
  }
  for (const p of PLUGINS) {
    offline(['plugins', 'enable', p]);
  }
  offline(['config', 'set', 'transport-tcp', 'listen', `127.0.0.1:${p2p}`]);
  offline(['config', 'set', 'swarm', 'download_dir', path.join(rootDir, 'downloads')]);
  offline(['passwd', 'admin'], PASSWORD + '\n');
  base = `http://127.0.0.1:${http}`;
  engine = spawn(ENGINE, ['--data', path.join(rootDir, 'data'), '--plugins', pluginDir,
    '--http', `127.0.0.1:${http}`, '--p2p-port', String(p2p)],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  const collect = (b) => { engineLog += b.toString(); };
  engine.stdout.on('data', collect);
  engine.stderr.on('data', collect);
  engine.on('exit', (code, sig) => { engineLog += `\n[engine exited: ${code ?? sig}]\n`; });
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

// The engine's view, asked directly with the browser's own session.
async function apiGet(p) {
  const res = await page.request.get(base + p);
  assert.equal(res.status(), 200, `GET ${p}: ${await res.text()}`);
  return res.json();
}

async function apiPost(p, body) {
  const { csrf } = await apiGet('/api/session');
  const res = await page.request.post(base + p, {
    headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/json' },
    data: body === undefined ? {} : body,
  });
  assert.equal(res.status(), 200, `POST ${p}: ${await res.text()}`);
  return res.json();
}

async function broadcast(name) {
  const r = await apiPost('/api/plugins/live/commands/list', {});
  return (r.result.broadcasts || []).find((b) => b.name === name);
}

const row = () => page.locator(`#broadcast-list tr[data-name="${NAME}"]`);
const stateCell = () => row().locator('td').nth(1);

before(async () => {
  assert.ok(fs.existsSync(ENGINE), `no engine at ${ENGINE}; build first`);
  assert.ok(fs.existsSync(CHROMIUM), `no browser at ${CHROMIUM}; apt-get install chromium`);
  for (const p of PLUGINS) {
    assert.ok(fs.existsSync(path.join(BUILD_PLUGINS, p + '.so')),
      `no ${p}.so in ${BUILD_PLUGINS}; build the plugins first`);
  }
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await startEngine();
  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oa-browser-profile-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1100, height: 800 },
  });
  page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

after(async () => {
  if (context) {
    await context.close();
  }
  await stopEngine();
  for (const d of [profileDir, rootDir]) {
    if (d) {
      fs.rmSync(d, { recursive: true, force: true });
    }
  }
});

test('live page', { timeout: 280000 }, async (t) => {
  await t.test('logs in and opens Live from the navigation', async () => {
    await page.goto(base + '/login');
    await page.getByLabel('User').fill('admin');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(base + '/admin/');
    await page.getByRole('navigation').getByRole('link', { name: 'Live' }).click();
    await page.waitForURL(base + '/admin/live');
    await page.getByRole('heading', { name: 'Start a broadcast' }).waitFor();
    const { plugins } = await apiGet('/api/plugins');
    for (const p of PLUGINS) {
      const pl = plugins.find((x) => x.name === p);
      assert.equal(pl && pl.state, 'running', `${p} is running: ${JSON.stringify(pl)}\n${engineLog}`);
    }
  });

  await t.test('with the live plugin disabled the page says so and links to it', async () => {
    await apiPost('/api/plugins/live/disable');
    const link = page.getByRole('link', { name: /live plugin's page/ });
    await link.waitFor();
    assert.match(await page.locator('#live-notice').innerText(), /disabled/);
    assert.equal(await page.locator('#live-content').isVisible(), false);
    assert.equal(await link.getAttribute('href'), '/admin/plugins/live');
    await apiPost('/api/plugins/live/enable');
    await page.getByRole('heading', { name: 'Start a broadcast' }).waitFor();
    assert.equal(await page.locator('#live-notice').isVisible(), false);
  });

  await t.test('a start without a source is refused before anything is sent', async () => {
    await page.getByLabel('Name').fill(NAME);
    await page.getByLabel('Source').fill('');
    await page.getByRole('button', { name: 'Start broadcast' }).click();
    await page.locator('#start-msg.error', { hasText: 'Enter a source' }).waitFor();
    assert.equal(await page.getByLabel('Source').getAttribute('aria-invalid'), 'true');
    assert.equal(await broadcast(NAME), undefined);
  });

  let cid = '';
  await t.test('starts a broadcast and shows its content ID and playback links', async () => {
    await page.getByLabel('Source').fill(SOURCE);
    await page.getByLabel('Chunk seconds').fill('1');
    await page.getByLabel('Auto-start').uncheck();
    await page.getByRole('button', { name: 'Start broadcast' }).click();
    const code = page.locator('#start-cid');
    await code.waitFor();
    cid = (await code.innerText()).trim();
    assert.match(cid, /^[0-9a-f]{40}$/);
    const gs = await page.locator('#start-getstream').getAttribute('href');
    const m3u = await page.locator('#start-manifest').getAttribute('href');
    assert.match(gs, new RegExp(`/ace/getstream\\?id=${cid}$`));
    assert.match(m3u, new RegExp(`/ace/manifest\\.m3u8\\?id=${cid}$`));
    await page.getByRole('button', { name: 'Copy the getstream URL' }).waitFor();
    const b = await broadcast(NAME);
    assert.equal(b.content_id, cid);
    assert.equal(b.auto_start, false);
  });

  await t.test('the broadcast is listed, live, with its content ID', async () => {
    await row().waitFor();
    assert.equal(await row().locator('td.cid').innerText(), cid);
    await stateCell().locator('.badge', { hasText: /^live$/ }).waitFor({ timeout: WAIT });
    await until('the chunk count to grow on the page', async () =>
      Number((await row().locator('td').nth(5).innerText()).replace(/\D/g, '')) > 0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'live.png'), fullPage: true });
  });

  await t.test('a chat message sent from the page appears in its panel, highlighted', async () => {
    const panel = page.locator(`section.chat[data-cid="${cid}"]`);
    await panel.waitFor();
    await panel.getByText('connected').waitFor();
    const text = 'hello @bob :wave: from the page';
    await panel.getByLabel(`Message to the chat of ${NAME}`).fill(text);
    await panel.getByRole('button', { name: 'Send' }).click();
    const line = panel.locator('.chat-line', { hasText: 'from the page' });
    await line.waitFor();
    assert.equal(await line.locator('mark.mention').innerText(), '@bob');
    assert.equal(await line.locator('.emote').innerText(), ':wave:');
    assert.equal(await line.locator('.chat-from').innerText(), 'you');
    assert.equal(await panel.getByLabel(`Message to the chat of ${NAME}`).inputValue(), '');
    // A message sent elsewhere (the API) arrives through the stream too.
    await apiPost(`/api/live/${cid}/chat`, { text: 'second message' });
    await panel.locator('.chat-line', { hasText: 'second message' }).waitFor();
    await panel.screenshot({ path: path.join(ARTIFACTS, 'live-chat.png') });
    // A blank message is refused on the page.
    await panel.getByRole('button', { name: 'Send' }).click();
    await panel.locator('.msg.error', { hasText: 'Write a message first' }).waitFor();
  });

  await t.test('usable on a 360 px wide phone', async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    await sleep(300);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 360, `/admin/live is ${wide} px wide on a 360 px screen`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'live-mobile.png'), fullPage: true });
    await page.setViewportSize({ width: 1100, height: 800 });
  });

  await t.test('stops the broadcast after a confirmation and the state follows', async () => {
    await row().getByRole('button', { name: `Stop ${NAME}` }).click();
    await row().getByText(`Stop ${NAME}?`).waitFor();
    await row().getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await broadcast(NAME)).state, 'live', 'asking stopped nothing');
    await row().getByRole('button', { name: `Stop ${NAME}` }).click();
    await row().getByRole('button', { name: 'Yes, stop' }).click();
    await stateCell().locator('.badge', { hasText: /^stopped$/ }).waitFor();
    assert.equal((await broadcast(NAME)).state, 'stopped');
    await page.locator(`section.chat[data-cid="${cid}"]`).waitFor({ state: 'detached' });
    assert.equal(await row().getByRole('button', { name: `Stop ${NAME}` }).count(), 0);
  });

  await t.test('no script errors on the page', () => {
    assert.deepEqual(pageErrors, []);
  });

  await t.test('the engine shuts down cleanly', async () => {
    await context.close();
    context = null;
    const status = await stopEngine();
    assert.equal(status, 0, `the engine ended with ${status}\n${engineLog.slice(-6000)}`);
    assert.doesNotMatch(engineLog, /AddressSanitizer|LeakSanitizer|runtime error:/);
  });
});
