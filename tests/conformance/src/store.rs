//! Store scenarios: what is written (and flushed) comes back after a reopen,
//! pulls apply atomically, a reset replaces the snapshot and the identity, and
//! a store of another schema version is wiped only when nothing is unpushed.
//!
//! Each scenario takes a [`StoreFactory`] whose `open` reopens the *same*
//! store (the same file, database or shared memory), and a fresh one per test.

use std::future::Future;
use std::sync::Arc;

use plasma::client::{Change, ClientMeta, Persisted, PullCommit, Store, StoreError};
use plasma::protocol::{AbandonReason, Abandoned, Cookie, MutationRecord};
use plasma::{Table, TableDef};
use todo::{CreateTodo, SCHEMA, SCHEMA_VERSION, Todo, create_todo};

/// Opens one store, again and again: what a reopen sees is what the store
/// made durable.
pub trait StoreFactory {
    /// The store under test.
    type Store: Store;
    /// Opens (or reopens) the store.
    fn open(&self) -> impl Future<Output = Self::Store>;
}

/// The group every scenario uses.
pub const GROUP: &str = "g1";

/// A client meta.
pub fn meta(client: &str, next: u64, last: u64, order: Option<i64>) -> ClientMeta {
    ClientMeta {
        client_id: client.into(),
        next_mutation_id: next,
        last_mutation_id: last,
        cookie: order.map(Cookie::at),
    }
}

/// A `createTodo` record of `client` with mutation id `id`.
pub fn record(client: &str, id: u64) -> MutationRecord {
    let args = CreateTodo { id: format!("t{id}"), title: format!("todo {id}"), updated_at: id as i64, list_id: None };
    MutationRecord::new::<create_todo>(client.to_owned(), id, &args, 0).expect("record")
}

/// A todo row.
pub fn todo_row(id: &str, title: &str) -> (&'static TableDef, plasma::Row) {
    let todo =
        Todo { id: id.into(), title: title.into(), done: false, updated_at: 1, owner: String::new(), list_id: None };
    (Todo::DEF, todo.to_row())
}

/// Loads group [`GROUP`] at `version`.
pub async fn load(store: &impl Store, version: &str) -> Result<Option<Persisted>, StoreError> {
    store.load(&SCHEMA, GROUP, version).await
}

/// Loads what must be there.
pub async fn loaded(store: &impl Store) -> Persisted {
    load(store, SCHEMA_VERSION).await.expect("load").expect("a stored state")
}

/// The stored todo titles, sorted.
pub fn titles(persisted: &Persisted) -> Vec<String> {
    let mut titles: Vec<String> =
        persisted.rows.iter().map(|(_, r)| Todo::from_row(r.clone()).expect("todo").title).collect();
    titles.sort();
    titles
}

/// Commits a pull of `changes` (not staged).
pub fn commit(store: &impl Store, meta: &ClientMeta, changes: Vec<Change>) {
    let pages = if changes.is_empty() { Vec::new() } else { vec![Arc::new(changes)] };
    store
        .commit_pull(PullCommit {
            schema: &SCHEMA,
            meta,
            last_mutation_ids: &Default::default(),
            changes: &pages,
            staged: false,
        })
        .expect("commit pull");
}

/// Writes flushed before a reopen come back: the meta, the pending queue
/// minus what a pull confirmed, the snapshot after an atomic pull (puts,
/// overwrites, deletes), and a pending record replaced in place.
pub async fn reopen_keeps_pending_and_snapshot<F: StoreFactory>(factory: &F) {
    let store = factory.open().await;
    assert!(load(&store, SCHEMA_VERSION).await.expect("load").is_none(), "fresh store");
    store.init(GROUP, SCHEMA_VERSION, &meta("c1", 1, 0, None)).expect("init");
    for id in 1..=3 {
        store.append_pending(&meta("c1", id + 1, 0, None), &record("c1", id)).expect("append");
    }
    store.flush().await.expect("flush");
    drop(store);

    let store = factory.open().await;
    let persisted = loaded(&store).await;
    assert_eq!(persisted.meta, meta("c1", 4, 0, None));
    assert_eq!(persisted.pending.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 2, 3], "the queue survives");
    let (table, a) = todo_row("a", "alpha");
    let (_, b) = todo_row("b", "beta");
    let (_, a2) = todo_row("a", "alpha two");
    let confirmed = meta("c1", 4, 2, Some(7));
    commit(
        &store,
        &confirmed,
        vec![Change::Put(table, a), Change::Put(table, b), Change::Put(table, a2), Change::Del(table, "b".into())],
    );
    store.flush().await.expect("flush");
    drop(store);

    let store = factory.open().await;
    let persisted = loaded(&store).await;
    assert_eq!(persisted.meta, confirmed);
    assert_eq!(persisted.pending.iter().map(|r| r.id).collect::<Vec<_>>(), [3], "confirmed mutations are gone");
    assert_eq!(persisted.pending[0].args.get(), record("c1", 3).args.get());
    assert_eq!(titles(&persisted), ["alpha two"], "the pull applied in order");

    // Abandoning a pending mutation replaces its record in place, durably.
    let mut abandoned = record("c1", 3);
    abandoned.args = serde_json::value::to_raw_value(&()).expect("null");
    abandoned.abandoned = Some(Abandoned { reason: AbandonReason::PayloadTooLarge, bytes: 9_000, limit: 4_096 });
    store.replace_pending(&abandoned).expect("replace");
    store.replace_pending(&record("c1", 99)).expect("replacing what is not pending does nothing");
    store.flush().await.expect("flush");
    drop(store);
    let store = factory.open().await;
    let persisted = loaded(&store).await;
    assert_eq!(persisted.pending.iter().map(|r| r.id).collect::<Vec<_>>(), [3], "nothing was added");
    assert_eq!(persisted.pending[0].args.get(), "null");
    assert_eq!(persisted.pending[0].abandoned, abandoned.abandoned);
}

/// A burst of large mutations queued in one go (stores may pack them into
/// chunks): a confirmation in the middle of the burst keeps exactly the rest,
/// a record in the middle is replaced in place, and a later burst follows.
pub async fn a_burst_of_large_mutations_survives_partial_confirmation<F: StoreFactory>(factory: &F) {
    let large = |id: u64| {
        let args = CreateTodo {
            id: format!("t{id}"),
            title: format!("{id:04}").repeat(256),
            updated_at: id as i64,
            list_id: None,
        };
        MutationRecord::new::<create_todo>("c1".to_owned(), id, &args, 0).expect("record")
    };
    let store = factory.open().await;
    assert!(load(&store, SCHEMA_VERSION).await.expect("load").is_none(), "fresh store");
    store.init(GROUP, SCHEMA_VERSION, &meta("c1", 1, 0, None)).expect("init");
    for id in 1..=300 {
        store.append_pending(&meta("c1", id + 1, 0, None), &large(id)).expect("append");
    }
    store.flush().await.expect("flush");
    // Confirmed up to the middle of the burst.
    commit(&store, &meta("c1", 301, 150, Some(1)), Vec::new());
    let mut abandoned = large(200);
    abandoned.args = serde_json::value::to_raw_value(&()).expect("null");
    abandoned.abandoned = Some(Abandoned { reason: AbandonReason::PayloadTooLarge, bytes: 9_000, limit: 4_096 });
    store.replace_pending(&abandoned).expect("replace");
    store.replace_pending(&large(100)).expect("replacing a confirmed one does nothing visible");
    for id in 301..=310 {
        store.append_pending(&meta("c1", id + 1, 150, Some(1)), &large(id)).expect("append");
    }
    store.flush().await.expect("flush");
    drop(store);

    let store = factory.open().await;
    let persisted = loaded(&store).await;
    assert_eq!(persisted.pending.iter().map(|r| r.id).collect::<Vec<_>>(), (151..=310).collect::<Vec<_>>());
    assert_eq!(persisted.meta.next_mutation_id, 311);
    for record in &persisted.pending {
        if record.id == 200 {
            assert_eq!((record.args.get(), &record.abandoned), ("null", &abandoned.abandoned));
        } else {
            assert_eq!(record.args.get(), large(record.id).args.get(), "record {} intact", record.id);
        }
    }
    // Confirming the rest leaves nothing behind.
    commit(&store, &meta("c1", 311, 310, Some(2)), Vec::new());
    store.flush().await.expect("flush");
    drop(store);
    let store = factory.open().await;
    assert!(loaded(&store).await.pending.is_empty(), "all confirmed");
}

/// A reset (a pull starting with `Clear`, under a new client id) replaces the
/// whole snapshot and drops the old identity's queue.
pub async fn reset_replaces_snapshot_and_identity<F: StoreFactory>(factory: &F) {
    let store = factory.open().await;
    assert!(load(&store, SCHEMA_VERSION).await.expect("load").is_none(), "fresh store");
    store.init(GROUP, SCHEMA_VERSION, &meta("c1", 1, 0, None)).expect("init");
    store.append_pending(&meta("c1", 2, 0, None), &record("c1", 1)).expect("append");
    let (table, a) = todo_row("a", "alpha");
    commit(&store, &meta("c1", 2, 0, Some(3)), vec![Change::Put(table, a)]);
    let (_, z) = todo_row("z", "zulu");
    let reset = meta("c9", 1, 0, Some(4));
    commit(&store, &reset, vec![Change::Clear, Change::Put(table, z)]);
    store.flush().await.expect("flush");
    drop(store);

    let store = factory.open().await;
    let persisted = loaded(&store).await;
    assert_eq!(persisted.meta, reset);
    assert!(persisted.pending.is_empty(), "the old identity's queue is gone");
    assert_eq!(titles(&persisted), ["zulu"]);
}

/// Another schema version with unpushed mutations is refused and nothing is
/// deleted; once nothing is unpushed, it starts afresh.
pub async fn incompatible_version_keeps_unpushed<F: StoreFactory>(factory: &F) {
    let store = factory.open().await;
    assert!(load(&store, SCHEMA_VERSION).await.expect("load").is_none(), "fresh store");
    store.init(GROUP, SCHEMA_VERSION, &meta("c1", 1, 0, None)).expect("init");
    store.append_pending(&meta("c1", 2, 0, None), &record("c1", 1)).expect("append");
    let (table, a) = todo_row("a", "alpha");
    commit(&store, &meta("c1", 2, 0, Some(1)), vec![Change::Put(table, a)]);
    store.flush().await.expect("flush");
    match load(&store, "todos-v3").await {
        Err(StoreError::Incompatible { pending: 1, stored_version, .. }) => assert_eq!(stored_version, SCHEMA_VERSION),
        other => panic!("expected Incompatible, got {other:?}"),
    }
    drop(store);
    let store = factory.open().await;
    let persisted = loaded(&store).await;
    assert_eq!(persisted.pending.len(), 1, "nothing deleted");
    assert_eq!(titles(&persisted), ["alpha"]);
    // Once nothing is unpushed, another version starts afresh.
    commit(&store, &meta("c1", 2, 1, Some(2)), Vec::new());
    store.flush().await.expect("flush");
    assert!(load(&store, "todos-v3").await.expect("load").is_none(), "wiped for the new version");
    drop(store);
    let store = factory.open().await;
    assert!(load(&store, SCHEMA_VERSION).await.expect("load").is_none(), "the wipe was durable");
}

/// A reset staged page by page stays invisible until its commit swaps it in
/// atomically with the meta; a retried stage discards the earlier one; a
/// mutation queued meanwhile survives. Returns whether the store stages (if
/// not, there is nothing more to check: pulls are written whole).
pub async fn staged_reset_swaps_in<F: StoreFactory>(factory: &F) -> bool {
    let store = factory.open().await;
    assert!(load(&store, SCHEMA_VERSION).await.expect("load").is_none(), "fresh store");
    store.init(GROUP, SCHEMA_VERSION, &meta("c1", 1, 0, None)).expect("init");
    let (table, a) = todo_row("a", "old a");
    let (_, b) = todo_row("b", "old b");
    commit(&store, &meta("c1", 1, 0, Some(1)), vec![Change::Put(table, a), Change::Put(table, b)]);
    if !store.begin_stage(&SCHEMA).expect("begin") {
        return false;
    }
    let row = |id: &str, title: &str| todo_row(id, title).1;
    store
        .stage(&SCHEMA, &[Change::Clear, Change::Put(table, row("x", "new x")), Change::Put(table, row("y", "new y"))])
        .expect("page 1");
    store.append_pending(&meta("c1", 2, 0, Some(1)), &record("c1", 1)).expect("append");
    store.stage(&SCHEMA, &[Change::Put(table, row("z", "new z")), Change::Del(table, "y".into())]).expect("page 2");
    store.flush().await.expect("flush");
    drop(store);
    let store = factory.open().await;
    assert_eq!(titles(&loaded(&store).await), ["old a", "old b"], "a stage is invisible until its commit");

    // A retried pull begins again: the earlier stage is discarded.
    assert!(store.begin_stage(&SCHEMA).expect("begin again"));
    store.stage(&SCHEMA, &[Change::Clear, Change::Put(table, row("x", "new x"))]).expect("page 1");
    store.stage(&SCHEMA, &[Change::Put(table, row("z", "new z"))]).expect("page 2");
    let second = meta("c1", 2, 0, Some(2));
    store
        .commit_pull(PullCommit {
            schema: &SCHEMA,
            meta: &second,
            last_mutation_ids: &Default::default(),
            changes: &[],
            staged: true,
        })
        .expect("commit");
    store.flush().await.expect("flush");
    drop(store);
    let store = factory.open().await;
    let persisted = loaded(&store).await;
    assert_eq!(titles(&persisted), ["new x", "new z"], "the stage replaced the snapshot");
    assert_eq!(persisted.meta, second);
    assert_eq!(persisted.pending.iter().map(|r| r.id).collect::<Vec<_>>(), [1]);
    // The next (incremental) pull writes the swapped-in snapshot as usual.
    commit(&store, &meta("c1", 2, 0, Some(3)), vec![Change::Put(table, row("w", "next w"))]);
    store.flush().await.expect("flush");
    drop(store);
    let store = factory.open().await;
    assert_eq!(titles(&loaded(&store).await), ["new x", "new z", "next w"]);
    true
}
