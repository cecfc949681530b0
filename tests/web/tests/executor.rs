//! The executor conformance scenarios (`plasma_conformance::executor`) on the
//! IndexedDB executor in headless Chromium, each on a fresh database. The
//! same scenarios run natively on memory and SQLite
//! (`tests/tests/executor_conformance.rs`).

#![cfg(target_arch = "wasm32")]

use plasma::exec::indexeddb::IndexedDbExecutor;
use plasma_conformance::fixtures::SCHEMA;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// A new, empty database named after the test.
async fn fresh(test: &str) -> IndexedDbExecutor {
    let name = format!("plasma-executor-{test}-{}", js_sys::Date::now());
    IndexedDbExecutor::delete(&name).await.expect("delete leftovers");
    IndexedDbExecutor::open(&name, &SCHEMA).await.expect("open")
}

macro_rules! on_indexeddb {
    ($($scenario:ident),* $(,)?) => {
        $(
            #[wasm_bindgen_test]
            async fn $scenario() {
                let db = fresh(stringify!($scenario)).await;
                plasma_conformance::executor::$scenario(&db).await;
            }
        )*
    };
}

plasma_conformance::executor_scenarios!(on_indexeddb);
