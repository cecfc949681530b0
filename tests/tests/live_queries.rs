//! Live queries: the window cases that broke real systems, each with its
//! exact diff; rebase-aware notifications on the client core; and the app
//! API (rows, callbacks, stream, drop) on a real client.

use plasma_tests::harness::Offline;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use plasma::client::platform::native::TokioPlatform;
use plasma::client::{BoxFuture, Client, ClientMeta, MemoryStore, Transport, TransportError};
use plasma::exec::run_ready;
use plasma::live::{Diff, LiveChange, LiveId, LiveQueries};
use plasma::protocol::{Cookie, PatchOp, PullRequest, PullResponse, PushRequest, PushResponse};
use plasma::wire::row_to_json_text;
use plasma::{Executor, MemoryExecutor, Table};
use plasma_conformance::live::{ids, only, shape};
use todo::{CreateTodo, Ctx, DeleteTodo, MarkDone, RenameTodo, SCHEMA, Todo, TodoMutators};

fn todo(id: &str, title: &str, done: bool, updated_at: i64) -> Todo {
    // Owned by the user the clients run as (`ctx`), as `createTodo` records.
    Todo { id: id.into(), title: title.into(), done, updated_at, owner: "alice".into(), list_id: None }
}

/// A view with todos `a..` at `updated_at` 10, 20, ... and the engine.
fn view_with(rows: &[Todo]) -> MemoryExecutor {
    let view = MemoryExecutor::new(&SCHEMA);
    for t in rows {
        view.put_row(Todo::DEF, t.to_row()).expect("put");
    }
    view
}

fn write(view: &MemoryExecutor, f: impl AsyncFnOnce(&mut plasma::exec::memory::MemoryTx<'_>)) {
    run_ready(async {
        let mut tx = view.begin().await.expect("begin");
        f(&mut tx).await;
        MemoryExecutor::commit(tx).await.expect("commit");
    })
    .expect("ready");
}

/// Five todos a..e at 10..50; a window of the 3 oldest.
fn oldest_three() -> (MemoryExecutor, LiveQueries, LiveId) {
    let rows: Vec<Todo> =
        ["a", "b", "c", "d", "e"].iter().zip(1..).map(|(id, i)| todo(id, id, false, i * 10)).collect();
    let view = view_with(&rows);
    let mut live = LiveQueries::new();
    let query = Todo::select().order_by(Todo::UPDATED_AT.asc()).limit(3);
    let (id, rows) = live.watch(&view, query.query().clone()).expect("watch");
    assert_eq!(ids(&rows), ["a", "b", "c"]);
    (view, live, id)
}

#[test]
fn add_inside_a_full_window_evicts_the_bound_row() {
    let (view, mut live, id) = oldest_three();
    view.put_row(Todo::DEF, todo("x", "x", false, 15).to_row()).expect("put");
    let diff = only(live.flush(&view), id);
    assert_eq!(shape(&diff), [("remove", Some(2), None, "c".into()), ("add", None, Some(1), "x".into())]);
}

#[test]
fn add_after_the_bound_changes_nothing() {
    let (view, mut live, _) = oldest_three();
    view.put_row(Todo::DEF, todo("x", "x", false, 35).to_row()).expect("put");
    assert!(live.flush(&view).is_empty());
}

#[test]
fn delete_inside_refills_from_after_the_old_bound() {
    let (view, mut live, id) = oldest_three();
    view.delete_row(Todo::DEF, "b").expect("del");
    let diff = only(live.flush(&view), id);
    assert_eq!(shape(&diff), [("remove", Some(1), None, "b".into()), ("add", None, Some(2), "d".into())]);
    assert_eq!(ids(&live.rows(&view, id).unwrap_or_default()), ["a", "c", "d"]);
}

#[test]
fn deletes_with_nothing_left_to_refill_shrink_the_window() {
    let (view, mut live, id) = oldest_three();
    // Many removes in one transaction: the window refills once, then runs dry.
    write(&view, async |tx| {
        Todo::delete().filter(Todo::ID.ne("a")).run(tx).await.expect("delete");
    });
    let diff = only(live.flush(&view), id);
    assert_eq!(shape(&diff), [("remove", Some(1), None, "b".into()), ("remove", Some(2), None, "c".into())]);
    assert_eq!(ids(&live.rows(&view, id).unwrap_or_default()), ["a"]);
    view.delete_row(Todo::DEF, "a").expect("del");
    let diff = only(live.flush(&view), id);
    assert_eq!(shape(&diff), [("remove", Some(0), None, "a".into())]);
    // An empty window fills again from an insert.
    view.put_row(Todo::DEF, todo("y", "y", false, 1).to_row()).expect("put");
    assert_eq!(shape(&only(live.flush(&view), id)), [("add", None, Some(0), "y".into())]);
}

#[test]
fn editing_the_bound_row_in_place_is_an_edit() {
    let (view, mut live, id) = oldest_three();
    write(&view, async |tx| {
        Todo::update().set(Todo::TITLE, "C!").filter(Todo::ID.eq("c")).run(tx).await.expect("update");
    });
    let diff = only(live.flush(&view), id);
    assert_eq!(shape(&diff), [("edit", Some(2), Some(2), "c".into())]);
    match &diff.changes[0] {
        LiveChange::Edited { old, row, .. } => {
            assert_eq!(Todo::from_row(old.clone()).map(|t| t.title).ok().as_deref(), Some("c"));
            assert_eq!(Todo::from_row(row.clone()).map(|t| t.title).ok().as_deref(), Some("C!"));
        }
        other => panic!("expected an edit, got {other:?}"),
    }
}

#[test]
fn edit_crossing_out_of_the_window_refills() {
    let (view, mut live, id) = oldest_three();
    write(&view, async |tx| {
        Todo::update().set(Todo::UPDATED_AT, 99).filter(Todo::ID.eq("a")).run(tx).await.expect("update");
    });
    let diff = only(live.flush(&view), id);
    assert_eq!(shape(&diff), [("remove", Some(0), None, "a".into()), ("add", None, Some(2), "d".into())]);
}

#[test]
fn edit_crossing_out_can_bring_the_same_row_back() {
    let (view, mut live, id) = oldest_three();
    // b moves past c but not past d: it is still the third row.
    write(&view, async |tx| {
        Todo::update().set(Todo::UPDATED_AT, 35).filter(Todo::ID.eq("b")).run(tx).await.expect("update");
    });
    let diff = only(live.flush(&view), id);
    assert_eq!(shape(&diff), [("edit", Some(1), Some(2), "b".into())]);
}

#[test]
fn edit_crossing_into_the_window_evicts_the_bound_row() {
    let (view, mut live, id) = oldest_three();
    write(&view, async |tx| {
        Todo::update().set(Todo::UPDATED_AT, 5).filter(Todo::ID.eq("e")).run(tx).await.expect("update");
    });
    let diff = only(live.flush(&view), id);
    assert_eq!(shape(&diff), [("remove", Some(2), None, "c".into()), ("add", None, Some(0), "e".into())]);
}

#[test]
fn ties_in_the_sort_key_break_by_id() {
    let rows = [todo("b", "b", false, 10), todo("d", "d", false, 10), todo("f", "f", false, 10)];
    let view = view_with(&rows);
    let mut live = LiveQueries::new();
    let (id, initial) =
        live.watch(&view, Todo::select().order_by(Todo::UPDATED_AT.asc()).limit(2).query().clone()).expect("watch");
    assert_eq!(ids(&initial), ["b", "d"]);
    // Same key as the bound row but a smaller id: it sorts before the bound.
    view.put_row(Todo::DEF, todo("c", "c", false, 10).to_row()).expect("put");
    assert_eq!(
        shape(&only(live.flush(&view), id)),
        [("remove", Some(1), None, "d".into()), ("add", None, Some(1), "c".into())]
    );
    // A larger id with the same key sorts after the bound: nothing.
    view.put_row(Todo::DEF, todo("e", "e", false, 10).to_row()).expect("put");
    assert!(live.flush(&view).is_empty());
}

#[test]
fn offsets_shift_rows_across_the_window_start() {
    let (view, mut live, _) = oldest_three();
    let (id, initial) = live
        .watch(&view, Todo::select().order_by(Todo::UPDATED_AT.asc()).offset(1).limit(2).query().clone())
        .expect("watch");
    assert_eq!(ids(&initial), ["b", "c"]);
    view.put_row(Todo::DEF, todo("x", "x", false, 1).to_row()).expect("put");
    let diffs = live.flush(&view);
    let diff = diffs.into_iter().find(|(d, _)| *d == id).map(|(_, d)| d).unwrap_or_default();
    assert_eq!(shape(&diff), [("remove", Some(1), None, "c".into()), ("add", None, Some(0), "a".into())]);
}

#[test]
fn queries_over_one_table_share_indexes_and_unaffected_queries_stay_quiet() {
    let (view, mut live, oldest) = oldest_three();
    let query = |title: &str| Todo::select().filter(Todo::TITLE.eq(title)).order_by(Todo::UPDATED_AT.asc());
    let others: Vec<LiveId> =
        (0..10).map(|i| live.watch(&view, query(&format!("t{i}")).query().clone()).expect("watch").0).collect();
    assert_eq!(live.index_count(), 1, "one order, one index");
    let (newest, _) =
        live.watch(&view, Todo::select().order_by(Todo::UPDATED_AT.desc()).limit(1).query().clone()).expect("watch");
    assert_eq!(live.index_count(), 2);
    view.put_row(Todo::DEF, todo("z", "t3", false, 1).to_row()).expect("put");
    let diffs = live.flush(&view);
    let touched: Vec<LiveId> = diffs.iter().map(|(id, _)| *id).collect();
    assert_eq!(touched, [oldest, others[3]], "the window and the t3 query, no one else");
    assert!(live.unwatch(&view, newest));
    assert_eq!(live.index_count(), 1, "an index goes with its last query");
    // A transaction that nets to nothing notifies no one.
    write(&view, async |tx| {
        Todo::update().set(Todo::TITLE, "tmp").filter(Todo::ID.eq("a")).run(tx).await.expect("update");
        Todo::update().set(Todo::TITLE, "a").filter(Todo::ID.eq("a")).run(tx).await.expect("update");
    });
    assert!(live.flush(&view).is_empty());
}

fn ctx() -> Ctx {
    Ctx::client("alice")
}

fn page(order: i64, lmid: Option<(&str, u64)>, puts: &[Todo], dels: &[&str]) -> PullResponse {
    let mut patch: Vec<PatchOp> = puts
        .iter()
        .map(|t| PatchOp::Put {
            table: Todo::DEF.name.into(),
            row: row_to_json_text(Todo::DEF, &t.to_row()).expect("encode"),
        })
        .collect();
    patch.extend(dels.iter().map(|id| PatchOp::Del { table: Todo::DEF.name.into(), id: (*id).into() }));
    PullResponse {
        cookie: Cookie::at(order),
        last_mutation_id_changes: lmid.map(|(c, l)| BTreeMap::from([(c.to_owned(), l)])).unwrap_or_default(),
        patch,
        mutation_errors: Vec::new(),
        more: false,
        limits: None,
    }
}

// The rebase and reset scenarios over a store live in plasma-conformance
// (`live`), run on every store by client_store.rs and in Chromium.

/// A client whose server never answers, on a memory store.
async fn offline_client() -> Client<TodoMutators> {
    Client::<TodoMutators>::builder(&SCHEMA, "g")
        .context(ctx)
        .store(MemoryStore::new())
        .build(Offline, TokioPlatform::current().expect("runtime"))
        .await
        .expect("client")
}

#[tokio::test]
async fn the_client_api_delivers_diffs_by_callback_and_stream_until_dropped() {
    let client = offline_client().await;
    let create = |id: &str, at: i64| CreateTodo { id: id.into(), title: id.into(), updated_at: at, list_id: None };
    let _pending = client.mutate::<todo::create_todo>(create("a", 1)).expect("mutate");

    let open = client
        .live(&Todo::select().filter(Todo::DONE.eq(false)).order_by(Todo::UPDATED_AT.desc()).limit(2))
        .expect("live");
    assert_eq!(open.rows().expect("rows"), [todo("a", "a", false, 1)]);
    let seen: Arc<Mutex<Vec<Diff<Todo>>>> = Arc::default();
    let sink = Arc::clone(&seen);
    open.on_change(move |diff| sink.lock().expect("lock").push(diff.clone()));
    let mut stream = open.changes();

    // The callback runs before `mutate` returns: the UI sees its own write at once.
    let _pending = client.mutate::<todo::create_todo>(create("b", 2)).expect("mutate");
    assert_eq!(seen.lock().expect("lock").len(), 1);
    let first = stream.next().await.expect("a diff");
    assert_eq!(first.changes, [LiveChange::Added { index: 0, row: todo("b", "b", false, 2) }]);
    assert_eq!(open.rows().expect("rows"), [todo("b", "b", false, 2), todo("a", "a", false, 1)]);

    // Outside the window (older than both): no notification.
    let _pending = client.mutate::<todo::create_todo>(create("old", 0)).expect("mutate");
    let _pending = client
        .mutate::<todo::rename_todo>(RenameTodo { id: "old".into(), title: "older".into(), updated_at: 0 })
        .expect("mutate");
    assert_eq!(seen.lock().expect("lock").len(), 1);

    // Done leaves the filter: removed, and the window refills from below.
    let _pending = client.mutate::<todo::mark_done>(MarkDone { id: "b".into(), updated_at: 3 }).expect("mutate");
    let last = seen.lock().expect("lock").last().cloned().expect("diff");
    assert_eq!(
        last.changes,
        [
            LiveChange::Removed { old_index: 0, row: todo("b", "b", false, 2) },
            LiveChange::Added { index: 1, row: todo("old", "older", false, 0) },
        ]
    );
    let mut expected = vec![todo("b", "b", false, 2), todo("a", "a", false, 1)];
    last.apply(&mut expected);
    assert_eq!(open.rows().expect("rows"), expected);

    // A callback that mutates the client gets the next diff after its own, in order.
    let reentrant = client.live(&Todo::select().order_by(Todo::ID.asc())).expect("live");
    let client2 = client.clone();
    let order: Arc<Mutex<Vec<usize>>> = Arc::default();
    let log = Arc::clone(&order);
    reentrant.on_change(move |diff| {
        let n = log.lock().map(|mut l| {
            l.push(diff.changes.len());
            l.len()
        });
        if n.ok() == Some(1) {
            let _ = client2.mutate::<todo::delete_todo>(DeleteTodo { id: "a".into() });
        }
    });
    let _pending = client.mutate::<todo::create_todo>(create("c", 4)).expect("mutate");
    assert_eq!(*order.lock().expect("lock"), [1, 1], "the add, then the nested delete");

    assert_eq!(client.live_query_count().expect("client state"), 2);
    drop(open);
    drop(reentrant);
    assert_eq!(client.live_query_count().expect("client state"), 0, "dropping a handle frees its query");
    let ended = tokio::time::timeout(Duration::from_secs(5), async { while stream.next().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the stream ends when its handle drops");

    // A stream that owns its handle: dropping the stream unsubscribes.
    let mut owned = client.live(&Todo::select()).expect("live").into_changes();
    assert_eq!(client.live_query_count().expect("client state"), 1);
    let _pending = client.mutate::<todo::create_todo>(create("d", 5)).expect("mutate");
    let diff = owned.next().await.expect("a diff");
    assert!(matches!(&diff.changes[..], [LiveChange::Added { row, .. }] if row.id == "d"));
    drop(owned);
    assert_eq!(client.live_query_count().expect("client state"), 0);
}

/// A panic while the client's state is locked poisons it: every accessor
/// then says so instead of answering with a stand-in (`""`, `0`, defaults).
#[tokio::test]
async fn a_poisoned_client_reports_it_instead_of_stand_in_values() {
    use plasma::client::{ClientError, SyncStatus};
    let client = offline_client().await;
    assert!(!client.client_id().expect("healthy").is_empty());
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = client.read(|_| panic!("a reader panics while holding the state"));
    }));
    assert!(panicked.is_err());
    assert!(matches!(client.client_id(), Err(ClientError::Poisoned)));
    assert!(matches!(client.pending_count(), Err(ClientError::Poisoned)));
    assert!(matches!(client.pending_ids(), Err(ClientError::Poisoned)));
    assert!(matches!(client.server_limits(), Err(ClientError::Poisoned)));
    assert!(matches!(client.live_query_count(), Err(ClientError::Poisoned)));
    assert!(matches!(client.handle(1), Err(ClientError::Poisoned)));
    // The status lives apart from the state and is never torn: still the real one.
    assert_eq!(client.status(), SyncStatus::Offline);
}

/// Serves one pull page, then never answers again.
struct OnePage(Mutex<Option<PullResponse>>);

impl Transport for OnePage {
    fn push(&self, _: PushRequest) -> BoxFuture<'static, Result<PushResponse, TransportError>> {
        Box::pin(std::future::pending())
    }
    fn pull(&self, _: PullRequest) -> BoxFuture<'static, Result<PullResponse, TransportError>> {
        match self.0.lock().expect("lock").take() {
            Some(page) => Box::pin(async move { Ok(page) }),
            None => Box::pin(std::future::pending()),
        }
    }
}

/// A pulled value that fits its column but not its field (100,000 in an
/// `i16`) reaches a live query's diff: the query reports the failure and
/// ends its streams instead of silently skipping the diff.
#[tokio::test]
async fn a_live_diff_that_does_not_decode_is_reported_not_dropped() {
    use plasma::client::ClientEvent;
    use plasma_tests::{Kitchen, kitchen};
    let mut bad = kitchen(1).to_row();
    let level = Kitchen::DEF.columns.iter().position(|c| c.name == "level").expect("level column");
    bad.0[level] = plasma::Value::Integer(100_000);
    let patch = vec![PatchOp::Put {
        table: Kitchen::DEF.name.into(),
        row: row_to_json_text(Kitchen::DEF, &bad).expect("encode"),
    }];
    let response = PullResponse { patch, ..page(1, None, &[], &[]) };
    let client = Client::<TodoMutators>::builder(&plasma_tests::SCHEMA, "g")
        .context(ctx)
        .build(OnePage(Mutex::new(Some(response))), TokioPlatform::current().expect("runtime"))
        .await
        .expect("client");
    let live = client.live(&Kitchen::select()).expect("live");
    let mut stream = live.changes();
    let mut events = client.events();
    client.start();
    let event = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match events.next().await {
                Some(ClientEvent::LiveQueryFailed { id, error }) => return (id, error),
                Some(_) => continue,
                None => panic!("events ended"),
            }
        }
    })
    .await
    .expect("the failure is reported");
    assert_eq!(event.0, live.id());
    assert_eq!(event.1.column, "level");
    assert_eq!(live.failure(), Some(event.1));
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.expect("the stream ends");
    assert!(ended.is_none(), "no diff is delivered after the one that failed");
    assert!(live.changes().next().await.is_none(), "a new stream of a failed query ends at once");
}

/// A subscriber that stops reading costs a bounded buffer: events past
/// `EVENT_BUFFER` drop the oldest and say how many (`Lagged`); a diff stream
/// past `LIVE_DIFF_BUFFER` ends (diffs cannot be skipped) and the client says so.
#[tokio::test]
async fn unread_events_and_diffs_are_bounded_and_the_lag_is_reported() {
    use futures_util::FutureExt;
    use plasma::client::{ClientEvent, EVENT_BUFFER, LIVE_DIFF_BUFFER};
    let client = offline_client().await;
    let live = client.live(&Todo::select()).expect("live");
    let mut diffs = live.changes();
    let mut events = client.events();
    let extra = 10;
    for i in 0..LIVE_DIFF_BUFFER.max(EVENT_BUFFER) + extra {
        let id = format!("t{i:05}");
        let _pending = client
            .mutate::<todo::create_todo>(CreateTodo { id: id.clone(), title: id, updated_at: 1, list_id: None })
            .expect("mutate");
    }
    let events: Vec<ClientEvent> = std::iter::from_fn(|| events.next().now_or_never().flatten()).collect();
    assert_eq!(events.len(), EVENT_BUFFER + 1, "the buffer, and one Lagged in front");
    let ClientEvent::Lagged { missed } = events[0] else { panic!("expected Lagged first, got {:?}", events[0]) };
    assert!(missed >= extra as u64, "missed {missed}");
    let lagged = ClientEvent::LiveStreamLagged { id: live.id() };
    assert_eq!(events.iter().filter(|e| **e == lagged).count(), 1, "the ended stream is reported once");
    assert!(events.iter().all(|e| matches!(e, ClientEvent::Changed) || *e == lagged || e == &events[0]));

    let delivered = std::iter::from_fn(|| diffs.next().now_or_never().flatten()).count();
    assert_eq!(delivered, LIVE_DIFF_BUFFER, "what it held, then nothing");
    assert_eq!(diffs.next().now_or_never(), Some(None), "the lagging stream ended");
    let mut fresh = live.changes();
    let _pending = client
        .mutate::<todo::create_todo>(CreateTodo { id: "z".into(), title: "z".into(), updated_at: 2, list_id: None })
        .expect("mutate");
    assert!(fresh.next().now_or_never().flatten().is_some(), "a new subscription works");
}

/// A store whose pull commits fail with an engine error.
struct FailingCommits(MemoryStore);

impl plasma::client::Store for FailingCommits {
    fn load(
        &self,
        schema: &'static plasma::Schema,
        group: &str,
        version: &str,
    ) -> BoxFuture<'_, Result<Option<plasma::client::Persisted>, plasma::client::StoreError>> {
        self.0.load(schema, group, version)
    }
    fn init(&self, group: &str, version: &str, meta: &ClientMeta) -> Result<(), plasma::client::StoreError> {
        self.0.init(group, version, meta)
    }
    fn append_pending(
        &self,
        meta: &ClientMeta,
        record: &plasma::protocol::MutationRecord,
    ) -> Result<(), plasma::client::StoreError> {
        self.0.append_pending(meta, record)
    }
    fn replace_pending(&self, record: &plasma::protocol::MutationRecord) -> Result<(), plasma::client::StoreError> {
        self.0.replace_pending(record)
    }
    fn commit_pull(&self, _: plasma::client::PullCommit<'_>) -> Result<(), plasma::client::StoreError> {
        Err(plasma::client::StoreError::io_from(std::io::Error::other("disk full")))
    }
}

/// The app hears of a store failure with its cause, not a string.
#[tokio::test]
async fn a_store_failure_event_keeps_the_engine_error() {
    use plasma::client::{ClientEvent, StoreError};
    use std::error::Error as _;
    let client = Client::<TodoMutators>::builder(&SCHEMA, "g")
        .context(ctx)
        .store(FailingCommits(MemoryStore::new()))
        .build(
            OnePage(Mutex::new(Some(page(1, None, &[todo("a", "a", false, 1)], &[])))),
            TokioPlatform::current().expect("runtime"),
        )
        .await
        .expect("client");
    let mut events = client.events();
    client.start();
    let error = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match events.next().await {
                Some(ClientEvent::StoreFailed(error)) => return error,
                Some(_) => continue,
                None => panic!("events ended"),
            }
        }
    })
    .await
    .expect("the failure is reported");
    assert!(matches!(error, StoreError::Io { .. }), "{error:?}");
    let source = error.source().expect("the cause is kept");
    assert!(source.downcast_ref::<std::io::Error>().is_some(), "{source:?}");
}
