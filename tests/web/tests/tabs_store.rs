//! Several tabs on one IndexedDB database (two stores in one page stand in
//! for two tabs): each resumes or starts its own client, never one another
//! tab holds; a closed tab's unpushed queue is adopted by the next tab; and
//! the shared snapshot only moves forward, whatever order pulls commit in.

#![cfg(target_arch = "wasm32")]

mod common;

use common::Idb;
use common::platform::sleep_ms;
use plasma::client::{Change, PullCommit, Store};
use plasma_conformance::store::{GROUP, StoreFactory, commit, load, loaded, meta, record, titles, todo_row};
use todo::{SCHEMA, SCHEMA_VERSION};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn each_tab_is_its_own_client_and_a_closed_tabs_queue_is_adopted() {
    let db = Idb::fresh("tabs-clients");
    let a = db.open().await;
    assert!(load(&a, SCHEMA_VERSION).await.expect("load").is_none(), "fresh");
    a.init(GROUP, SCHEMA_VERSION, &meta("c1", 1, 0, None)).expect("init");
    a.append_pending(&meta("c1", 2, 0, None), &record("c1", 1)).expect("append");
    let (table, row) = todo_row("a", "alpha");
    commit(&a, &meta("c1", 2, 0, Some(2)), vec![Change::Put(table, row)]);
    a.flush().await.expect("flush");

    // A second tab: c1 is held by the first, so it starts a new client on
    // the shared snapshot (offline, it already shows the rows).
    let b = db.open().await;
    let tab_b = loaded(&b).await;
    let b_id = tab_b.meta.client_id.clone();
    assert_ne!(b_id, "c1", "two open tabs never write as one client");
    assert_eq!(titles(&tab_b), ["alpha"], "the snapshot is shared");
    assert_eq!(tab_b.meta.cookie, Some(plasma::protocol::Cookie::at(2)));
    assert!(tab_b.pending.is_empty(), "the other tab's queue is not this client's");
    b.append_pending(&meta(&b_id, 2, 0, Some(2)), &record(&b_id, 1)).expect("append");
    b.flush().await.expect("flush");

    // Both queues are intact: same mutation id, different clients.
    let c = db.open().await;
    let tab_c = loaded(&c).await;
    assert!(tab_c.meta.client_id != "c1" && tab_c.meta.client_id != b_id, "a third tab gets a third client");
    drop(c);

    // The first tab closes before pushing; the next tab to open adopts its client and queue.
    drop(a);
    sleep_ms(20).await; // the browser releases the closed tab's lock
    let d = db.open().await;
    let tab_d = loaded(&d).await;
    assert_eq!(tab_d.meta.client_id, "c1", "the orphaned client is resumed");
    assert_eq!(tab_d.pending.iter().map(|r| (r.client_id.as_str(), r.id)).collect::<Vec<_>>(), [("c1", 1)]);
    drop((b, d));
    db.delete().await;
}

#[wasm_bindgen_test]
async fn the_shared_snapshot_only_moves_forward() {
    let db = Idb::fresh("tabs-forward");
    let a = db.open().await;
    assert!(load(&a, SCHEMA_VERSION).await.expect("load").is_none(), "fresh");
    a.init(GROUP, SCHEMA_VERSION, &meta("c1", 1, 0, None)).expect("init");
    let (table, row) = todo_row("a", "alpha");
    commit(&a, &meta("c1", 1, 0, Some(2)), vec![Change::Put(table, row)]);
    a.flush().await.expect("flush");
    let b = db.open().await;
    let b_id = loaded(&b).await.meta.client_id;

    // Tab B pulls further first (cookie 5) ...
    let (_, edited) = todo_row("a", "alpha (v5)");
    let (_, bravo) = todo_row("b", "bravo");
    commit(&b, &meta(&b_id, 1, 0, Some(5)), vec![Change::Put(table, edited), Change::Put(table, bravo)]);
    b.flush().await.expect("flush");
    // ... then tab A commits an older answer (cookie 3): it must not win.
    a.append_pending(&meta("c1", 2, 0, Some(2)), &record("c1", 1)).expect("append");
    let (_, stale) = todo_row("a", "alpha (v3)");
    commit(&a, &meta("c1", 2, 1, Some(3)), vec![Change::Put(table, stale)]);
    a.flush().await.expect("flush");
    drop((a, b));
    sleep_ms(20).await;

    let c = db.open().await;
    let persisted = loaded(&c).await;
    assert_eq!(titles(&persisted), ["alpha (v5)", "bravo"], "the newer snapshot stays");
    assert_eq!(persisted.meta.cookie, Some(plasma::protocol::Cookie::at(5)));
    // The older pull still confirmed c1's mutation: its queue is empty.
    let d = db.open().await;
    let other = loaded(&d).await;
    let c1 = [persisted, other].into_iter().find(|p| p.meta.client_id == "c1").expect("one of two tabs resumes c1");
    assert_eq!(c1.meta.last_mutation_id, 1);
    assert!(c1.pending.is_empty());
    drop((c, d));
    db.delete().await;
}

/// A pull in one tab that confirms another tab's mutations (the server
/// took them from the tab that adopted them, or the other tab pushed them)
/// drops them from that client's queue and records its last mutation id,
/// so a tab adopting that client later neither replays nor re-pushes them.
#[wasm_bindgen_test]
async fn a_pull_in_one_tab_confirms_another_tabs_mutations() {
    let db = Idb::fresh("tabs-lmids");
    let a = db.open().await;
    assert!(load(&a, SCHEMA_VERSION).await.expect("load").is_none(), "fresh");
    a.init(GROUP, SCHEMA_VERSION, &meta("c1", 1, 0, None)).expect("init");
    for id in 1..=2 {
        a.append_pending(&meta("c1", id + 1, 0, None), &record("c1", id)).expect("append");
    }
    a.flush().await.expect("flush");
    let b = db.open().await;
    let b_meta = loaded(&b).await.meta;
    let lmids = std::collections::BTreeMap::from([("c1".to_owned(), 1)]);
    let confirmed = meta(&b_meta.client_id, 1, 0, Some(4));
    b.commit_pull(PullCommit {
        schema: &SCHEMA,
        meta: &confirmed,
        last_mutation_ids: &lmids,
        changes: &[],
        staged: false,
    })
    .expect("commit");
    b.flush().await.expect("flush");
    drop((a, b));
    sleep_ms(20).await;

    let c = db.open().await;
    let resumed = loaded(&c).await;
    assert_eq!(resumed.meta.client_id, "c1", "c1 still has an unpushed mutation: it is adopted first");
    assert_eq!(resumed.meta.last_mutation_id, 1, "the other tab's pull confirmed c1's first mutation");
    assert_eq!(resumed.pending.iter().map(|r| r.id).collect::<Vec<_>>(), [2]);
    drop(c);
    db.delete().await;
}
