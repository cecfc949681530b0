// Drives headless Chromium (playwright-core, Debian's /usr/bin/chromium) through the
// in-page suites and writes results/results.json + results/README.md.
//
// Usage: node driver.mjs --base http://127.0.0.1:PORT [--suites idb,replicache]
//        [--runs 15] [--warmups 2] [--out results]
// Timing happens inside the page (performance.now()); the driver only sequences
// iterations, so CDP round trips are never inside a timed region.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}
const RENDER = arg('render', null); // --render results/results.json: rewrite README.md only
const BASE = arg('base', process.env.BASE_URL);
if (!BASE && !RENDER) throw new Error('--base http://127.0.0.1:PORT is required');
const SUITES = arg('suites', process.env.SUITES || 'idb,replicache').split(',').filter(Boolean);
const RUNS = Number(arg('runs', process.env.RUNS || 15));
const WARMUPS = Number(arg('warmups', process.env.WARMUPS || 2));
const OUT = path.resolve(arg('out', 'results'));
const CALL_TIMEOUT_MS = Number(process.env.CALL_TIMEOUT_MS || 120000);
const EXECUTABLE = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise((_, rej) => (t = setTimeout(() => rej(new Error(`timeout after ${ms} ms: ${what}`)), ms))),
  ]);
}

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (!n) return null;
  const q = (p) => s[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]; // nearest rank
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  const mean = s.reduce((a, b) => a + b, 0) / n;
  const r = (x) => Math.round(x * 1000) / 1000;
  return { n, median: r(median), p90: r(q(0.9)), min: r(s[0]), max: r(s[n - 1]), mean: r(mean) };
}

// On SIGTERM/SIGINT (run.sh's timeout): stop after the current call, close Chromium,
// and still write what was measured, marked "interrupted".
let activeContext = null;
let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    console.error(`driver: ${sig}, stopping and closing browser`);
    activeContext?.close().catch(() => {});
  });
}

async function runSuite(suite) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'anchor-bench-profile-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: EXECUTABLE,
    headless: true,
    args: FLAGS,
    timeout: 60000,
  });
  activeContext = context;
  const logs = [];
  const result = { suite, meta: null, browser: {}, cases: [], logs };
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') logs.push(`${m.type()}: ${m.text()}`.slice(0, 500));
    });
    page.on('pageerror', (e) => logs.push(`pageerror: ${String(e).slice(0, 500)}`));
    try {
      const cdp = await context.newCDPSession(page);
      const v = await cdp.send('Browser.getVersion');
      result.browser = { product: v.product, userAgent: v.userAgent, jsVersion: v.jsVersion };
      await cdp.detach();
      // full command line as Chromium saw it (our flags plus playwright-core's defaults)
      await page.goto('chrome://version', { timeout: 10000 });
      result.browser.commandLine = (await page.textContent('#command_line', { timeout: 5000 }))?.trim();
    } catch (e) {
      result.browser.error = String(e);
    }
    const url = `${BASE}/web/bench.html?suite=${suite}&runs=${RUNS}&warmups=${WARMUPS}&sync=${encodeURIComponent(process.env.PLASMA_SYNC_URL || "")}`;
    await page.goto(url, { waitUntil: 'load', timeout: 30000 });
    await page.waitForFunction(() => globalThis.__suiteLoaded || globalThis.__suiteError, null, { timeout: 30000 });
    const err = await page.evaluate(() => globalThis.__suiteError || null);
    if (err) throw new Error(`suite ${suite} failed to load: ${err}`);
    const info = await page.evaluate(() => ({ meta: globalThis.__suite.meta, cases: globalThis.__suite.cases }));
    result.meta = info.meta;
    const only = process.env.CASES ? new Set(process.env.CASES.split(',')) : null;
    for (const c of info.cases) {
      if (stopping) break;
      if (only && !only.has(c.id)) continue;
      const rec = { ...c, samples: {}, stats: {} };
      result.cases.push(rec);
      const t0 = Date.now();
      try {
        await withTimeout(page.evaluate((id) => globalThis.__suite.prepare(id), c.id), CALL_TIMEOUT_MS, `${c.id} prepare`);
        for (let i = 0; i < c.warmups + c.iterations; i++) {
          if (stopping) throw new Error('interrupted');
          const r = await withTimeout(
            page.evaluate(([id, it]) => globalThis.__suite.run(id, it), [c.id, i]),
            CALL_TIMEOUT_MS, `${c.id} run ${i}`);
          if (i < c.warmups) continue; // discarded warm-ups
          for (const [k, v] of Object.entries(r)) (rec.samples[k] ||= []).push(v);
        }
        await withTimeout(page.evaluate((id) => globalThis.__suite.cleanup(id), c.id), CALL_TIMEOUT_MS, `${c.id} cleanup`);
        for (const [k, v] of Object.entries(rec.samples)) rec.stats[k] = stats(v);
      } catch (e) {
        rec.error = String(e && e.message || e);
        console.error(`  ${suite}/${c.id}: ERROR ${rec.error}`);
        if (stopping) break;
        // a failed case may leave the page in a bad state: reload for the next case
        await page.goto(url, { waitUntil: 'load', timeout: 30000 }).catch(() => {});
        await page.waitForFunction(() => globalThis.__suiteLoaded, null, { timeout: 30000 }).catch(() => {});
      }
      const s = rec.stats.ms;
      console.log(`  ${suite}/${c.id}: ${s ? `median ${s.median} ms, p90 ${s.p90} ms (n=${s.n})` : 'no data'} [${((Date.now() - t0) / 1000).toFixed(1)} s]`);
    }
  } finally {
    await context.close().catch(() => {});
    activeContext = null;
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  return result;
}

function pkgVersion(name) {
  // read node_modules/<name>/package.json directly: "exports" maps may hide it from require.resolve
  try {
    return JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

const fmt = (x) => (x == null ? '' : Number.isInteger(x) ? String(x) : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

function renderReadme(doc) {
  const L = [];
  L.push('# anchor-bench results', '');
  if (doc.interrupted) L.push('**INTERRUPTED** (time limit or signal): partial results.', '');
  L.push(`Generated ${doc.generatedAt} by \`run.sh\` (see ../README.md). Numbers are milliseconds unless the metric says otherwise.`, '');
  L.push(`- Browser: ${doc.browser.product || '?'} (headless, Debian \`${EXECUTABLE}\`), driven by playwright-core ${doc.versions['playwright-core']}`);
  L.push(`- Replicache: ${doc.versions.replicache}; esbuild ${doc.versions.esbuild}; node ${doc.host.node}`);
  L.push(`- Host: ${doc.host.cpus} x ${doc.host.cpuModel}, ${doc.host.memGiB} GiB RAM, ${doc.host.platform}`);
  L.push(`- Runs: ${doc.config.warmups} warm-ups discarded, then ${doc.config.runs} measured (subscription case: 50); median and p90 (nearest rank) over the measured runs`);
  L.push(`- Page cross-origin isolated (timer resolution ~5 us): ${doc.suites.map((s) => `${s.suite}=${s.meta?.crossOriginIsolated}`).join(', ')}`, '');
  for (const s of doc.suites) {
    L.push(`## ${s.suite}: ${s.meta?.description || ''}`, '');
    L.push('| id | case | metric | n | median | p90 | min | max |');
    L.push('|---|---|---|---:|---:|---:|---:|---:|');
    for (const c of s.cases) {
      if (c.error) {
        L.push(`| ${c.group} | \`${c.id}\` — ${c.label} | ERROR: ${c.error.replace(/\|/g, '/')} | | | | | |`);
        continue;
      }
      let first = true;
      for (const [k, st] of Object.entries(c.stats)) {
        if (k === 'hook_ms') continue; // instrumentation overhead, kept in JSON
        const name = first ? `\`${c.id}\` — ${c.label}` : '';
        L.push(`| ${first ? c.group : ''} | ${name} | ${k} | ${st.n} | ${fmt(st.median)} | ${fmt(st.p90)} | ${fmt(st.min)} | ${fmt(st.max)} |`);
        first = false;
      }
    }
    const notes = s.cases.filter((c) => c.note).map((c) => `- \`${c.id}\`: ${c.note}`);
    if (notes.length) L.push('', ...notes);
    if (s.logs.length) L.push('', `Console errors/warnings captured: ${s.logs.length} (see results.json).`);
    L.push('');
  }
  // Side-by-side table for case ids that several suites implement (e.g. a future plasma suite).
  const ids = new Map();
  for (const s of doc.suites) for (const c of s.cases) if (c.stats.ms) (ids.get(c.id) || ids.set(c.id, new Map()).get(c.id)).set(s.suite, c.stats.ms);
  const shared = [...ids].filter(([, m]) => m.size > 1);
  if (shared.length) {
    L.push('## Side by side (case ids implemented by several suites; median / p90 ms)', '');
    L.push(`| id | ${doc.suites.map((s) => s.suite).join(' | ')} |`);
    L.push(`|---|${doc.suites.map(() => '---:').join('|')}|`);
    for (const [id, m] of shared) L.push(`| \`${id}\` | ${doc.suites.map((s) => (m.get(s.suite) ? `${fmt(m.get(s.suite).median)} / ${fmt(m.get(s.suite).p90)}` : '')).join(' | ')} |`);
    L.push('');
  }
  L.push('## How to read these', '');
  L.push(...CAVEATS.map((c) => `- ${c}`), '');
  return L.join('\n');
}

const CAVEATS = [
  'Replicache writes go to an in-memory dag first; `mutate()` resolves and reads see the data before anything reaches IndexedDB. The `ms` of 2a is therefore in-memory; `persisted_ms` (same start, until the IndexedDB transaction holding the last value completed) is the figure to compare with the raw IndexedDB populate numbers.',
  'Replicache persists on its own schedule: after a change it waits for `requestIdleCallback` (timeout 1000 ms) and spaces persists at least 500 ms apart; its IndexedDB write transactions use `durability: "relaxed"`. `persist_1key_scheduled` includes that wait; `persist_*_explicit` call `persist()` directly (class `ReplicacheImpl`, public subpath `replicache/impl`, scheduled persist disabled) and time only the copy to IndexedDB.',
  'Persist detection wraps `IDBObjectStore.prototype.put` and JSON-stringifies chunks only while a watch is active; that overhead (`hook_ms` in results.json) is subtracted from the persisted figures.',
  'Replicache stores mutation arguments in its commits, so 1000 x 1 KB written through mutations also writes those arguments (about twice the bytes of the raw IndexedDB case).',
  'Local only, nothing ever acknowledges a mutation, so every local commit stays pending and is persisted with its own snapshot: persisting 1000 separate mutations takes thousands of IndexedDB puts in one transaction (`persist_txn_puts`), whereas one 1000-key mutation takes far fewer. Not measured here: with a server, acknowledged mutations leave the pending chain (per the `mutators` doc in the .d.ts).',
  'Raw IndexedDB: `durability` unset is Chromium\'s default; compare it with the explicit `relaxed` and `strict` rows (strict asks the backend to flush to disk on every commit).',
  '`scan_*` read from Replicache\'s in-memory cache (warm); `open_scan_1024x10000_cold` opens a new client on the persisted data and so reads IndexedDB (Chromium\'s own LevelDB caches are still warm).',
  'Raw IndexedDB values are 1024-char strings stored by structured clone under string keys in one object store; each populate iteration uses a fresh database.',
  'Absolute numbers are from a 2-core container with no GPU and noisy shared storage: between two back-to-back runs the raw IndexedDB medians moved by up to ~45% (getAll 10k: 149 vs 218 ms), Replicache in-memory figures by ~10-25%. Compare systems within one run of this harness on one machine, and repeat runs before trusting differences under ~1.5x.',
];

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  if (RENDER) {
    const doc = JSON.parse(fs.readFileSync(RENDER, 'utf8'));
    fs.writeFileSync(path.join(OUT, 'README.md'), renderReadme(doc));
    console.log(`rendered ${path.join(OUT, 'README.md')} from ${RENDER}`);
    return;
  }
  const doc = {
    generatedAt: new Date().toISOString(),
    config: { runs: RUNS, warmups: WARMUPS, suites: SUITES, launchFlags: FLAGS, executablePath: EXECUTABLE },
    versions: {
      replicache: pkgVersion('replicache'),
      'playwright-core': pkgVersion('playwright-core'),
      esbuild: pkgVersion('esbuild'),
    },
    host: {
      platform: `${os.type()} ${os.release()} ${os.arch()}`,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
    },
    browser: {},
    suites: [],
  };
  for (const suite of SUITES) {
    if (stopping) break;
    console.log(`suite ${suite}`);
    const r = await runSuite(suite);
    doc.browser = r.browser;
    delete r.browser;
    doc.suites.push(r);
  }
  if (stopping) doc.interrupted = true;
  fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(doc, null, 2) + '\n');
  fs.writeFileSync(path.join(OUT, 'README.md'), renderReadme(doc));
  console.log(`wrote ${path.join(OUT, 'results.json')} and README.md`);
  const failed = doc.suites.flatMap((s) => s.cases.filter((c) => c.error).map((c) => `${s.suite}/${c.id}`));
  if (failed.length) {
    console.error(`failed cases: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
  if (stopping) process.exit(124);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
