//! Incremental view maintenance against the truth: random live queries
//! (filters, multi-column orders with ties, limit/offset windows) over a
//! memory view, random change sequences (inserts, updates crossing the window
//! boundary both ways, deletes with and without rows left to refill, bursts in
//! one transaction, rolled-back transactions, rebases that undo optimistic
//! rows and land server rows), and after every step:
//!
//! - each maintained result equals the query run from scratch;
//! - replaying the diff on the previous result gives the new result;
//! - a query gets a diff exactly when its result changed (one per step).

use std::collections::BTreeSet;

use plasma::exec::memory::UndoLog;
use plasma::exec::run_ready;
use plasma::live::{LiveId, LiveQueries, RowDiff};
use plasma::query::eval;
use plasma::query::tree::{
    CmpOp, DeleteQuery, Expr, InsertQuery, OnConflict, OrderTerm, SelectQuery, UpdateQuery, WriteQuery,
};
use plasma::{Executor, MemoryExecutor, Row, Table, Transaction, Value};
use proptest::prelude::*;

/// Columns: id TEXT pk, rank INTEGER NULL, grp TEXT, score REAL NULL, flag BOOL.
#[plasma::table(name = "items")]
struct Item {
    #[plasma(id)]
    id: String,
    rank: Option<i64>,
    grp: String,
    score: Option<f64>,
    flag: bool,
}

static SCHEMA: plasma::Schema = plasma::schema![Item];

const IDS: [&str; 10] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];

fn def() -> &'static plasma::TableDef {
    <Item as Table>::DEF
}

/// A value for column `c`, from small domains so ties and equal keys are common.
fn cell(c: usize) -> BoxedStrategy<Value> {
    match c {
        1 => prop_oneof![1 => Just(Value::Null), 4 => (0i64..4).prop_map(Value::Integer)].boxed(),
        2 => prop_oneof![Just("x"), Just("y"), Just("z")].prop_map(|s| Value::Text(s.into())).boxed(),
        3 => prop_oneof![1 => Just(Value::Null), 4 => (0i32..3).prop_map(|i| Value::Real(f64::from(i) / 2.0))].boxed(),
        _ => (0i64..2).prop_map(Value::Integer).boxed(),
    }
}

fn full_row() -> impl Strategy<Value = Vec<Value>> {
    (proptest::sample::select(&IDS[..]), cell(1), cell(2), cell(3), cell(4))
        .prop_map(|(id, a, b, c, d)| vec![Value::Text(id.into()), a, b, c, d])
}

fn leaf() -> impl Strategy<Value = Expr> {
    let op = prop_oneof![Just(CmpOp::Eq), Just(CmpOp::Ne), Just(CmpOp::Lt), Just(CmpOp::Ge)];
    prop_oneof![
        4 => (1usize..5, op).prop_flat_map(|(column, op)| cell(column).prop_map(move |value| Expr::Cmp { column, op, value })),
        1 => (1usize..5).prop_map(|column| Expr::IsNull { column }),
        1 => proptest::collection::vec(cell(2), 0..3).prop_map(|values| Expr::In { column: 2, values }),
    ]
}

fn filter() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..3).prop_map(Expr::And),
            proptest::collection::vec(inner.clone(), 1..3).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

fn query() -> impl Strategy<Value = SelectQuery> {
    let order = proptest::collection::vec((0usize..5, any::<bool>()), 0..3)
        .prop_map(|ts| ts.into_iter().map(|(column, descending)| OrderTerm { column, descending }).collect());
    let limit = prop_oneof![1 => Just(None), 3 => (0u64..5).prop_map(Some)];
    let offset = prop_oneof![3 => Just(0u64), 1 => 1u64..3];
    (proptest::option::of(filter()), order, limit, offset).prop_map(|(filter, order, limit, offset)| SelectQuery {
        table: def(),
        filter,
        order,
        limit,
        offset,
    })
}

/// One write inside a transaction.
fn write() -> impl Strategy<Value = WriteQuery> {
    let by_id = proptest::sample::select(&IDS[..]).prop_map(|id| Expr::Cmp {
        column: 0,
        op: CmpOp::Eq,
        value: Value::Text(id.into()),
    });
    let set = proptest::collection::vec((1usize..5).prop_flat_map(|c| (Just(c), cell(c))), 1..3).prop_map(|mut s| {
        s.sort_by_key(|(c, _)| *c);
        s.dedup_by_key(|(c, _)| *c);
        s
    });
    prop_oneof![
        3 => full_row().prop_map(|row| WriteQuery::Insert(InsertQuery {
            table: def(),
            columns: (0..5).collect(),
            rows: vec![row],
            on_conflict: OnConflict::Update,
        })),
        3 => (set.clone(), by_id.clone()).prop_map(|(set, f)| WriteQuery::Update(UpdateQuery { table: def(), set, filter: Some(f) })),
        1 => (set, leaf()).prop_map(|(set, f)| WriteQuery::Update(UpdateQuery { table: def(), set, filter: Some(f) })),
        2 => by_id.prop_map(|f| WriteQuery::Delete(DeleteQuery { table: def(), filter: Some(f) })),
        1 => leaf().prop_map(|f| WriteQuery::Delete(DeleteQuery { table: def(), filter: Some(f) })),
    ]
}

/// A server patch operation applied during a rebase.
#[derive(Debug, Clone)]
enum Patch {
    Put(Vec<Value>),
    Del(&'static str),
}

#[derive(Debug, Clone)]
enum Step {
    /// An optimistic transaction (kept pending: its undo log is stacked).
    Mutate(Vec<WriteQuery>),
    /// A transaction that fails and rolls back: no change.
    RolledBack(Vec<WriteQuery>),
    /// Undo every pending transaction, apply a server patch, replay the
    /// pending ones but the first `confirmed` — the client's rebase.
    Rebase { patch: Vec<Patch>, confirmed: usize },
    /// Stop one live query and start another.
    Swap(usize, SelectQuery),
}

fn step() -> impl Strategy<Value = Step> {
    let patch = proptest::collection::vec(
        prop_oneof![3 => full_row().prop_map(Patch::Put), 1 => proptest::sample::select(&IDS[..]).prop_map(Patch::Del)],
        0..6,
    );
    prop_oneof![
        6 => proptest::collection::vec(write(), 1..5).prop_map(Step::Mutate),
        1 => proptest::collection::vec(write(), 1..3).prop_map(Step::RolledBack),
        3 => (patch, 0usize..3).prop_map(|(patch, confirmed)| Step::Rebase { patch, confirmed }),
        1 => (0usize..8, query()).prop_map(|(i, q)| Step::Swap(i, q)),
    ]
}

/// Runs writes in one transaction; keeps its undo log when it succeeds.
fn transact(view: &MemoryExecutor, writes: &[WriteQuery], commit: bool) -> Option<UndoLog> {
    run_ready(async {
        let mut tx = view.begin().await.ok()?;
        for w in writes {
            // A failing statement changes nothing; the transaction goes on.
            let _ = tx.write(w.clone()).await;
        }
        commit.then(|| MemoryExecutor::commit_keeping_undo(tx))
    })
    .ok()
    .flatten()
}

fn scratch(view: &MemoryExecutor, q: &SelectQuery) -> Vec<Row> {
    eval::select(q, view.rows(def()).expect("rows").iter())
}

struct Watched {
    id: LiveId,
    query: SelectQuery,
    model: Vec<Row>,
}

fn check(live: &mut LiveQueries, view: &MemoryExecutor, watched: &mut [Watched]) -> Result<(), TestCaseError> {
    let diffs: Vec<(LiveId, RowDiff)> = live.flush(view);
    let mut seen = BTreeSet::new();
    for (id, _) in &diffs {
        prop_assert!(seen.insert(*id), "two diffs for one query in one transaction");
    }
    for w in watched.iter_mut() {
        let truth = scratch(view, &w.query);
        let diff = diffs.iter().find(|(id, _)| *id == w.id).map(|(_, d)| d);
        match diff {
            Some(diff) => {
                prop_assert!(!diff.is_empty(), "an empty diff was delivered");
                prop_assert_ne!(&w.model, &truth, "a diff for a result that did not change: {:?}", diff);
                let before = w.model.clone();
                diff.apply(&mut w.model);
                prop_assert_eq!(&w.model, &truth, "diff {:?} on {:?} for {:?}", diff, before, w.query);
            }
            None => prop_assert_eq!(&w.model, &truth, "result changed without a diff for {:?}", w.query),
        }
        let maintained = live.rows(view, w.id).expect("live");
        prop_assert_eq!(&maintained, &truth, "maintained window differs for {:?}", w.query);
    }
    let orders: BTreeSet<Vec<OrderTerm>> = watched.iter().map(|w| w.query.total_order()).collect();
    prop_assert_eq!(live.index_count(), orders.len(), "queries with one order share one index");
    Ok(())
}

fn run_case(initial: Vec<Vec<Value>>, queries: Vec<SelectQuery>, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let view = MemoryExecutor::new(&SCHEMA);
    for row in initial {
        view.put_row(def(), Row(row)).expect("put");
    }
    let mut live = LiveQueries::new();
    let mut watched: Vec<Watched> = queries
        .into_iter()
        .map(|query| {
            let (id, model) = live.watch(&view, query.clone()).expect("watch");
            Watched { id, query, model }
        })
        .collect();
    for w in &watched {
        prop_assert_eq!(&w.model, &scratch(&view, &w.query), "initial rows of {:?}", w.query);
    }
    let mut pending: Vec<(Vec<WriteQuery>, UndoLog)> = Vec::new();
    for step in steps {
        match step {
            Step::Mutate(writes) => {
                if let Some(undo) = transact(&view, &writes, true) {
                    pending.push((writes, undo));
                }
            }
            Step::RolledBack(writes) => {
                let _ = transact(&view, &writes, false);
            }
            Step::Rebase { patch, confirmed } => {
                for (_, undo) in pending.iter_mut().rev() {
                    view.undo(std::mem::take(undo));
                }
                // The server applied the confirmed mutations: their writes
                // arrive as part of the patch, as puts of the same rows.
                let confirmed = confirmed.min(pending.len());
                for (writes, _) in pending.drain(..confirmed) {
                    let _ = transact(&view, &writes, true);
                }
                for op in patch {
                    match op {
                        Patch::Put(row) => view.put_row(def(), Row(row)).expect("put"),
                        Patch::Del(id) => {
                            view.delete_row(def(), id).expect("del");
                        }
                    }
                }
                for (writes, undo) in pending.iter_mut() {
                    *undo = transact(&view, writes, true).unwrap_or_default();
                }
            }
            Step::Swap(i, query) => {
                if !watched.is_empty() {
                    let old = watched.remove(i % watched.len());
                    prop_assert!(live.unwatch(&view, old.id));
                    prop_assert!(live.rows(&view, old.id).is_none());
                }
                let (id, model) = live.watch(&view, query.clone()).expect("watch");
                watched.push(Watched { id, query, model });
            }
        }
        check(&mut live, &view, &mut watched)?;
    }
    for w in watched.drain(..) {
        live.unwatch(&view, w.id);
    }
    prop_assert!(live.is_empty());
    prop_assert_eq!(live.index_count(), 0, "the last unwatch frees every index");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, max_shrink_iters: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn maintained_results_equal_running_the_query(
        initial in proptest::collection::vec(full_row(), 0..10),
        queries in proptest::collection::vec(query(), 1..5),
        steps in proptest::collection::vec(step(), 1..14),
    ) {
        run_case(initial, queries, steps)?;
    }
}
