//! The IndexedDB store in headless Chromium: the shared store and live-query
//! conformance scenarios on a real database (a fresh one per test, deleted
//! afterwards), plus what only IndexedDB has: `flush` reports a transaction
//! that aborted, and DOMExceptions are kept as error sources.

#![cfg(target_arch = "wasm32")]

mod common;

use common::Idb;
use plasma::client::{IdbError, IndexedDbStore, PullCommit, Store, StoreError};
use plasma_conformance::store::{StoreFactory, load, meta, record};
use plasma_conformance::{live, store};
use todo::{SCHEMA, SCHEMA_VERSION};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn reopen_keeps_pending_and_snapshot() {
    let db = Idb::fresh("reopen");
    store::reopen_keeps_pending_and_snapshot(&db).await;
    db.delete().await;
}

#[wasm_bindgen_test]
async fn a_burst_of_large_mutations_survives_partial_confirmation() {
    let db = Idb::fresh("burst");
    store::a_burst_of_large_mutations_survives_partial_confirmation(&db).await;
    db.delete().await;
}

#[wasm_bindgen_test]
async fn reset_replaces_snapshot_and_identity() {
    let db = Idb::fresh("reset");
    store::reset_replaces_snapshot_and_identity(&db).await;
    db.delete().await;
}

#[wasm_bindgen_test]
async fn incompatible_version_keeps_unpushed() {
    let db = Idb::fresh("incompatible");
    store::incompatible_version_keeps_unpushed(&db).await;
    db.delete().await;
}

#[wasm_bindgen_test]
async fn stages_a_reset_beside_the_snapshot_and_swaps_it_in() {
    let db = Idb::fresh("stage");
    assert!(store::staged_reset_swaps_in(&db).await, "the IndexedDB store stages");
    db.delete().await;
}

#[wasm_bindgen_test]
async fn live_rebase_notifies_only_the_net_difference() {
    let db = Idb::fresh("live-rebase");
    live::a_rebase_notifies_only_the_net_difference(&db).await;
    db.delete().await;
}

#[wasm_bindgen_test]
async fn live_reset_in_bulk_notifies_exactly_what_changed() {
    let db = Idb::fresh("live-reset");
    live::a_reset_built_in_bulk_notifies_exactly_what_changed(&db).await;
    db.delete().await;
}

/// A write transaction that aborts after its writes were issued fails the
/// next flush (flush waits for the commit, it does not just return), with
/// the reason kept as the source, and the store stays failed.
#[wasm_bindgen_test]
async fn flush_reports_a_transaction_that_aborted() {
    use std::error::Error as _;
    let db = Idb::fresh("abort");
    let store = db.open().await;
    assert!(load(&store, SCHEMA_VERSION).await.expect("load").is_none());
    store.init(store::GROUP, SCHEMA_VERSION, &meta("c1", 1, 0, None)).expect("init");
    store.flush().await.expect("flush");
    // Another connection plants a snapshot meta this build cannot read.
    common::raw_put(&db.0, "meta", "snapshot", "not json").await;

    let confirmed = meta("c1", 1, 0, Some(1));
    store
        .commit_pull(PullCommit {
            schema: &SCHEMA,
            meta: &confirmed,
            last_mutation_ids: &Default::default(),
            changes: &[],
            staged: false,
        })
        .expect("issued: the snapshot is read inside the transaction");
    // Joins the same transaction (same task), so it is lost with it.
    store.append_pending(&meta("c1", 2, 0, Some(1)), &record("c1", 1)).expect("issued");
    let err = store.flush().await.expect_err("the transaction aborted: flush must not report success");
    let StoreError::Io { message, .. } = &err else { panic!("expected an I/O error, got {err:?}") };
    assert!(message.contains("snapshot meta does not decode"), "{message}");
    let source = err.source().expect("a source");
    assert!(source.downcast_ref::<IdbError>().is_some(), "the source is the IndexedDB error: {source:?}");
    assert!(store.append_pending(&meta("c1", 3, 0, None), &record("c1", 2)).is_err(), "a failed store stays failed");
    assert!(store.flush().await.is_err());
    drop(store);

    // Nothing of the aborted transaction committed, the queued mutation included.
    common::raw_put(&db.0, "meta", "snapshot", r#"{"slot":"s0","cookie":null,"lmids":{}}"#).await;
    let store = db.open().await;
    let persisted = store::loaded(&store).await;
    assert!(persisted.pending.is_empty(), "the aborted batch left nothing: {:?}", persisted.pending);
    drop(store);
    db.delete().await;
}

/// A connection that is closed (another wants to delete the database)
/// refuses writes with the DOMException as the source.
#[wasm_bindgen_test]
async fn a_closed_database_refuses_writes_with_the_dom_exception() {
    use std::error::Error as _;
    let db = Idb::fresh("closed");
    let store = db.open().await;
    assert!(load(&store, SCHEMA_VERSION).await.expect("load").is_none());
    // Deleting asks open connections to close; the store does, so it completes.
    IndexedDbStore::delete_database(&db.0).await.expect("delete");
    let err = store.init(store::GROUP, SCHEMA_VERSION, &meta("c1", 1, 0, None)).expect_err("closed");
    let source = err.source().and_then(|s| s.downcast_ref::<IdbError>()).expect("an IdbError source");
    assert_eq!(source.name, "InvalidStateError", "{source}");
}

/// A tab that closes in the middle of a staged reset leaves its stage
/// behind; the next tab to load deletes it, but never the stage of a tab
/// that is still open (it may still commit it).
#[wasm_bindgen_test]
async fn a_reset_abandoned_midway_leaves_no_rows_behind() {
    use plasma::client::Change;
    use plasma_conformance::store::{commit, loaded, titles, todo_row};
    let db = Idb::fresh("abandoned-stage");
    let staged = |n: usize| {
        let (table, _) = todo_row("x", "x");
        (0..n).map(|i| Change::Put(table, todo_row(&format!("s{i}"), "staged").1)).collect::<Vec<_>>()
    };

    let tab = db.open().await;
    assert!(load(&tab, SCHEMA_VERSION).await.expect("load").is_none());
    tab.init(store::GROUP, SCHEMA_VERSION, &meta("c1", 1, 0, None)).expect("init");
    let (table, a) = todo_row("a", "kept");
    commit(&tab, &meta("c1", 1, 0, Some(1)), vec![Change::Put(table, a)]);
    assert!(tab.begin_stage(&SCHEMA).expect("begin"));
    tab.stage(&SCHEMA, &staged(40)).expect("stage");
    tab.flush().await.expect("flush");
    assert_eq!(common::raw_count(&db.0, "rows").await, 41);

    // Another tab opens while the first is still open: the stage is left alone.
    let other = db.open().await;
    assert_eq!(titles(&loaded(&other).await), ["kept"], "a stage is invisible");
    assert_eq!(common::raw_count(&db.0, "rows").await, 41, "a live tab's stage is kept");
    drop(other);

    // The staging tab closes mid-reset; the next tab to open cleans up.
    drop(tab);
    let next = db.open().await;
    assert_eq!(titles(&loaded(&next).await), ["kept"]);
    assert_eq!(common::raw_count(&db.0, "rows").await, 1, "the abandoned stage's rows are gone");
    drop(next);
    db.delete().await;
}
