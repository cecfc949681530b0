// End-to-end tests of the todo web app: real headless Chromium (Debian's, driven by
// playwright-core), the real `todo` server serving the built site, two browser profiles of user
// alice (plus one of bob for the shared-list scenario, one more for the 1,000-todo figure).
//
// Run by `cargo xtask e2e` (xtask/src/e2e.rs), which builds everything and sets:
//   TODO_BIN   the `todo` server binary
//   TODO_WEB   the built site (`cargo xtask todo --build-only` output)
//   E2E_OUT    where the screenshot goes (default: ../../target/e2e)
// Optional: CHROMIUM (/usr/bin/chromium), E2E_SUITE_TIMEOUT_MS (300000).
// By hand: cd tests/e2e && npm ci && TODO_BIN=... TODO_WEB=... node --test todo.e2e.mjs
//
// The suite owns its servers: it starts `todo --web WEB --db TMP/x.db --port 0` on
// 127.0.0.1, and restarts it on the same port and database for the offline scenario.
// Every wait has a timeout, and a suite-wide deadline kills everything it started.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.TODO_BIN;
const WEB = process.env.TODO_WEB;
const OUT = path.resolve(process.env.E2E_OUT || path.join(HERE, '..', '..', 'target', 'e2e'));
const EXECUTABLE = process.env.CHROMIUM || '/usr/bin/chromium';
const SUITE_TIMEOUT_MS = Number(process.env.E2E_SUITE_TIMEOUT_MS || 300_000);
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // Background tabs must not be throttled: two tabs of one profile are both "open".
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];
const USER = 'alice';
/** `todo::SCHEMA_VERSION`, for the raw push that seeds a server. */
const SCHEMA_VERSION = 'todos-v2';
/** A row written in one profile must show in the other within this long (the spec's 1 s). */
const OTHER_PROFILE_MS = 1000;
/** Generous bound for things that involve reconnecting, reloads, server restarts. */
const SLOW_MS = 30_000;
/** Bound for reconnecting after the server comes back (the client's backoff is at most 30 s). */
const RECONNECT_MS = 45_000;
/** Bound for a single UI step (a row showing, an attribute changing) without a budget of its own. */
const STEP_MS = 10_000;

if (!BIN || !WEB) throw new Error('set TODO_BIN (the todo server binary) and TODO_WEB (the built site)');

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'plasma-e2e-'));
const servers = new Set();
const contexts = new Set();
let seq = 0;
const uniq = (what) => `${what} ${process.pid}-${++seq}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the server --------------------------------------------------------------------------

class Server {
  constructor(name) {
    this.name = name;
    this.db = path.join(TMP, `${name}.db`);
    this.log = path.join(TMP, `${name}.log`);
    this.proc = null;
    this.port = 0;
    this.url = null;
  }

  /** Starts on `this.port` (0 the first time: a free one), resolves with the URL. */
  async start() {
    const deadline = Date.now() + SLOW_MS;
    for (;;) {
      try {
        return await this.#startOnce();
      } catch (e) {
        // Restarting on the same port can race the old socket's release: retry.
        if (Date.now() > deadline) throw e;
        await sleep(250);
      }
    }
  }

  #startOnce() {
    const args = ['--web', WEB, '--db', this.db, '--port', String(this.port)];
    const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    servers.add(this);
    const log = fs.createWriteStream(this.log, { flags: 'a' });
    proc.stderr.pipe(log);
    return new Promise((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => fail(new Error(`${this.name}: no "listening on" within 15 s`)), 15_000);
      const fail = (e) => {
        clearTimeout(timer);
        proc.kill('SIGKILL');
        reject(e);
      };
      proc.on('exit', (code, sig) => fail(new Error(`${this.name}: exited (${code ?? sig}) before listening; log ${this.log}`)));
      proc.stdout.on('data', (chunk) => {
        buf += chunk;
        const m = buf.match(/^listening on (http:\/\/\S+)$/m);
        if (!m) return;
        clearTimeout(timer);
        proc.removeAllListeners('exit');
        proc.on('exit', () => servers.delete(this));
        this.url = m[1];
        this.port = Number(new URL(this.url).port);
        assert.equal(new URL(this.url).hostname, '127.0.0.1', 'the server listens on 127.0.0.1 only');
        resolve(this.url);
      });
    });
  }

  async stop() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(t);
    servers.delete(this);
  }

  killNow() {
    try {
      this.proc?.kill('SIGKILL');
    } catch {}
  }
}

// ---- the browser -------------------------------------------------------------------------

async function profile(name) {
  const dir = fs.mkdtempSync(path.join(TMP, `profile-${name}-`));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: EXECUTABLE,
    headless: true,
    args: FLAGS,
    timeout: 60_000,
    viewport: { width: 900, height: 700 },
  });
  context.setDefaultTimeout(STEP_MS);
  contexts.add(context);
  context.label = name;
  context.logs = [];
  return context;
}

/** Opens the app for `user` (USER unless told) in a new tab of `context` and waits until it is in sync. */
async function openApp(context, server, { waitInSync = true, user = USER } = {}) {
  const page = await context.newPage();
  context.tabs = (context.tabs ?? 0) + 1;
  page.label = `${context.label} tab ${context.tabs}`;
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') context.logs.push(`${context.label} ${m.type()}: ${m.text()}`.slice(0, 400));
  });
  page.on('pageerror', (e) => context.logs.push(`${context.label} pageerror: ${e.message}`.slice(0, 400)));
  await page.goto(`${server.url}/?user=${encodeURIComponent(user)}`, { timeout: SLOW_MS });
  if (waitInSync) await waitStatus(page, 'in sync', SLOW_MS);
  return page;
}

const rowById = (page, id) => page.locator(`[data-testid="todo"][data-id="${id}"]`);
const rowByTitle = (page, title) =>
  page.getByTestId('todo').filter({ has: page.getByTestId('title').getByText(title, { exact: true }) });

/** Every row as the page shows it, in display order. */
const rows = (page) =>
  page.$$eval('[data-testid="todo"]', (els) =>
    els.map((e) => ({ id: e.dataset.id, done: e.dataset.done, title: e.querySelector('[data-testid="title"]')?.textContent })),
  );

const pendingOf = async (page) => Number(await page.getByTestId('pending-count').textContent({ timeout: STEP_MS }));

/** Waits until `fn(arg)` is truthy in the page; on timeout says what was awaited and what the page shows. */
async function until(page, what, fn, arg, timeout = STEP_MS) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 20 });
  } catch (e) {
    let shown = '';
    try {
      const alert = await page.evaluate(() => document.querySelector('[data-testid="error"]')?.textContent ?? null);
      shown = `; status ${await page.getByTestId('sync-status').textContent({ timeout: 1000 })}, pending ${await page.getByTestId('pending-count').textContent({ timeout: 1000 })}, alert ${JSON.stringify(alert)}, rows ${JSON.stringify(await rows(page)).slice(0, 600)}`;
    } catch {}
    throw new Error(`${page.label ?? page.context().label}: timed out after ${timeout} ms waiting for ${what}${shown}`);
  }
}

const waitStatus = (page, status, timeout = STEP_MS) =>
  until(page, `sync-status "${status}"`, (s) => document.querySelector('[data-testid="sync-status"]')?.textContent.trim() === s, status, timeout);

const waitPending = (page, n, timeout = STEP_MS) =>
  until(page, `pending-count ${n}`, (n) => Number(document.querySelector('[data-testid="pending-count"]')?.textContent) === n, n, timeout);

const waitSomePending = (page, timeout = STEP_MS) =>
  until(page, 'pending-count above 0', () => Number(document.querySelector('[data-testid="pending-count"]')?.textContent) > 0, null, timeout);

const waitTitle = (page, title, timeout = STEP_MS) =>
  until(
    page,
    `a row titled ${JSON.stringify(title)}`,
    (t) => [...document.querySelectorAll('[data-testid="todo"] [data-testid="title"]')].some((e) => e.textContent === t),
    title,
    timeout,
  );

const waitNoRow = (page, id, timeout = STEP_MS) =>
  until(page, `row ${id} gone`, (id) => !document.querySelector(`[data-testid="todo"][data-id="${id}"]`), id, timeout);

const waitRow = (page, id, check, timeout = STEP_MS) =>
  until(
    page,
    `row ${id} with ${JSON.stringify(check)}`,
    ([id, check]) => {
      const e = document.querySelector(`[data-testid="todo"][data-id="${id}"]`);
      if (!e) return false;
      if (check.done !== undefined && e.dataset.done !== check.done) return false;
      if (check.title !== undefined && e.querySelector('[data-testid="title"]')?.textContent !== check.title) return false;
      return true;
    },
    [id, check],
    timeout,
  );

// Lists: `[data-testid="list-mine"]` is "My todos", `[data-testid="list-tab"][data-list-name=NAME]` a
// shared list; the one shown has aria-pressed="true". The shown list's members are
// `[data-testid="member"][data-user=USER]`, each with an `unshare` button.
const listTab = (page, name) => page.locator(`[data-testid="list-tab"][data-list-name="${name}"]`);

const waitListTab = (page, name, timeout = STEP_MS) =>
  until(page, `a list tab ${JSON.stringify(name)}`, (n) => [...document.querySelectorAll('[data-testid="list-tab"]')].some((e) => e.dataset.listName === n), name, timeout);

const waitNoListTab = (page, name, timeout = STEP_MS) =>
  until(page, `no list tab ${JSON.stringify(name)}`, (n) => ![...document.querySelectorAll('[data-testid="list-tab"]')].some((e) => e.dataset.listName === n), name, timeout);

/** Waits until the list `name` (null: "My todos") is the one shown. */
const waitShown = (page, name, timeout = STEP_MS) =>
  until(
    page,
    `list ${JSON.stringify(name ?? 'My todos')} shown`,
    (n) => {
      const tab = n === null
        ? document.querySelector('[data-testid="list-mine"]')
        : [...document.querySelectorAll('[data-testid="list-tab"]')].find((e) => e.dataset.listName === n);
      return tab?.getAttribute('aria-pressed') === 'true';
    },
    name,
    timeout,
  );

/** Shows the list `name` (null: "My todos"). */
async function showList(page, name) {
  await (name === null ? page.getByTestId('list-mine') : listTab(page, name)).click();
  await waitShown(page, name);
}

const waitMembers = (page, users, timeout = STEP_MS) =>
  until(
    page,
    `members ${JSON.stringify(users)}`,
    (want) => JSON.stringify([...document.querySelectorAll('[data-testid="member"]')].map((e) => e.dataset.user).sort()) === JSON.stringify(want),
    [...users].sort(),
    timeout,
  );

/** Records, in the page, when each title first appears (wall clock ms, from a MutationObserver). */
async function recordTitles(page) {
  await page.evaluate(() => {
    if (window.__e2eSeen) return;
    const seen = (window.__e2eSeen = {});
    const scan = () => {
      const t = performance.timeOrigin + performance.now();
      for (const e of document.querySelectorAll('[data-testid="todo"] [data-testid="title"]')) {
        if (!(e.textContent in seen)) seen[e.textContent] = t;
      }
    };
    new MutationObserver(scan).observe(document.body, { subtree: true, childList: true, characterData: true });
    scan();
  });
}

/** Records, in the page, when Enter goes down in the new-todo input (wall clock ms). */
async function recordEnter(page) {
  await page.evaluate(() => {
    if (window.__e2eEnterHooked) return;
    window.__e2eEnterHooked = true;
    document.addEventListener(
      'keydown',
      (e) => {
        if (e.key === 'Enter' && e.target?.dataset?.testid === 'new-todo') window.__e2eEnterAt = performance.timeOrigin + e.timeStamp;
      },
      true,
    );
  });
}

/** Types `title` into the new-todo input and presses Enter; returns the new row's id. */
async function addTodo(page, title, timeout = STEP_MS) {
  const input = page.getByTestId('new-todo');
  await input.fill(title);
  await input.press('Enter');
  await waitTitle(page, title, timeout);
  const id = await rowByTitle(page, title).first().getAttribute('data-id');
  assert.ok(id, `the row titled ${title} has a data-id`);
  return id;
}

async function rename(page, id, title, { dblclick = false } = {}) {
  const row = rowById(page, id);
  if (dblclick) await row.getByTestId('title').dblclick();
  else await row.getByTestId('edit').click();
  const input = page.getByTestId('edit-input');
  await input.fill(title);
  await input.press('Enter');
  await waitRow(page, id, { title });
}

/** Display order: open rows first, then done ones. */
async function assertOrder(page) {
  const r = await rows(page);
  const firstDone = r.findIndex((x) => x.done === 'true');
  if (firstDone >= 0) assert.ok(r.slice(firstDone).every((x) => x.done === 'true'), `done rows below open ones: ${JSON.stringify(r)}`);
}

/**
 * Holds every push of `context` (the page's `/sync/push` requests wait) until `release()`:
 * whatever shows meanwhile was not confirmed by the server.
 */
async function holdPushes(context) {
  const held = [];
  let open = false;
  const match = (url) => url.pathname.endsWith('/push');
  const handler = (route) => (open ? route.continue().catch(() => {}) : held.push(route));
  await context.route(match, handler);
  const hold = {
    held: () => held.length,
    async release() {
      if (open) return;
      open = true;
      holds.delete(hold);
      await context.unroute(match, handler).catch(() => {});
      for (const r of held.splice(0)) await r.continue().catch(() => {});
    },
  };
  holds.add(hold);
  return hold;
}
/** Holds not yet released: a failed scenario's hold is released after it, so it cannot break the next. */
const holds = new Set();

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  const r = (x) => Math.round(x * 10) / 10;
  return `median ${r(median)} ms, min ${r(s[0])} ms, max ${r(s[n - 1])} ms, n ${n}`;
}

function figure(line) {
  // On stdout, so `node --test` shows it (and the xtask driver passes it through).
  console.log(`FIGURE ${line}`);
}

// ---- suite setup ---------------------------------------------------------------------------

const server = new Server('main');
let A; // profile A
let B; // profile B
let pageA;
let pageB;

function killEverything() {
  for (const s of servers) s.killNow();
  for (const c of contexts) c.close().catch(() => {});
}

const suiteDeadline = setTimeout(() => {
  console.error(`e2e: suite deadline ${SUITE_TIMEOUT_MS} ms passed; stopping servers and browsers`);
  killEverything();
  setTimeout(() => process.exit(1), 2_000).unref();
}, SUITE_TIMEOUT_MS);
suiteDeadline.unref();
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    killEverything();
    process.exit(1);
  });
}
process.on('exit', () => {
  for (const s of servers) s.killNow();
  fs.rmSync(TMP, { recursive: true, force: true });
});

before(async () => {
  assert.ok(fs.existsSync(EXECUTABLE), `${EXECUTABLE} missing (apt-get install chromium)`);
  await server.start();
  console.log(`e2e: server at ${server.url} (db ${server.db})`);
  [A, B] = await Promise.all([profile('A'), profile('B')]);
  [pageA, pageB] = await Promise.all([openApp(A, server), openApp(B, server)]);
  await recordTitles(pageB);
  await recordEnter(pageA);
}, { timeout: 120_000 });

afterEach(async () => {
  for (const h of [...holds]) await h.release();
});

after(async () => {
  clearTimeout(suiteDeadline);
  for (const c of contexts) {
    if (c.logs.length) console.log(`e2e: ${c.label} console:\n  ${c.logs.slice(-20).join('\n  ')}`);
  }
  await Promise.all([...contexts].map((c) => c.close().catch(() => {})));
  await Promise.all([...servers].map((s) => s.stop()));
});

// ---- scenarios -----------------------------------------------------------------------------

test('a todo added in A shows in A before the server answers, and in B within 1 s', { timeout: 60_000 }, async () => {
  // Held push: the row and a pending count show in A while the server has not seen the write.
  const hold = await holdPushes(A);
  const held = uniq('held');
  const heldId = await addTodo(pageA, held);
  await waitSomePending(pageA); // 'the unconfirmed write is pending in A'
  for (const end = Date.now() + STEP_MS; hold.held() === 0; await sleep(50)) {
    assert.ok(Date.now() < end, 'A tried to push the write (and the push is held)');
  }
  await sleep(300);
  assert.equal(await rowByTitle(pageB, held).count(), 0, 'B cannot have a write the server never got');
  await hold.release();
  await waitRow(pageB, heldId, { title: held, done: 'false' }, SLOW_MS);
  await waitPending(pageA, 0, SLOW_MS);

  // Unheld: from Enter in A to the row in B, timed in the pages.
  const title = uniq('fast');
  await addTodo(pageA, title);
  await waitTitle(pageB, title, STEP_MS);
  const ms = await latency(title);
  assert.ok(ms <= OTHER_PROFILE_MS, `B showed the row ${Math.round(ms)} ms after Enter in A (budget ${OTHER_PROFILE_MS} ms)`);
});

/** Ms from the last Enter in A's new-todo input to `title` showing in B. */
async function latency(title) {
  const enter = await pageA.evaluate(() => window.__e2eEnterAt);
  const seen = await pageB.evaluate((t) => window.__e2eSeen[t], title);
  assert.ok(enter && seen, `timestamps recorded (enter ${enter}, seen ${seen})`);
  return seen - enter;
}

test('mark done, rename and delete propagate both ways', { timeout: 90_000 }, async () => {
  const x = await addTodo(pageA, uniq('from A'));
  const y = await addTodo(pageB, uniq('from B'));
  await waitRow(pageB, x, {});
  await waitRow(pageA, y, {});

  await rowById(pageB, x).getByTestId('toggle').click();
  await waitRow(pageB, x, { done: 'true' });
  await waitRow(pageA, x, { done: 'true' }, STEP_MS);
  await rowById(pageA, y).getByTestId('toggle').click();
  await waitRow(pageB, y, { done: 'true' }, STEP_MS);
  await assertOrder(pageA);
  await assertOrder(pageB);

  const xTitle = uniq('renamed in A');
  await rename(pageA, x, xTitle);
  await waitRow(pageB, x, { title: xTitle }, STEP_MS);
  const yTitle = uniq('renamed in B');
  await rename(pageB, y, yTitle, { dblclick: true });
  await waitRow(pageA, y, { title: yTitle }, STEP_MS);

  // Escape cancels an edit.
  await rowById(pageA, x).getByTestId('edit').click();
  await pageA.getByTestId('edit-input').fill('never saved');
  await pageA.getByTestId('edit-input').press('Escape');
  await until(pageA, 'the edit input to close', () => !document.querySelector('[data-testid="edit-input"]'), null);
  await waitRow(pageA, x, { title: xTitle });

  await rowById(pageB, x).getByTestId('delete').click();
  await waitNoRow(pageB, x);
  await waitNoRow(pageA, x, STEP_MS);
  await rowById(pageA, y).getByTestId('delete').click();
  await waitNoRow(pageB, y, STEP_MS);
  await waitPending(pageA, 0, SLOW_MS);
  await waitPending(pageB, 0, SLOW_MS);
  assert.deepEqual(await rows(pageA), await rows(pageB), 'both profiles show the same list');
});

test('a reload keeps everything, including a write made just before it', { timeout: 90_000 }, async () => {
  const done = await addTodo(pageA, uniq('kept done'));
  await rowById(pageA, done).getByTestId('toggle').click();
  await waitRow(pageA, done, { done: 'true' });
  await waitPending(pageA, 0, SLOW_MS);
  const before = await rows(pageA);

  // The last write never reaches the server before the reload: pushes are held throughout,
  // so after the reload it can only come from the browser's own storage.
  const hold = await holdPushes(A);
  const last = uniq('just before reload');
  const lastId = await addTodo(pageA, last);
  await pageA.reload({ timeout: SLOW_MS });
  await waitRow(pageA, lastId, { title: last, done: 'false' }, SLOW_MS);
  await waitSomePending(pageA); // 'the write is still pending after the reload'
  const after = await rows(pageA);
  assert.deepEqual(after.filter((r) => r.id !== lastId), before, 'every earlier row (and its done state) survived the reload');
  await recordEnter(pageA);

  await hold.release();
  await waitRow(pageB, lastId, { title: last }, SLOW_MS);
  await waitPending(pageA, 0, SLOW_MS);
  await waitStatus(pageA, 'in sync', SLOW_MS);
});

test('two tabs of one profile stay in step (without the server)', { timeout: 90_000 }, async () => {
  const tab2 = await openApp(A, server);
  try {
    // Pushes held: the other tab can only learn of these writes from this browser.
    let hold = await holdPushes(A);
    const title = uniq('tab one');
    const id = await addTodo(pageA, title);
    await waitRow(tab2, id, { title, done: 'false' }, STEP_MS);
    const title2 = uniq('tab two');
    const id2 = await addTodo(tab2, title2);
    await waitRow(pageA, id2, { title: title2 }, STEP_MS);
    assert.equal(await rowById(pageB, id).count(), 0, 'profile B has not seen the held writes');
    await hold.release();
    await waitRow(pageB, id2, { title: title2 }, SLOW_MS);
    await waitPending(pageA, 0, SLOW_MS);
    await waitPending(tab2, 0, SLOW_MS);

    // Edits of synced rows, pushes held again.
    hold = await holdPushes(A);
    await rowById(tab2, id).getByTestId('toggle').click();
    await waitRow(tab2, id, { done: 'true' });
    await waitRow(pageA, id, { done: 'true' }, STEP_MS);
    const renamed = uniq('renamed in tab one');
    await rename(pageA, id2, renamed);
    await waitRow(tab2, id2, { title: renamed }, STEP_MS);
    await rowById(pageA, id2).getByTestId('delete').click();
    await waitNoRow(tab2, id2, STEP_MS);
    await hold.release();
    await waitRow(pageB, id, { done: 'true' }, SLOW_MS);
    await waitNoRow(pageB, id2, SLOW_MS);
    await waitPending(pageA, 0, SLOW_MS);
    await waitPending(tab2, 0, SLOW_MS);
    assert.deepEqual(await rows(tab2), await rows(pageA), 'both tabs show the same list');
  } finally {
    await tab2.close();
  }
});

// Tab 2 edits a todo tab 1 created and has not pushed: tab 1 applies the edit after its own create
// (one causal order of own and foreign pending mutations), and tab 2 holds its push until tab 1's
// create is confirmed, so the server runs them in that order too.
test('a tab can edit a todo the other tab has not synced yet', { timeout: 60_000 }, async () => {
  const tab2 = await openApp(A, server);
  try {
    const hold = await holdPushes(A);
    const title = uniq('unsynced');
    const id = await addTodo(pageA, title);
    await waitRow(tab2, id, { title }, STEP_MS);
    await rowById(tab2, id).getByTestId('toggle').click();
    await waitRow(tab2, id, { done: 'true' }, 3_000);
    await waitRow(pageA, id, { done: 'true' }, 3_000);
    await hold.release();
    await waitRow(pageB, id, { done: 'true' }, SLOW_MS);
  } finally {
    await tab2.close();
    for (const h of [...holds]) await h.release();
    await waitPending(pageA, 0, SLOW_MS).catch(() => {});
  }
});

test('a title over 100 characters is shown, refused by the server with an alert, and removed', { timeout: 120_000 }, async () => {
  const hold = await holdPushes(A);
  const title = `${uniq('long')} ${'x'.repeat(120)}`;
  const id = await addTodo(pageA, title);
  await waitSomePending(pageA); // 'the long title is pending'
  await hold.release();
  // RECONNECT_MS, not SLOW_MS: once in six loaded runs a push held by the route was never
  // continued (the page's fetch then times out after 30 s and the client retries after its
  // backoff); the refusal and the alert must still come, which is what this test is about.
  await until(pageA, 'an alert', () => document.querySelector('[data-testid="error"][role="alert"]')?.textContent.includes('too long'), null, RECONNECT_MS);
  await waitNoRow(pageA, id, STEP_MS);
  await waitPending(pageA, 0, SLOW_MS);
  assert.equal(await rowById(pageB, id).count(), 0, 'B never shows the refused todo');
});

// Read scopes: alice's private todos are hers alone; a list, its todos and its memberships are
// every member's. Alice in profile A, bob in a profile of his own, one server.
test('two users: a shared list reaches its member and leaves when unshared; private todos never do', { timeout: 120_000 }, async () => {
  const Bob = await profile('bob');
  try {
    const pageBob = await openApp(Bob, server, { user: 'bob' });
    await recordTitles(pageBob); // every title bob's page ever shows, in any list
    await waitShown(pageBob, null);
    await waitShown(pageA, null);

    // Alice: a private todo, a list "groceries" (shown once created), shared with bob, "milk" in it.
    const secret = uniq('alice private');
    const secretId = await addTodo(pageA, secret);
    await pageA.getByTestId('new-list').fill('groceries');
    await pageA.getByTestId('new-list').press('Enter');
    await waitShown(pageA, 'groceries');
    await waitMembers(pageA, ['alice']);
    await until(pageA, 'no rows in the new list (the private todo is not in it)', () => !document.querySelector('[data-testid="todo"]'), null);
    await pageA.getByTestId('share-user').fill('bob');
    const sharedAt = Date.now();
    await pageA.getByTestId('share').click();
    await waitMembers(pageA, ['alice', 'bob']);
    const milkId = await addTodo(pageA, 'milk');

    // Bob: the list shows, with its todo and both members.
    await waitListTab(pageBob, 'groceries', STEP_MS);
    const listMs = Date.now() - sharedAt;
    await showList(pageBob, 'groceries');
    await waitRow(pageBob, milkId, { title: 'milk', done: 'false' }, STEP_MS);
    await waitMembers(pageBob, ['alice', 'bob']);

    // The private todo reached the server (alice's other profile has it), yet bob's "My todos" lacks it.
    await waitRow(pageB, secretId, { title: secret }, SLOW_MS);
    await showList(pageBob, null);
    await sleep(300);
    assert.equal(await rowById(pageBob, secretId).count(), 0, "bob's My todos lacks alice's private todo");
    assert.ok(!(await rows(pageBob)).some((r) => r.title === 'milk'), "a list's todo is not in My todos");

    // Bob adds "eggs" to groceries: alice's page (showing groceries) gets it.
    await showList(pageBob, 'groceries');
    const eggsAt = Date.now();
    const eggsId = await addTodo(pageBob, 'eggs');
    await waitRow(pageA, eggsId, { title: 'eggs' }, STEP_MS);
    const eggsMs = Date.now() - eggsAt;
    await waitPending(pageBob, 0, SLOW_MS);
    assert.deepEqual((await rows(pageA)).map((r) => r.title), ['milk', 'eggs'], "alice's groceries: milk, then eggs");

    // Alice removes bob: the list, its todos and its members leave bob's page; bob sees My todos.
    const removedAt = Date.now();
    await pageA.locator('[data-testid="member"][data-user="bob"]').getByTestId('unshare').click();
    await waitMembers(pageA, ['alice']);
    await waitNoListTab(pageBob, 'groceries', STEP_MS);
    const goneMs = Date.now() - removedAt;
    await waitShown(pageBob, null);
    await waitNoRow(pageBob, milkId);
    await waitNoRow(pageBob, eggsId);
    assert.equal(await pageBob.getByTestId('member').count(), 0, 'no list panel on bob\'s page');
    await waitPending(pageA, 0, SLOW_MS);
    assert.deepEqual((await rows(pageA)).map((r) => r.title), ['milk', 'eggs'], 'alice keeps the list and its todos');

    const seen = await pageBob.evaluate(() => Object.keys(window.__e2eSeen));
    assert.ok(!seen.includes(secret), `bob's page never showed alice's private todo (it showed ${JSON.stringify(seen)})`);
    console.log(`e2e: two users: share in A -> list tab in bob's page ${listMs} ms; bob's todo -> A ${eggsMs} ms; unshare in A -> gone from bob's page ${goneMs} ms`);
    await Bob.close(); // stays in `contexts`, so the suite prints its console at the end
  } finally {
    // The other scenarios use "My todos".
    await showList(pageA, null).catch(() => {});
  }
});

test('screenshot of the app with a few todos is a real image', { timeout: 60_000 }, async () => {
  for (const t of ['Buy oat milk', 'Water the plants', 'Call the plumber']) await addTodo(pageA, `${t} (${++seq})`);
  const r = await rows(pageA);
  await rowById(pageA, r.find((x) => x.done === 'false').id).getByTestId('toggle').click();
  await waitPending(pageA, 0, SLOW_MS);
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, 'todo.png');
  await pageA.screenshot({ path: file, fullPage: true, timeout: SLOW_MS });
  const png = fs.readFileSync(file);
  assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'PNG signature');
  assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR', 'first chunk is IHDR');
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  assert.ok(width >= 300 && width <= 4000 && height >= 200 && height <= 20000, `sensible size ${width}x${height}`);
  assert.ok(png.length > 8 * 1024, `non-trivial image (${png.length} bytes)`);
  console.log(`e2e: screenshot ${file} (${width}x${height}, ${png.length} bytes)`);
});

test('figure: Enter in A to the row in B', { timeout: 90_000 }, async () => {
  const xs = [];
  for (let i = 0; i < 10; i++) {
    const title = uniq('latency');
    await addTodo(pageA, title);
    await waitTitle(pageB, title, STEP_MS);
    xs.push(await latency(title));
    await sleep(100);
  }
  figure(`enter in profile A -> row in profile B: ${stats(xs)}`);
  await waitPending(pageA, 0, SLOW_MS);
});

test('with the server stopped a write shows at once, status offline; after a restart it reaches B', { timeout: 120_000 }, async () => {
  await server.stop();
  try {
    const title = uniq('offline');
    const id = await addTodo(pageA, title, 2_000);
    await waitSomePending(pageA); // 'the offline write is pending'
    await waitStatus(pageA, 'offline', SLOW_MS);
    await waitStatus(pageB, 'offline', SLOW_MS);
    assert.equal(await rowById(pageB, id).count(), 0);

    await server.start(); // same port, same database
    // The pages retry with backoff (at most 30 s between tries).
    await waitRow(pageB, id, { title }, RECONNECT_MS);
    await waitPending(pageA, 0, RECONNECT_MS);
    await waitStatus(pageA, 'in sync', RECONNECT_MS);
    await waitStatus(pageB, 'in sync', RECONNECT_MS);
  } finally {
    if (!servers.has(server)) await server.start();
  }
});

test('figure: first render of 1,000 todos from IndexedDB', { timeout: 180_000 }, async () => {
  // Its own server and profile, so the other scenarios' lists stay small.
  const big = new Server('thousand');
  await big.start();
  try {
    const now = Date.now();
    const mutations = Array.from({ length: 1000 }, (_, i) => ({
      clientId: 'e2e-seed-client',
      id: i + 1,
      name: 'createTodo',
      args: { id: `seed-${String(i).padStart(4, '0')}`, title: `Seeded todo ${i + 1}`, updatedAt: now + i },
      timestamp: now,
    }));
    const res = await fetch(`${big.url}/sync/push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': USER },
      body: JSON.stringify({ protocolVersion: 1, schemaVersion: SCHEMA_VERSION, clientGroupId: 'e2e-seed-group', mutations }),
      signal: AbortSignal.timeout(SLOW_MS),
    });
    const answer = await res.text();
    assert.equal(res.status, 200, `seed push: ${answer}`);
    assert.equal(JSON.parse(answer).lastMutationIds['e2e-seed-client'], 1000);

    const C = await profile('C');
    const first = await openApp(C, big, { waitInSync: false });
    await until(first, '1,000 rows after the first sync', () => document.querySelectorAll('[data-testid="todo"]').length === 1000, null, 120_000);
    await waitStatus(first, 'in sync', SLOW_MS);
    await sleep(500); // let the store settle before the tab goes away
    await first.close();

    // A fresh tab: time from navigation start to 1,000 rendered rows, in the page.
    await C.addInitScript(() => {
      const mark = () => {
        const n = document.querySelectorAll('[data-testid="todo"]').length;
        if (n > 0 && window.__e2eFirstRow === undefined) window.__e2eFirstRow = performance.now();
        if (n >= 1000 && window.__e2eAll === undefined) window.__e2eAll = performance.now();
      };
      new MutationObserver(mark).observe(document, { subtree: true, childList: true });
    });
    const page = await C.newPage();
    await page.goto(`${big.url}/?user=${USER}`, { timeout: SLOW_MS });
    await until(page, '1,000 rows in the fresh tab', () => window.__e2eAll !== undefined, null, 60_000);
    const [firstRow, all] = await page.evaluate(() => [window.__e2eFirstRow, window.__e2eAll]);
    assert.equal(await page.getByTestId('todo').count(), 1000);
    figure(`fresh tab, 1,000 todos in IndexedDB: first row at ${firstRow.toFixed(1)} ms, all 1,000 rows at ${all.toFixed(1)} ms after navigation start`);
    await C.close();
    contexts.delete(C);
  } finally {
    await big.stop();
  }
});
