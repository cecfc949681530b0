//! Live updates between tabs, offline: two clients on one IndexedDB
//! database (two in one page stand in for two tabs; a `BroadcastChannel`
//! delivers between two channel objects of one page) get the store's
//! `BroadcastChannel` by default, and a write in one shows in the other's
//! live query without any server (the transport points at a closed port).

#![cfg(target_arch = "wasm32")]

mod common;

use std::time::Duration;

use common::Idb;
use futures_util::StreamExt;
use futures_util::future::{Either, select};
use plasma::client::platform::web::{BroadcastTabs, FetchTransport, WebPlatform};
use plasma::client::{Client, IndexedDbStore, Platform, TabChannel, TabMessage};
use plasma::live::LiveChange;
use plasma::protocol::MutationRecord;
use todo::{CreateTodo, Ctx, SCHEMA, SCHEMA_VERSION, Todo, TodoMutators};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// How long a write may take to reach the other tab.
const DEADLINE: Duration = Duration::from_secs(10);

/// A started client on database `name`, syncing with a server that is not
/// there (127.0.0.1:9 refuses): it stays offline.
async fn tab(name: &str) -> Client<TodoMutators> {
    let store = IndexedDbStore::open_named(name).await.expect("open");
    let transport = FetchTransport::new("http://127.0.0.1:9/sync").expect("endpoint");
    let client = Client::<TodoMutators>::builder(&SCHEMA, "tabs-live")
        .context(|| Ctx::client("alice"))
        .store(store)
        .build(transport, WebPlatform::new())
        .await
        .expect("client");
    client.start();
    client
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    let future = std::pin::pin!(future);
    match select(future, WebPlatform::new().sleep(DEADLINE)).await {
        Either::Left((value, _)) => value,
        Either::Right(_) => panic!("{what}: not within {DEADLINE:?}"),
    }
}

#[wasm_bindgen_test]
async fn a_write_in_one_tab_shows_in_the_others_live_query_offline() {
    let db = Idb::fresh("tabs-live");
    let (a, b) = (tab(&db.0).await, tab(&db.0).await);
    assert_ne!(a.client_id().expect("a"), b.client_id().expect("b"), "each tab is its own client");
    let mut changes = b.live(&Todo::select().order_by(Todo::ID.asc())).expect("live").into_changes();

    let created = CreateTodo { id: "t1".into(), title: "typed in tab A".into(), updated_at: 1, list_id: None };
    let _handle = a.mutate::<todo::create_todo>(created).expect("mutate");
    let diff = within("tab B sees tab A's write", changes.next()).await.expect("a diff");
    assert!(matches!(&diff.changes[..], [LiveChange::Added { row, .. }] if row.title == "typed in tab A"), "{diff:?}");
    assert_eq!(b.foreign_pending_count().expect("b"), 1, "shown as a foreign pending mutation");
    assert_eq!(b.pending_count().expect("b"), 0, "never pushed by tab B");

    // Any page script on the channel `plasma/<database>` reaches the tabs;
    // a message of another schema version is ignored.
    let stranger = BroadcastTabs::for_database(&db.0).expect("channel");
    assert_eq!(stranger.name(), format!("plasma/{}", db.0));
    let record = |id: &str| {
        let args = CreateTodo { id: id.into(), title: id.into(), updated_at: 2, list_id: None };
        MutationRecord::new::<todo::create_todo>("stranger", 1, &args, 2).expect("record")
    };
    let message = |version: &str, id: &str| TabMessage {
        schema_version: version.into(),
        sender: "stranger".into(),
        record: record(id),
    };
    stranger.send(&message("another version", "old"));
    stranger.send(&message(SCHEMA_VERSION, "s1"));
    let diff = within("tab B sees the stranger's write", changes.next()).await.expect("a diff");
    assert!(matches!(&diff.changes[..], [LiveChange::Added { row, .. }] if row.id == "s1"), "{diff:?}");
    // Tab A got both the same way; its own write stays its own.
    let ids: Vec<String> =
        a.query(&Todo::select().order_by(Todo::ID.asc())).expect("query").into_iter().map(|t| t.id).collect();
    assert_eq!(ids, ["s1", "t1"]);
    assert_eq!((a.pending_count().expect("a"), a.foreign_pending_count().expect("a")), (1, 1));

    drop((changes, stranger, a, b));
    // The stores close with their clients' last references (the sync loops
    // end at their next wake-up); give them a moment before deleting.
    WebPlatform::new().sleep(Duration::from_millis(50)).await;
    let _ = within("deleting the database", IndexedDbStore::delete_database(&db.0)).await;
}
