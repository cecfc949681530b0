//! The client's durable stores, memory and SQLite, behave the same: what is
//! written comes back after a reopen, pulls apply atomically, and a store of
//! another schema version is wiped only when it holds nothing unpushed.

use plasma::client::{Change, ClientMeta, MemoryStore, PullCommit, SqliteStore, Store, StoreError};
use plasma::exec::run_ready;
use plasma::protocol::{Cookie, MutationRecord};
use plasma::{Table, TableDef};
use todo::{CreateTodo, SCHEMA, SCHEMA_VERSION, Todo, create_todo};

fn meta(client: &str, next: u64, last: u64, order: Option<i64>) -> ClientMeta {
    ClientMeta {
        client_id: client.into(),
        next_mutation_id: next,
        last_mutation_id: last,
        cookie: order.map(Cookie::at),
    }
}

fn record(client: &str, id: u64) -> MutationRecord {
    let args = CreateTodo { id: format!("t{id}"), title: format!("todo {id}"), updated_at: id as i64 };
    MutationRecord::new::<create_todo>(client.to_owned(), id, &args, 0).expect("record")
}

fn todo_row(id: &str, title: &str) -> (&'static TableDef, plasma::Row) {
    let todo = Todo { id: id.into(), title: title.into(), done: false, updated_at: 1 };
    (Todo::DEF, todo.to_row())
}

fn load(store: &dyn Store, version: &str) -> Result<Option<plasma::client::Persisted>, StoreError> {
    run_ready(store.load(&SCHEMA, "g1", version)).expect("ready")
}

/// Runs the same scenario on a store, reopening it with `reopen` between steps.
fn scenario<S: Store>(open: impl Fn() -> S) {
    let store = open();
    assert!(load(&store, SCHEMA_VERSION).expect("load").is_none(), "fresh store");
    store.init("g1", SCHEMA_VERSION, &meta("c1", 1, 0, None)).expect("init");
    for id in 1..=3 {
        store.append_pending(&meta("c1", id + 1, 0, None), &record("c1", id)).expect("append");
    }
    let (table, a) = todo_row("a", "alpha");
    let (_, b) = todo_row("b", "beta");
    let (_, a2) = todo_row("a", "alpha two");
    let changes =
        vec![Change::Put(table, a), Change::Put(table, b), Change::Put(table, a2), Change::Del(table, "b".into())];
    let confirmed = meta("c1", 4, 2, Some(7));
    store
        .commit_pull(PullCommit {
            schema: &SCHEMA,
            meta: &confirmed,
            changes: &[std::sync::Arc::new(changes.clone())],
            staged: false,
        })
        .expect("pull");
    drop(store);

    let store = open();
    let persisted = load(&store, SCHEMA_VERSION).expect("load").expect("state");
    assert_eq!(persisted.meta, confirmed);
    assert_eq!(persisted.pending.iter().map(|r| r.id).collect::<Vec<_>>(), vec![3], "confirmed mutations are gone");
    assert_eq!(persisted.pending[0].args.get(), record("c1", 3).args.get());

    // Abandoning a pending mutation replaces its record in place, durably.
    let mut abandoned = record("c1", 3);
    abandoned.args = serde_json::value::to_raw_value(&()).expect("null");
    abandoned.abandoned = Some(plasma::protocol::Abandoned {
        reason: plasma::protocol::AbandonReason::PayloadTooLarge,
        bytes: 9_000,
        limit: 4_096,
    });
    store.replace_pending(&abandoned).expect("replace");
    store.replace_pending(&record("c1", 99)).expect("replacing what is not pending does nothing");
    drop(store);
    let store = open();
    let persisted = load(&store, SCHEMA_VERSION).expect("load").expect("state");
    assert_eq!(persisted.pending.len(), 1);
    assert_eq!(persisted.pending[0].args.get(), "null");
    assert_eq!(persisted.pending[0].abandoned, abandoned.abandoned);
    let rows: Vec<Todo> = persisted.rows.into_iter().map(|(_, r)| Todo::from_row(r).expect("todo")).collect();
    assert_eq!(rows.iter().map(|t| t.title.as_str()).collect::<Vec<_>>(), vec!["alpha two"]);

    // A reset: everything cleared, a new client id, old pending gone.
    let reset = meta("c9", 1, 0, Some(1));
    let (_, fresh) = todo_row("z", "zulu");
    let changes = vec![Change::Clear, Change::Put(table, fresh)];
    store
        .commit_pull(PullCommit {
            schema: &SCHEMA,
            meta: &reset,
            changes: &[std::sync::Arc::new(changes.clone())],
            staged: false,
        })
        .expect("reset");
    let persisted = load(&store, SCHEMA_VERSION).expect("load").expect("state");
    assert_eq!(persisted.meta.client_id, "c9");
    assert!(persisted.pending.is_empty());
    assert_eq!(persisted.rows.len(), 1);

    // Another schema version with unpushed mutations: refused, nothing deleted.
    store.append_pending(&meta("c9", 2, 0, Some(1)), &record("c9", 1)).expect("append");
    match load(&store, "todos-v2") {
        Err(StoreError::Incompatible { pending: 1, .. }) => {}
        other => panic!("expected Incompatible, got {other:?}"),
    }
    assert_eq!(load(&store, SCHEMA_VERSION).expect("load").expect("kept").pending.len(), 1);
    // Once nothing is unpushed, another version starts afresh.
    let done = meta("c9", 2, 1, Some(2));
    store.commit_pull(PullCommit { schema: &SCHEMA, meta: &done, changes: &[], staged: false }).expect("pull");
    assert!(load(&store, "todos-v2").expect("load").is_none(), "wiped for the new version");
}

#[test]
fn memory_store_keeps_state_across_reopen() {
    let shared = MemoryStore::new();
    scenario(|| shared.clone());
}

#[test]
fn sqlite_store_keeps_state_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("client.db");
    scenario(|| SqliteStore::open(&path).expect("open"));
}

#[test]
fn sqlite_store_stages_a_reset_beside_the_snapshot_and_swaps_it_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("client.db");
    let titles = |store: &SqliteStore| -> Vec<String> {
        let persisted = load(store, SCHEMA_VERSION).expect("load").expect("state");
        let mut titles: Vec<String> =
            persisted.rows.into_iter().map(|(_, r)| Todo::from_row(r).expect("todo").title).collect();
        titles.sort();
        titles
    };
    let store = SqliteStore::open(&path).expect("open");
    assert!(load(&store, SCHEMA_VERSION).expect("load").is_none(), "fresh store");
    store.init("g1", SCHEMA_VERSION, &meta("c1", 1, 0, None)).expect("init");
    let (table, a) = todo_row("a", "old a");
    let (_, b) = todo_row("b", "old b");
    let old = vec![Change::Put(table, a), Change::Put(table, b)];
    let first = meta("c1", 1, 0, Some(1));
    store
        .commit_pull(PullCommit { schema: &SCHEMA, meta: &first, changes: &[std::sync::Arc::new(old)], staged: false })
        .expect("pull");

    // A reset streams in page by page beside the snapshot.
    assert!(store.begin_stage(&SCHEMA).expect("begin"), "the SQLite store stages");
    let (_, x) = todo_row("x", "new x");
    let (_, y) = todo_row("y", "new y");
    let (_, z) = todo_row("z", "new z");
    store.stage(&SCHEMA, &[Change::Clear, Change::Put(table, x), Change::Put(table, y)]).expect("page 1");
    // A mutation queued meanwhile is not held up by the pull and survives it.
    store.append_pending(&meta("c1", 2, 0, Some(1)), &record("c1", 1)).expect("append");
    store.stage(&SCHEMA, &[Change::Put(table, z), Change::Del(table, "y".into())]).expect("page 2");
    drop(store);
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(titles(&store), vec!["old a", "old b"], "a stage is invisible until its commit");

    // A retried pull begins again: the earlier stage is discarded.
    assert!(store.begin_stage(&SCHEMA).expect("begin again"));
    let (_, x) = todo_row("x", "new x");
    let (_, z) = todo_row("z", "new z");
    store.stage(&SCHEMA, &[Change::Clear, Change::Put(table, x)]).expect("page 1");
    store.stage(&SCHEMA, &[Change::Put(table, z)]).expect("page 2");
    let second = meta("c1", 2, 0, Some(2));
    store.commit_pull(PullCommit { schema: &SCHEMA, meta: &second, changes: &[], staged: true }).expect("commit");
    drop(store);
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(titles(&store), vec!["new x", "new z"], "the stage replaced the snapshot, atomically with the meta");
    let persisted = load(&store, SCHEMA_VERSION).expect("load").expect("state");
    assert_eq!(persisted.meta, second);
    assert_eq!(persisted.pending.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1]);
    // The next (incremental) pull writes the swapped-in table as usual.
    let (_, w) = todo_row("w", "next w");
    let third = meta("c1", 2, 0, Some(3));
    store
        .commit_pull(PullCommit {
            schema: &SCHEMA,
            meta: &third,
            changes: &[std::sync::Arc::new(vec![Change::Put(table, w)])],
            staged: false,
        })
        .expect("pull");
    assert_eq!(titles(&store), vec!["new x", "new z", "next w"]);
}

#[test]
fn the_memory_store_does_not_stage() {
    assert!(!MemoryStore::new().begin_stage(&SCHEMA).expect("begin"), "pulls are written whole at commit");
}

#[test]
fn a_store_io_failure_keeps_the_engine_error_as_its_source() {
    use std::error::Error as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gone").join("client.db"); // the directory does not exist
    let err = SqliteStore::open(&path).expect_err("cannot open a file in a missing directory");
    let StoreError::Io { message, .. } = &err else { panic!("expected an I/O error, got {err:?}") };
    let source = err.source().expect("the SQLite error is kept as the source");
    assert_eq!(source.to_string(), *message, "the source is the engine's error itself");
    assert!(err.to_string().starts_with("local store I/O: "), "{err}");
}
