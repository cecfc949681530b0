//! Differential test in the browser: random rows, queries and writes
//! (`plasma_conformance::fuzz`, the generators SQLite is checked with) give
//! exactly the same rows on IndexedDB as on the in-memory executor. The fuzz
//! table indexes most columns, so random filters and `ORDER BY .. LIMIT`
//! exercise every index access path against the evaluator.
//!
//! proptest's runner is synchronous, so the loop is driven by hand: generate a
//! case, await it, and on failure shrink it (awaiting each candidate) before
//! failing with the minimal case and the seed that reproduces the run.

#![cfg(target_arch = "wasm32")]

use std::fmt::Debug;

use plasma::MemoryExecutor;
use plasma::exec::indexeddb::IndexedDbExecutor;
use plasma_conformance::fuzz::{self, SCHEMA, rows, select, write};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// Cases per property: enough to reach every access path many times, while
/// the whole browser suite stays well under a minute (about 5 s each).
const CASES: u32 = 256;
/// Shrinking steps at most, once a case fails.
const SHRINK_STEPS: u32 = 512;

/// Generates `CASES` values of `strategy` and checks each with `check`.
async fn property<S, F>(strategy: S, mut check: F)
where
    S: Strategy,
    S::Value: Debug,
    F: AsyncFnMut(&S::Value) -> Result<(), String>,
{
    let seed: [u8; 32] = std::array::from_fn(|_| (js_sys::Math::random() * 256.0) as u8);
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
    let mut runner = TestRunner::new_with_rng(Config { cases: CASES, ..Config::default() }, rng);
    for case in 0..CASES {
        let mut tree = strategy.new_tree(&mut runner).expect("generate a case");
        let Err(first) = check(&tree.current()).await else { continue };
        let mut minimal = (tree.current(), first);
        let mut failing = true;
        for _ in 0..SHRINK_STEPS {
            let moved = if failing { tree.simplify() } else { tree.complicate() };
            if !moved {
                break;
            }
            match check(&tree.current()).await {
                Err(why) => {
                    failing = true;
                    minimal = (tree.current(), why);
                }
                Ok(()) => failing = false,
            }
        }
        panic!("case {case} failed (ChaCha seed {seed:?}); minimal input:\n{:#?}\n{}", minimal.0, minimal.1);
    }
}

/// A new database for one case. Reusing one database and deleting its rows
/// between cases makes Chromium's IndexedDB slower with every case (deleted
/// entries linger in its LevelDB until compaction: 256 cases went from 5 s to
/// 77 s), so each case gets its own.
async fn fresh_db() -> IndexedDbExecutor {
    let name = format!("plasma-fuzz-{}-{}", js_sys::Date::now(), js_sys::Math::random());
    IndexedDbExecutor::open(&name, &SCHEMA).await.expect("open")
}

#[wasm_bindgen_test]
async fn selects_agree_with_memory() {
    let cases = (rows(), proptest::collection::vec(select(), 1..8));
    property(cases, async |(rows, queries)| {
        fuzz::selects_agree(&MemoryExecutor::new(&SCHEMA), &fresh_db().await, rows, queries).await
    })
    .await;
}

#[wasm_bindgen_test]
async fn writes_agree_with_memory() {
    let cases = (rows(), proptest::collection::vec(write(), 1..6));
    property(cases, async |(rows, writes)| {
        fuzz::writes_agree(&MemoryExecutor::new(&SCHEMA), &fresh_db().await, rows, writes).await
    })
    .await;
}
