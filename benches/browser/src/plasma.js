// Suite "plasma": plasma's wasm client (benches/browser/wasm) on IndexedDB, the
// same cases and payloads as the replicache suite, plus initial sync from the
// real server (kv-server on 127.0.0.1, URL in ?sync=).
//
// Every call below is the client's public API as a wasm app uses it: `put` is
// `client.mutate::<put>` (optimistic, visible when it returns), `persisted` is
// `client.persisted()` (resolves when IndexedDB committed), `subscribe` is a
// live query whose diffs are applied to a row list, as a UI binding does.
import init, { PlasmaBench } from '../pkg/plasma_browser_bench.js';
import { now, sleep, payload, key, records, uniqueName, registerSuite } from './common.js';

await init({ module_or_path: '/pkg/plasma_browser_bench_bg.wasm' });

const params = new URLSearchParams(location.search);
const RUNS = Number(params.get('runs') || 15);
const WARMUPS = Number(params.get('warmups') || 2);
const SUB_RUNS = Math.max(50, RUNS);
// Servers seeded with 10,000 and 100,000 rows: `sync` is `URL10K,URL100K`.
const [SYNC_10K, SYNC_100K] = (params.get('sync') || ',').split(',');

async function open(group, endpoint = '') {
  return PlasmaBench.open(group, endpoint);
}

async function dispose(bench, group) {
  bench.free();
  await sleep(20);
  await PlasmaBench.deleteDatabase(group);
}

// ---- 2a populate ------------------------------------------------------------
const recs1k = records(1000, 0);

function populateCase(mode, memory = false) {
  return {
    id: (mode === 'mutations' ? 'populate_1024x1000_1000_mutations' : 'populate_1024x1000_1_mutation') + (memory ? '_memory_store' : ''),
    group: '2a',
    label: mode === 'mutations'
      ? 'populate 1000 x 1 KB as 1000 awaited mutations, until visible to a query'
      : 'populate 1000 x 1 KB as ONE mutation setting 1000 keys, until visible to a query',
    iterations: RUNS,
    warmups: WARMUPS,
    note: 'extra: persisted_ms = same start, until client.persisted() resolved (the IndexedDB transactions committed)',
    run: async () => {
      const group = uniqueName('plasma-pop');
      const bench = memory ? await PlasmaBench.openInMemory(group) : await open(group);
      await sleep(300);
      const [lastK, lastV] = recs1k[recs1k.length - 1];
      const t0 = now();
      if (mode === 'mutations') {
        for (const [k, v] of recs1k) await bench.put(k, v);
      } else {
        await bench.putMany(recs1k.map(([k]) => k), recs1k.map(([, v]) => v));
      }
      const got = bench.get(lastK);
      const t1 = now();
      if (got !== lastV) throw new Error('last write not visible');
      await bench.persisted();
      const tp = now();
      await dispose(bench, group);
      return { ms: t1 - t0, persisted_ms: tp - t0 };
    },
  };
}

// ---- 2b scan ----------------------------------------------------------------
let scanBench = null;
let scanGroup = null;
async function prepareScan() {
  if (scanBench) return;
  scanGroup = uniqueName('plasma-scan');
  scanBench = await open(scanGroup);
  for (let b = 0; b < 10; b++) {
    const entries = records(1000, b * 1000).map(([, v], i) => [key('k', b * 1000 + i), v]);
    await scanBench.putMany(entries.map(([k]) => k), entries.map(([, v]) => v));
  }
  await scanBench.persisted();
  await sleep(1000);
}

// The values of a `scanPacked` answer: one text, cut at each end offset
// (V8 shares the text between the substrings).
function unpack([text, ends]) {
  const values = new Array(ends.length);
  let start = 0;
  for (let i = 0; i < ends.length; i++) {
    values[i] = text.substring(start, ends[i]);
    start = ends[i];
  }
  return values;
}

function scanAll(bench) {
  const values = unpack(bench.scanPacked());
  let bytes = 0;
  for (const v of values) bytes += v.length;
  return { n: values.length, bytes };
}
function checkScan(r) {
  if (r.n !== 10000 || r.bytes !== 10000 * 1024) throw new Error(`scan saw ${r.n} values, ${r.bytes} bytes`);
}

// ---- 2c subscriptions -------------------------------------------------------
let subBench = null;
let subGroup = null;
let subState = null;
const NPREFIX = 100;
const PER_PREFIX = 10;
const prefixOf = (p) => `p${String(p).padStart(3, '0')}/`;
// Keys `p042/0`..`p042/9` sort between `p042/` and `p0420` ('/' < '0').
const prefixEnd = (p) => `p${String(p).padStart(3, '0')}0`;

async function prepareSubs() {
  subGroup = uniqueName('plasma-subs');
  subBench = await open(subGroup);
  const keys = [];
  const values = [];
  for (let p = 0; p < NPREFIX; p++) {
    for (let j = 0; j < PER_PREFIX; j++) {
      keys.push(`${prefixOf(p)}${j}`);
      values.push(payload(p * PER_PREFIX + j));
    }
  }
  await subBench.putMany(keys, values);
  subState = { pending: null, fires: 0 };
  for (let p = 0; p < NPREFIX; p++) {
    let first = true;
    subBench.subscribe(prefixOf(p), prefixEnd(p), (res) => {
      subState.fires++;
      if (first) {
        first = false;
        if (res.length !== PER_PREFIX) throw new Error(`prefix ${prefixOf(p)} has ${res.length} keys`);
        return;
      }
      const pend = subState.pending;
      if (!pend) return;
      const want = pend.targets.get(p);
      if (want !== undefined && !pend.seen.has(p)) {
        if (res[want.j] !== want.v) pend.wrong++;
        pend.seen.add(p);
        if (pend.seen.size === pend.targets.size) pend.done(now());
      } else {
        pend.spurious++;
      }
    });
  }
  await subBench.persisted();
  await sleep(1500);
}

// ---- initial sync -------------------------------------------------------------
function syncCase(rows, iterations) {
  return {
    id: `initial_sync_1024x${rows}`,
    group: '2e',
    label: `initial sync of ${rows} x 1 KB from the real server (kv-server on 127.0.0.1) into IndexedDB, until persisted`,
    iterations,
    warmups: 1,
    note: 'extra: visible_ms = until the rows were queryable; rows_per_s over ms; pages = pull pages (progress events)',
    run: async () => {
      const url = rows === 10000 ? SYNC_10K : SYNC_100K;
      if (!url) throw new Error('no ?sync= server URL (run.sh starts kv-server when the plasma suite runs)');
      const group = uniqueName(`plasma-sync${rows}`);
      const bench = await open(group, `${url}/sync`);
      let progress = 0;
      const t0 = now();
      const pages = await bench.syncUntil(rows, () => progress++);
      const t1 = now();
      await bench.persisted();
      const t2 = now();
      if (bench.count() !== rows) throw new Error(`synced ${bench.count()} rows, expected ${rows}`);
      if (progress < 1) throw new Error('no progress events');
      await dispose(bench, group);
      return { ms: t2 - t0, visible_ms: t1 - t0, rows_per_s: rows / ((t2 - t0) / 1000), pages };
    },
  };
}

const cases = [
  populateCase('mutations'),
  populateCase('one'),
  // Diagnostic: the same without IndexedDB (a MemoryStore), to split the cost.
  populateCase('mutations', true),
  {
    id: 'scan_1024x10000',
    group: '2b',
    label: 'every row of local state, 10000 x 1 KB, into JS strings (warm, in memory; one decode, cut with substring)',
    iterations: RUNS,
    warmups: WARMUPS,
    prepare: prepareScan,
    note: 'extra: wasm_ms = the scan and the one decode (scanPacked), the rest is cutting the text in JS',
    run: async () => {
      const t0 = now();
      const packed = scanBench.scanPacked();
      const t1 = now();
      const values = unpack(packed);
      let bytes = 0;
      for (const v of values) bytes += v.length;
      const ms = now() - t0;
      checkScan({ n: values.length, bytes });
      return { ms, wasm_ms: t1 - t0 };
    },
  },
  {
    id: 'scan_1024x10000_rust',
    group: '2b',
    label: 'client.query of every row, 10000 x 1 KB, as typed Rust rows (what a Rust UI reads; nothing handed to JS)',
    iterations: RUNS,
    warmups: WARMUPS,
    prepare: prepareScan,
    run: async () => {
      const t0 = now();
      const bytes = scanBench.scanRust();
      const ms = now() - t0;
      if (bytes !== 10000 * 1024) throw new Error(`scan saw ${bytes} bytes`);
      return { ms };
    },
  },
  {
    id: 'open_scan_1024x10000_cold',
    group: '2b',
    label: 'open a client on persisted 10000 x 1 KB + first full scan (reads IndexedDB)',
    iterations: RUNS,
    warmups: WARMUPS,
    note: 'extra metric open_ms = until the client was built (store loaded)',
    prepare: async () => {
      await prepareScan();
      // Close the writer (as a closed tab): the new client adopts its queue.
      if (scanBench) {
        scanBench.free();
        scanBench = null;
        await sleep(100);
      }
    },
    run: async () => {
      const t0 = now();
      const bench = await open(scanGroup);
      const t1 = now();
      const r = scanAll(bench);
      const t2 = now();
      checkScan(r);
      bench.free();
      await sleep(50);
      return { ms: t2 - t0, open_ms: t1 - t0 };
    },
    cleanup: async () => {
      if (scanBench) scanBench.free();
      scanBench = null;
      await PlasmaBench.deleteDatabase(scanGroup);
    },
  },
  {
    id: 'subscribe_100x10_dirty5',
    group: '2c',
    label: '100 live queries (a 10-key range each); one mutation dirties 5 ranges; mutate() call -> 5th callback',
    iterations: SUB_RUNS,
    warmups: WARMUPS,
    note: 'extra: mutate_ms = until mutate() returned; spurious = callbacks on untouched ranges (expect 0)',
    prepare: prepareSubs,
    run: async (i) => {
      const targets = new Map();
      const keys = [];
      const values = [];
      for (let j = 0; j < 5; j++) {
        const p = (i * 13 + j * 20) % NPREFIX;
        const slot = i % PER_PREFIX;
        const v = payload(1_000_000 + i * 5 + j);
        targets.set(p, { j: slot, v });
        keys.push(`${prefixOf(p)}${slot}`);
        values.push(v);
      }
      let done;
      const allFired = new Promise((r) => (done = r));
      subState.pending = { targets, seen: new Set(), spurious: 0, wrong: 0, done };
      const t0 = now();
      subBench.putMany(keys, values);
      const tm = now();
      const t1 = await allFired;
      await sleep(20);
      const pend = subState.pending;
      subState.pending = null;
      if (pend.wrong) throw new Error(`${pend.wrong} live queries saw stale data`);
      return { ms: t1 - t0, mutate_ms: tm - t0, spurious: pend.spurious };
    },
    cleanup: async () => {
      if (subBench) await dispose(subBench, subGroup);
      subBench = null;
    },
  },
  {
    id: 'persist_1key_explicit',
    group: '2d',
    label: 'mutate one 1 KB key, then await client.persisted() (IndexedDB committed)',
    iterations: RUNS,
    warmups: WARMUPS,
    prepare: async () => {
      persistGroup = uniqueName('plasma-persist');
      persistBench = await open(persistGroup);
      await persistBench.putMany(recs1k.map(([k]) => k), recs1k.map(([, v]) => v));
      await persistBench.persisted();
      await sleep(500);
    },
    run: async (i) => {
      const t0 = now();
      persistBench.put(key('one', i), payload(2_000_000 + i));
      await persistBench.persisted();
      return { ms: now() - t0 };
    },
    cleanup: async () => {
      if (persistBench) await dispose(persistBench, persistGroup);
      persistBench = null;
    },
  },
  {
    id: 'persist_1024x1000_explicit',
    group: '2d',
    label: 'one mutation setting 1000 x 1 KB, then await client.persisted()',
    iterations: RUNS,
    warmups: WARMUPS,
    run: async (i) => {
      const group = uniqueName('plasma-persist-many');
      const bench = await open(group);
      await sleep(200);
      const t0 = now();
      bench.putMany(recs1k.map(([k]) => `${k}/${i}`), recs1k.map(([, v]) => v));
      await bench.persisted();
      const ms = now() - t0;
      await dispose(bench, group);
      return { ms };
    },
  },
  syncCase(10000, Math.min(RUNS, 5)),
  syncCase(100000, Math.min(RUNS, 3)),
];

let persistBench = null;
let persistGroup = null;

registerSuite('plasma', { name: 'plasma', version: 'workspace' }, cases);
