//! Live-query benchmark setup (incremental view maintenance): engine-level
//! fixtures over 100k rows for Zero's cases and the headline one-row change,
//! and a client with 100 live queries of which 5 see each mutation.
//!
//! Every fixture times only the work under test ([`Engine::step`] returns the
//! duration of one write plus `flush`; [`Fanout::step`] the time from
//! `client.mutate` to the fifth `on_change`), and checks and undoes what it
//! did outside the timed region, so criterion (`iter_custom`) and
//! `bench-report` (p50 / p99 of many steps) share one definition of each case.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plasma::client::platform::native::TokioPlatform;
use plasma::client::{Change, Client, ClientMeta, LiveQuery, MemoryStore, PullCommit, Store};
use plasma::exec::run_ready;
use plasma::live::{LiveChange, LiveId, LiveQueries, RowDiff};
use plasma::query::tree::SelectQuery;
use plasma::{Executor, MemoryExecutor, Row, Select, Table, Transaction};
use todo::{CreateTodo, RenameTodo, SCHEMA, SCHEMA_VERSION, Todo, TodoMutators, create_todo, rename_todo};

use crate::client::{Unreachable, ctx};

/// Rows in every engine-level fixture and in the client's store.
pub const ROWS: u64 = 100_000;
/// The limit of the windowed queries.
pub const WINDOW: u64 = 50;
/// Live queries registered on the client.
pub const LIVE_QUERIES: usize = 100;
/// How many of them one client mutation changes.
pub const AFFECTED: usize = 5;

/// Every seeded `updatedAt` is below this, so a row stamped at or above it
/// sorts first under `updatedAt DESC`.
const FRESH: i64 = ROWS as i64 * 10;

/// Seeded row `i`: ids `r000000`.., one in three done, distinct `updatedAt`
/// values ten apart (so a row can be placed between any two).
pub fn row(i: u64) -> Todo {
    Todo {
        id: format!("r{i:06}"),
        title: format!("todo {i}"),
        done: i.is_multiple_of(3),
        updated_at: i as i64 * 10,
        owner: String::new(),
        list_id: None,
    }
}

/// A memory store holding `n` seeded rows (not capturing changes yet).
pub fn view_with(n: u64) -> MemoryExecutor {
    let view = MemoryExecutor::new(&SCHEMA);
    for i in 0..n {
        view.put_row(Todo::DEF, row(i).to_row()).expect("seed row");
    }
    view
}

/// The headline query: the 50 most recently updated open todos.
pub fn open_window() -> Select<Todo> {
    open_all().limit(WINDOW)
}

/// Every open todo, most recently updated first (about 66,667 of 100k rows).
pub fn open_all() -> Select<Todo> {
    Todo::select().filter(Todo::DONE.eq(false)).order_by(Todo::UPDATED_AT.desc())
}

/// Runs `query` from scratch in a memory transaction over every row: the
/// baseline live queries avoid.
pub fn rerun(view: &MemoryExecutor, query: &SelectQuery) -> Vec<Row> {
    run_ready(async {
        let mut tx = view.begin().await?;
        tx.select(query).await
    })
    .expect("ready")
    .expect("select")
}

/// One engine-level case: a one-row write and the `flush` that maintains the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// The headline: the last row of a `limit(50)` window is touched
    /// (`updatedAt` bumped) and moves to the top of the window.
    WindowMove,
    /// Zero's "push into an unlimited query": a new open todo, newest first.
    PushUnlimited,
    /// A new open todo that sorts first in a `limit(50)` window (one row in, one out).
    PushInside,
    /// A new open todo that sorts after the window's last row: no diff.
    PushOutside,
    /// A row inside a `limit(50)` window is renamed in place.
    EditInside,
    /// A matching row beyond a `limit(50)` window's bound is renamed: no diff.
    EditOutside,
}

impl Case {
    /// Zero's cases, in the order the issue lists them.
    pub const ZERO: [Case; 5] =
        [Case::PushUnlimited, Case::PushInside, Case::PushOutside, Case::EditInside, Case::EditOutside];

    /// Short name for benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Case::WindowMove => "one_row_change_limit50",
            Case::PushUnlimited => "push_unlimited",
            Case::PushInside => "push_limit50_inside_bound",
            Case::PushOutside => "push_limit50_outside_bound",
            Case::EditInside => "edit_limit50_inside_bound",
            Case::EditOutside => "edit_limit50_outside_bound",
        }
    }

    /// What the case does, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Case::WindowMove => "one-row change in limit(50) window: put + flush",
            Case::PushUnlimited => "push into unlimited query (66k rows)",
            Case::PushInside => "push into limit(50), inside the bound",
            Case::PushOutside => "push into limit(50), outside the bound",
            Case::EditInside => "edit in limit(50), inside the bound",
            Case::EditOutside => "edit in limit(50), outside the bound",
        }
    }

    fn query(self) -> Select<Todo> {
        match self {
            Case::PushUnlimited => open_all(),
            _ => open_window(),
        }
    }
}

/// One live query over a 100k-row memory store, for one [`Case`].
pub struct Engine {
    case: Case,
    view: MemoryExecutor,
    live: LiveQueries,
    id: LiveId,
    query: SelectQuery,
    /// The window's ids, top first (kept in step with the diffs).
    window: VecDeque<String>,
    /// Open rows far beyond the bound, renamed by [`Case::EditOutside`].
    outside: Vec<String>,
    next: u64,
}

impl Engine {
    /// Seeds 100k rows and starts maintaining the case's query.
    pub fn new(case: Case) -> Self {
        Self::with_rows(case, ROWS)
    }

    /// Seeds `rows` rows and starts maintaining the case's query.
    pub fn with_rows(case: Case, rows: u64) -> Self {
        let view = view_with(rows);
        let query = case.query().query().clone();
        let mut live = LiveQueries::new();
        let (id, current) = live.watch(&view, query.clone()).expect("watch");
        let expected = if case == Case::PushUnlimited {
            (0..rows).filter(|i| !i.is_multiple_of(3)).count()
        } else {
            WINDOW as usize
        };
        assert_eq!(current.len(), expected, "initial result of {case:?}");
        let window = current.iter().take(WINDOW as usize).map(|r| id_of(r).to_owned()).collect();
        let outside = (1..1000).filter(|i: &u64| !i.is_multiple_of(3)).map(|i| row(i).id).collect();
        Engine { case, view, live, id, query, window, outside, next: 0 }
    }

    /// Re-runs the case's query from scratch over the same rows; returns the time it took.
    pub fn rerun(&self) -> Duration {
        let start = Instant::now();
        let rows = std::hint::black_box(rerun(&self.view, &self.query));
        let took = start.elapsed();
        if self.case != Case::PushUnlimited {
            assert_eq!(rows.len(), WINDOW as usize);
            assert_eq!(id_of(&rows[0]), self.window[0], "the live window and the re-run agree");
        }
        took
    }

    /// One write of one row plus the flush that maintains the query: returns
    /// the time of those two calls only. Checks the diff and undoes inserts
    /// untimed, so the store stays at its size however many steps run.
    pub fn step(&mut self) -> Duration {
        let n = self.next;
        self.next += 1;
        match self.case {
            Case::WindowMove => {
                let id = self.window.pop_back().expect("a full window");
                let mut todo = self.todo(&id);
                todo.updated_at = FRESH + n as i64;
                let (took, diffs) = self.put(todo.to_row());
                let change = only_change(&diffs, self.id);
                assert!(
                    matches!(change, LiveChange::Edited { old_index, index: 0, .. } if *old_index == WINDOW as usize - 1),
                    "{change:?}"
                );
                self.window.push_front(id);
                took
            }
            Case::PushUnlimited | Case::PushInside => {
                let todo = new_todo(n, FRESH + n as i64);
                let (took, diffs) = self.put(todo.to_row());
                let diff = only_diff(&diffs, self.id);
                let added = matches!(diff.changes.last(), Some(LiveChange::Added { index: 0, .. }));
                match self.case {
                    // The window's last row makes room.
                    Case::PushInside => assert!(
                        added
                            && matches!(&diff.changes[..], [LiveChange::Removed { old_index, .. }, _] if *old_index == WINDOW as usize - 1),
                        "{diff:?}"
                    ),
                    _ => assert!(added && diff.changes.len() == 1, "{diff:?}"),
                }
                self.remove(&todo.id, true);
                took
            }
            Case::PushOutside => {
                // Stamped 1: older than every seeded open row, so far past the window's bound.
                let todo = new_todo(n, 1);
                let (took, diffs) = self.put(todo.to_row());
                assert!(diffs.is_empty(), "no diff outside the bound: {diffs:?}");
                self.remove(&todo.id, false);
                took
            }
            Case::EditInside => {
                let id = self.window[(n % WINDOW) as usize].clone();
                let mut todo = self.todo(&id);
                todo.title = format!("edited {n}");
                let (took, diffs) = self.put(todo.to_row());
                let change = only_change(&diffs, self.id);
                assert!(
                    matches!(change, LiveChange::Edited { old_index, index, .. } if old_index == index),
                    "{change:?}"
                );
                took
            }
            Case::EditOutside => {
                let id = self.outside[n as usize % self.outside.len()].clone();
                let mut todo = self.todo(&id);
                todo.title = format!("edited {n}");
                let (took, diffs) = self.put(todo.to_row());
                assert!(diffs.is_empty(), "no diff outside the bound: {diffs:?}");
                took
            }
        }
    }

    /// Writes the same one-row change as [`Case::WindowMove`], but the way a
    /// mutator does: `Todo::update().filter(id = ..)` in a memory transaction,
    /// then commit and flush. Returns the time of all three.
    pub fn step_through_tx(&mut self) -> Duration {
        assert_eq!(self.case, Case::WindowMove);
        let n = self.next;
        self.next += 1;
        let id = self.window.pop_back().expect("a full window");
        let start = Instant::now();
        let changed = run_ready(async {
            let mut tx = self.view.begin().await?;
            let changed = Todo::update()
                .set(Todo::UPDATED_AT, FRESH + n as i64)
                .filter(Todo::ID.eq(id.as_str()))
                .run(&mut tx)
                .await?;
            MemoryExecutor::commit(tx).await?;
            Ok::<_, plasma::ExecError>(changed)
        })
        .expect("ready")
        .expect("update");
        let diffs = self.live.flush(&self.view);
        let took = start.elapsed();
        assert_eq!(changed, 1);
        let change = only_change(&diffs, self.id);
        assert!(matches!(change, LiveChange::Edited { index: 0, .. }), "{change:?}");
        self.window.push_front(id);
        took
    }

    fn todo(&self, id: &str) -> Todo {
        let row = self.view.row(Todo::DEF, id).expect("read").expect("row exists");
        Todo::from_row(row).expect("decode")
    }

    fn put(&mut self, row: Row) -> (Duration, Vec<(LiveId, RowDiff)>) {
        let start = Instant::now();
        self.view.put_row(Todo::DEF, row).expect("put");
        let diffs = self.live.flush(&self.view);
        (start.elapsed(), std::hint::black_box(diffs))
    }

    /// Deletes an inserted row again (untimed) and checks the query follows.
    fn remove(&mut self, id: &str, visible: bool) {
        assert!(self.view.delete_row(Todo::DEF, id).expect("delete"));
        let diffs = self.live.flush(&self.view);
        assert_eq!(diffs.len(), usize::from(visible), "{diffs:?}");
    }
}

fn new_todo(n: u64, updated_at: i64) -> Todo {
    Todo {
        id: format!("n{n:08}"),
        title: format!("new todo {n}"),
        done: false,
        updated_at,
        owner: String::new(),
        list_id: None,
    }
}

fn id_of(row: &Row) -> &str {
    row.pk(Todo::DEF).expect("text id")
}

fn only_diff(diffs: &[(LiveId, RowDiff)], id: LiveId) -> &RowDiff {
    assert_eq!(diffs.len(), 1, "one diff per affected query: {diffs:?}");
    assert_eq!(diffs[0].0, id);
    &diffs[0].1
}

fn only_change(diffs: &[(LiveId, RowDiff)], id: LiveId) -> &LiveChange<Row> {
    let diff = only_diff(diffs, id);
    assert_eq!(diff.changes.len(), 1, "{diff:?}");
    &diff.changes[0]
}

/// A client holding `rows` confirmed rows (restored from a pre-filled memory
/// store, as after an initial sync), with [`LIVE_QUERIES`] live queries of
/// which [`AFFECTED`] contain every new todo it creates.
pub struct Fanout {
    client: Client<TodoMutators>,
    queries: Vec<LiveQuery<Todo>>,
    fired: Arc<AtomicUsize>,
    wrong: Arc<AtomicUsize>,
    fifth: Arc<Mutex<Option<Instant>>>,
    next: u64,
    /// The number of the newest todo created.
    newest: Option<u64>,
}

/// The five queries a new todo (open, newest, id `z..`, title `new todo ..`) enters.
fn affected_queries() -> Vec<Select<Todo>> {
    vec![
        open_window(),
        open_all().limit(10),
        Todo::select().order_by(Todo::UPDATED_AT.desc()).limit(WINDOW),
        Todo::select().filter(Todo::TITLE.starts_with("new ")).order_by(Todo::UPDATED_AT.desc()).limit(20),
        // Another order, so a second shared index is maintained too.
        Todo::select().filter(Todo::DONE.eq(false)).order_by(Todo::ID.desc()).limit(WINDOW),
    ]
}

/// 95 queries a new todo does not enter: a title nobody has, done todos, old todos.
fn unaffected_queries() -> Vec<Select<Todo>> {
    (0..(LIVE_QUERIES - AFFECTED) as u64)
        .map(|k| {
            let base = Todo::select().order_by(Todo::UPDATED_AT.desc()).limit(WINDOW);
            match k % 3 {
                0 => base.filter(Todo::TITLE.eq(format!("other-{k}"))),
                1 => base.filter(Todo::DONE.eq(true)),
                _ => base.filter(Todo::UPDATED_AT.lt(k as i64 * 10_000)),
            }
        })
        .collect()
}

/// A memory store that already holds `rows` confirmed seeded rows.
pub fn store_with(rows: u64) -> MemoryStore {
    let store = MemoryStore::new();
    let meta = ClientMeta { client_id: "live-bench".into(), next_mutation_id: 1, last_mutation_id: 0, cookie: None };
    store.init("bench", SCHEMA_VERSION, &meta).expect("init store");
    let changes: Vec<Change> = (0..rows).map(|i| Change::Put(Todo::DEF, row(i).to_row())).collect();
    store
        .commit_pull(PullCommit {
            schema: &SCHEMA,
            meta: &meta,
            last_mutation_ids: &Default::default(),
            changes: &[std::sync::Arc::new(changes)],
            staged: false,
        })
        .expect("fill store");
    store
}

impl Fanout {
    /// Builds the client (inside a tokio runtime) over `rows` rows and
    /// registers the live queries, then checks untimed that one mutation
    /// calls exactly [`AFFECTED`] callbacks, each with the new row at the top.
    pub async fn new(rows: u64) -> Self {
        let client = Client::<TodoMutators>::builder(&SCHEMA, "bench")
            .context(ctx)
            .store(store_with(rows))
            .build(Unreachable, TokioPlatform::current().expect("runtime"))
            .await
            .expect("client");
        let stored = client.read(|view| view.len(Todo::DEF)).expect("read").expect("len");
        assert_eq!(stored as u64, rows);
        let fired = Arc::new(AtomicUsize::new(0));
        let wrong = Arc::new(AtomicUsize::new(0));
        let fifth = Arc::new(Mutex::new(None));
        let mut queries = Vec::with_capacity(LIVE_QUERIES);
        for (k, select) in affected_queries().into_iter().chain(unaffected_queries()).enumerate() {
            let query = client.live(&select).expect("live");
            let (fired, wrong, fifth) = (Arc::clone(&fired), Arc::clone(&wrong), Arc::clone(&fifth));
            query.on_change(move |diff: &plasma::live::Diff<Todo>| {
                if fired.fetch_add(1, Ordering::AcqRel) + 1 == AFFECTED {
                    let now = Instant::now();
                    if let Ok(mut fifth) = fifth.lock() {
                        *fifth = Some(now);
                    }
                }
                // Only the affected queries may be told, with the new todo on top.
                let top = matches!(diff.changes.iter().find(|c| matches!(c, LiveChange::Added { .. })),
                    Some(LiveChange::Added { index: 0, row }) if row.id.starts_with('z'));
                let renamed = diff.changes.iter().any(|c| matches!(c, LiveChange::Edited { index: 0, .. }));
                if k >= AFFECTED || !(top || renamed) {
                    wrong.fetch_add(1, Ordering::AcqRel);
                }
            });
            queries.push(query);
        }
        let mut fanout = Fanout { client, queries, fired, wrong, fifth, next: 0, newest: None };
        // Setup check, untimed: exactly five callbacks per mutation, all of them right.
        for _ in 0..3 {
            fanout.step();
            assert_eq!(fanout.fired.load(Ordering::Acquire), AFFECTED, "callbacks per mutation");
        }
        fanout.rename_newest();
        assert_eq!(fanout.fired.load(Ordering::Acquire), AFFECTED, "callbacks per rename");
        assert_eq!(fanout.wrong.load(Ordering::Acquire), 0, "unexpected diffs");
        for query in &fanout.queries[..AFFECTED] {
            let rows = query.rows().expect("rows");
            assert!(rows[0].id.starts_with('z'), "the newest todo tops every affected query");
        }
        fanout
    }

    fn reset(&self) {
        self.fired.store(0, Ordering::Release);
        if let Ok(mut fifth) = self.fifth.lock() {
            *fifth = None;
        }
    }

    fn finish(&self, start: Instant) -> Duration {
        let end =
            self.fifth.lock().ok().and_then(|mut f| f.take()).expect("five on_change calls before mutate returned");
        let took = end.saturating_duration_since(start);
        assert_eq!(self.fired.load(Ordering::Acquire), AFFECTED, "callbacks per mutation");
        took
    }

    /// One `createTodo` whose row enters the five affected queries: the time
    /// from calling `client.mutate` to the fifth `on_change` (delivered
    /// synchronously, before `mutate` returns). The table grows by one row.
    pub fn step(&mut self) -> Duration {
        let n = self.next;
        self.next += 1;
        let args = CreateTodo {
            id: format!("z{n:08}"),
            title: format!("new todo {n}"),
            updated_at: FRESH + n as i64,
            list_id: None,
        };
        self.reset();
        let start = Instant::now();
        let handle = self.client.mutate::<create_todo>(args).expect("mutate");
        let took = self.finish(start);
        drop(handle);
        self.newest = Some(n);
        took
    }

    /// One `renameTodo` of the newest todo (in all five affected queries):
    /// same span as [`step`](Self::step). The mutator's
    /// `update().filter(id = ..)` touches just that row (the memory store
    /// looks ids up instead of scanning).
    pub fn rename_newest(&mut self) -> Duration {
        let n = self.next;
        self.next += 1;
        let newest = self.newest.expect("a todo was created");
        let args = RenameTodo {
            id: format!("z{newest:08}"),
            title: format!("new todo renamed {n}"),
            updated_at: FRESH + n as i64,
        };
        self.reset();
        let start = Instant::now();
        let handle = self.client.mutate::<rename_todo>(args).expect("mutate");
        let took = self.finish(start);
        drop(handle);
        took
    }
}

/// Builds a current-thread tokio runtime and a [`Fanout`] on it; keep the
/// runtime alive as long as the client.
pub fn fanout_on_new_runtime(rows: u64) -> (tokio::runtime::Runtime, Fanout) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let fanout = runtime.block_on(Fanout::new(rows));
    (runtime, fanout)
}
