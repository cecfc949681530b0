//! A reload in the browser: a client's mutations queued in IndexedDB while
//! offline come back when the page opens the database again, and the new
//! client (the same client id) pushes them.

#![cfg(target_arch = "wasm32")]

mod common;

use common::Idb;
use common::platform::{Recorder, TestPlatform, sleep_ms};
use plasma::client::{Client, IndexedDbStore};
use todo::{CreateTodo, Ctx, SCHEMA, Todo, TodoMutators, create_todo};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

async fn client(db: &Idb, transport: Recorder) -> Client<TodoMutators> {
    let store = IndexedDbStore::open_named(&db.0).await.expect("open");
    Client::<TodoMutators>::builder(&SCHEMA, "g1")
        .context(|| Ctx::client("alice"))
        .store(store)
        .build(transport, TestPlatform)
        .await
        .expect("build")
}

#[wasm_bindgen_test]
async fn a_reload_restores_the_queue_and_the_client_pushes_it() {
    let db = Idb::fresh("reload");
    let offline = Recorder { offline: true, ..Recorder::default() };
    let first = client(&db, offline.clone()).await;
    for (i, title) in ["milk", "eggs"].iter().enumerate() {
        let args = CreateTodo { id: format!("t{i}"), title: (*title).into(), updated_at: 1, list_id: None };
        let _handle = first.mutate::<create_todo>(args).expect("mutate");
    }
    let id = first.client_id().expect("id");
    drop(first); // the page goes away before anything was pushed

    let online = Recorder::default();
    let second = client(&db, online.clone()).await;
    assert_eq!(second.client_id().expect("id"), id, "the reload resumes the same client");
    assert_eq!(second.pending_ids().expect("pending"), [1, 2], "the queue survived");
    let titles: Vec<String> = second.query(&Todo::select()).expect("query").into_iter().map(|t| t.title).collect();
    assert_eq!(titles.len(), 2, "pending mutations are replayed on the view: {titles:?}");
    second.start();
    for _ in 0..100 {
        if !online.pushes.borrow().is_empty() {
            break;
        }
        sleep_ms(20).await;
    }
    let pushes = online.pushes.borrow().clone();
    let pushed: Vec<(String, u64)> =
        pushes.iter().flat_map(|p| p.mutations.iter().map(|m| (m.client_id.clone(), m.id))).collect();
    assert_eq!(pushed, [(id.clone(), 1), (id, 2)], "the reloaded client pushes what the closed one queued");
    drop(second);
    sleep_ms(50).await; // let the sync task notice the client is gone and release the store
    db.delete().await;
}
