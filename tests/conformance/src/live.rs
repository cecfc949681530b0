//! Live-query scenarios on a [`ClientCore`] persisting into a store: a rebase
//! notifies only the net difference, a reset built in bulk notifies exactly
//! what changed, a failed persist changes and notifies nothing, and a client
//! restored from the store after a reopen shows the same rows.

use std::collections::BTreeMap;

use plasma::Table;
use plasma::client::{ClientCore, Store, StoreError};
use plasma::live::{LiveChange, LiveId, RowDiff};
use plasma::protocol::{Cookie, MutationError, PatchOp, PullResponse};
use plasma::wire::row_to_json_text;
use plasma::{Row, query::tree::SelectQuery};
use todo::{CreateTodo, Ctx, MarkDone, SCHEMA, SCHEMA_VERSION, Todo, TodoMutators, create_todo, mark_done};

use crate::store::{GROUP, StoreFactory, loaded};

fn ctx() -> Ctx {
    Ctx::client("alice")
}

fn todo(id: &str, title: &str, at: i64) -> Todo {
    // Owned by the user the clients run as (`ctx`), as `createTodo` records.
    Todo { id: id.into(), title: title.into(), done: false, updated_at: at, owner: "alice".into(), list_id: None }
}

/// The ids of `rows`, in order.
pub fn ids(rows: &[Row]) -> Vec<String> {
    rows.iter().map(|r| r.pk(Todo::DEF).unwrap_or_default().to_owned()).collect()
}

/// The diff of one query, as (kind, old index, new index, id).
pub fn shape(diff: &RowDiff) -> Vec<(&'static str, Option<usize>, Option<usize>, String)> {
    let id = |r: &Row| r.pk(Todo::DEF).unwrap_or_default().to_owned();
    diff.changes
        .iter()
        .map(|c| match c {
            LiveChange::Added { index, row } => ("add", None, Some(*index), id(row)),
            LiveChange::Removed { old_index, row } => ("remove", Some(*old_index), None, id(row)),
            LiveChange::Edited { old_index, index, row, .. } => ("edit", Some(*old_index), Some(*index), id(row)),
        })
        .collect()
}

/// The one diff in `diffs`, which must be for query `id`.
pub fn only(diffs: Vec<(LiveId, RowDiff)>, id: LiveId) -> RowDiff {
    assert_eq!(diffs.len(), 1, "exactly one diff: {diffs:?}");
    assert_eq!(diffs[0].0, id);
    diffs.into_iter().next().map(|(_, d)| d).unwrap_or_default()
}

/// A pull page at `order`.
pub fn page(order: i64, lmid: Option<(&str, u64)>, puts: &[Todo], dels: &[&str]) -> PullResponse {
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

fn open_todos() -> SelectQuery {
    Todo::select().filter(Todo::DONE.eq(false)).order_by(Todo::UPDATED_AT.asc()).query().clone()
}

/// A new client core persisting into `store` (initialised).
fn new_core(store: &impl Store) -> ClientCore<TodoMutators> {
    let core = ClientCore::<TodoMutators>::new(&SCHEMA, GROUP.into(), "c1".into());
    store.init(GROUP, SCHEMA_VERSION, core.meta()).expect("init");
    core
}

/// Runs `M` and queues it durably, as the client does.
fn mutate<M: plasma::mutator::InRegistry<TodoMutators> + plasma::Mutator<Context = Ctx>>(
    core: &mut ClientCore<TodoMutators>,
    store: &impl Store,
    args: M::Args,
) {
    let (record, _handle) = core.mutate::<M>(&ctx(), args, 0).expect("mutate");
    store.append_pending(core.meta(), &record).expect("append");
}

fn pull(core: &mut ClientCore<TodoMutators>, store: &impl Store, pages: &[PullResponse]) {
    let base = core.cookie();
    core.apply_pull(&base, pages, &ctx(), || "c-new".into(), |commit| store.commit_pull(commit)).expect("pull");
}

/// Reopens the store and restores a client from it: its live rows of
/// `query` (snapshot plus the pending queue replayed). The store must be
/// closed first: an open one holds its client (a browser tab does).
async fn restored_rows<F: StoreFactory>(factory: &F, query: SelectQuery) -> Vec<Row> {
    let store = factory.open().await;
    let persisted = loaded(&store).await;
    let mut core = ClientCore::<TodoMutators>::restore(&SCHEMA, persisted, &ctx()).expect("restore");
    let (_, rows) = core.watch(query).expect("watch");
    rows
}

/// A rebase notifies only the net difference: a pending row the server
/// confirms unchanged is no change; a server edit and another client's row
/// are one diff; a rejected mutation's row goes. A reopened client shows
/// the same rows.
pub async fn a_rebase_notifies_only_the_net_difference<F: StoreFactory>(factory: &F) {
    let store = factory.open().await;
    assert!(crate::store::load(&store, SCHEMA_VERSION).await.expect("load").is_none(), "fresh store");
    let mut core = new_core(&store);
    let (id, rows) = core.watch(open_todos()).expect("watch");
    assert!(rows.is_empty());
    let create = |id: &str, at: i64| CreateTodo { id: id.into(), title: id.into(), updated_at: at, list_id: None };
    mutate::<create_todo>(&mut core, &store, create("a", 1));
    assert_eq!(shape(&only(core.take_live_diffs(), id)), [("add", None, Some(0), "a".into())]);
    mutate::<create_todo>(&mut core, &store, create("b", 2));
    assert_eq!(core.take_live_diffs().len(), 1, "one diff per mutation");

    pull(&mut core, &store, &[page(1, Some(("c1", 1)), &[todo("a", "a", 1)], &[])]);
    assert!(core.take_live_diffs().is_empty(), "a confirmed-unchanged row is no change");

    pull(&mut core, &store, &[page(2, None, &[todo("a", "a (edited)", 1), todo("z", "z", 0)], &[])]);
    let diff = only(core.take_live_diffs(), id);
    assert_eq!(shape(&diff), [("edit", Some(0), Some(1), "a".into()), ("add", None, Some(0), "z".into())]);
    store.flush().await.expect("flush");
    drop(store);
    assert_eq!(
        restored_rows(factory, open_todos()).await,
        core.live_rows(id).unwrap_or_default(),
        "a client restored from the store sees the same rows (b still pending)"
    );
    // The same client goes on with the store reopened.
    let store = factory.open().await;
    assert_eq!(loaded(&store).await.meta.client_id, "c1");

    let mut rejected = page(3, Some(("c1", 2)), &[], &[]);
    rejected.mutation_errors.push(MutationError { client_id: "c1".into(), mutation_id: 2, message: "no".into() });
    pull(&mut core, &store, &[rejected]);
    assert_eq!(shape(&only(core.take_live_diffs(), id)), [("remove", Some(2), None, "b".into())]);
    assert_eq!(ids(&core.live_rows(id).unwrap_or_default()), ["z", "a"]);

    // A mutator failing locally changes nothing and notifies no one.
    assert!(core.mutate::<mark_done>(&ctx(), MarkDone { id: "nope".into(), updated_at: 3 }, 0).is_err());
    assert!(core.take_live_diffs().is_empty());
    store.flush().await.expect("flush");
    drop(store);
    assert_eq!(ids(&restored_rows(factory, open_todos()).await), ["z", "a"], "the rejection is durable");
}

/// A reset over two pages notifies exactly what changed (the unchanged row
/// and the pending one are no change), the last put of a row wins, and a
/// failed persist leaves everything as it was and notifies nothing.
pub async fn a_reset_built_in_bulk_notifies_exactly_what_changed<F: StoreFactory>(factory: &F) {
    let store = factory.open().await;
    assert!(crate::store::load(&store, SCHEMA_VERSION).await.expect("load").is_none(), "fresh store");
    let mut core = new_core(&store);
    let (id, _) = core.watch(open_todos()).expect("watch");
    pull(&mut core, &store, &[page(1, None, &[todo("a", "a", 1), todo("b", "b", 2), todo("c", "c", 3)], &[])]);
    assert_eq!(ids(&core.live_rows(id).unwrap_or_default()), ["a", "b", "c"]);
    core.take_live_diffs();
    mutate::<create_todo>(
        &mut core,
        &store,
        CreateTodo { id: "p".into(), title: "p".into(), updated_at: 9, list_id: None },
    );
    let previous = core.live_rows(id).unwrap_or_default();
    core.take_live_diffs();

    let mut first = page(2, None, &[todo("a", "a", 1), todo("b", "b1", 2), todo("d", "d", 4)], &[]);
    first.patch.insert(0, PatchOp::Clear);
    first.more = true;
    let second = page(2, None, &[todo("e", "e", 5), todo("b", "b2", 2)], &["d"]);
    pull(&mut core, &store, &[first, second]);
    let now = core.live_rows(id).unwrap_or_default();
    assert_eq!(ids(&now), ["a", "b", "e", "p"]);
    let diff = only(core.take_live_diffs(), id);
    assert_eq!(
        shape(&diff),
        [
            ("edit", Some(1), Some(1), "b".into()),
            ("remove", Some(2), None, "c".into()),
            ("add", None, Some(2), "e".into())
        ],
    );
    let mut replayed = previous.clone();
    diff.apply(&mut replayed);
    assert_eq!(replayed, now, "the diff replays onto the previous rows");

    // A failed persist leaves everything as it was, through the bulk undo.
    let mut again = page(3, None, &[todo("z", "z", 0)], &[]);
    again.patch.insert(0, PatchOp::Clear);
    let base = core.cookie();
    let failed = core.apply_pull(&base, &[again], &ctx(), || "x".into(), |_| Err(StoreError::io("disk full")));
    assert!(failed.is_err());
    assert!(core.take_live_diffs().is_empty(), "nothing changed, nothing notified");
    assert_eq!(ids(&core.live_rows(id).unwrap_or_default()), ["a", "b", "e", "p"]);

    store.flush().await.expect("flush");
    drop(store);
    let restored = restored_rows(factory, open_todos()).await;
    assert_eq!(restored, now, "the reset and the pending row survive a reopen");
    let titles: Vec<String> = restored.into_iter().map(|r| Todo::from_row(r).expect("todo").title).collect();
    assert_eq!(titles, ["a", "b2", "e", "p"], "the last put of a row wins, durably");
}
