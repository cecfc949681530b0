//! Overlay transactions (`plasma::exec::overlay`): what they hand to the
//! commit (net changes, savepoints), the merged read at a limit, and a
//! differential test: random writes, selects and savepoints inside one
//! transaction give the same rows, counts and errors on an overlay over
//! SQLite (and over memory) as on SQLite itself, and committing the overlay's
//! net changes leaves the same table. The executor conformance scenarios run
//! on overlays in `executor_conformance.rs`.

use std::collections::BTreeSet;

use plasma::exec::overlay::{Mark, OverlayChange, OverlayTx, TransactionBase};
use plasma::exec::run_ready;
use plasma::query::tree::{InsertQuery, OnConflict, SelectQuery, WriteQuery};
use plasma::{ExecError, Executor, MemoryExecutor, Row, SqliteExecutor, Table, Transaction, Value};
use plasma_conformance::executor::{all, seed};
use plasma_conformance::fuzz::{self, Fuzz, SCHEMA, cell, rows, select, text, write};
use plasma_tests::{Kitchen, kitchen};
use proptest::prelude::*;

/// An overlay over a fresh transaction of `db`.
fn overlay<E: Executor>(db: &E) -> OverlayTx<TransactionBase<E::Tx<'_>>> {
    OverlayTx::new(TransactionBase::new(run_ready(db.begin()).expect("ready").expect("begin")))
}

fn ids(rows: &[Kitchen]) -> Vec<&str> {
    rows.iter().map(|k| k.id.as_str()).collect()
}

/// Deleting or moving the base's first rows must not shorten a limited read:
/// the base is asked for `limit + offset + k` rows.
#[test]
fn own_writes_never_shorten_a_limited_read() {
    let db = plasma_tests::sqlite();
    run_ready(seed(&db, 6)).expect("ready");
    let mut tx = overlay(&db);
    let page = run_ready(async {
        Kitchen::delete().filter(Kitchen::ID.eq("k0000")).run(&mut tx).await?;
        Kitchen::update().set(Kitchen::SCORE, 1000).filter(Kitchen::ID.eq("k0001")).run(&mut tx).await?;
        let first = Kitchen::select().order_by(Kitchen::SCORE.asc()).limit(2).fetch(&mut tx).await?;
        let second = Kitchen::select().order_by(Kitchen::SCORE.asc()).offset(1).limit(2).fetch(&mut tx).await?;
        let last = Kitchen::select().order_by(Kitchen::SCORE.desc()).limit(1).fetch(&mut tx).await?;
        Ok::<_, ExecError>((first, second, last))
    })
    .expect("ready")
    .expect("overlay reads");
    assert_eq!(ids(&page.0), ["k0002", "k0003"]);
    assert_eq!(ids(&page.1), ["k0003", "k0004"]);
    assert_eq!(ids(&page.2), ["k0001"], "the moved row sorts by its new score");
}

/// One net change per row, in first-touch order; nothing for a row created
/// and deleted again; the base is not written before the commit.
#[test]
fn changes_are_net_and_in_first_touch_order() {
    let db = plasma_tests::memory();
    run_ready(seed(&db, 3)).expect("ready");
    let mut tx = overlay(&db);
    run_ready(async {
        Kitchen::update().set(Kitchen::NAME, "once").filter(Kitchen::ID.eq("k0002")).run(&mut tx).await?;
        Kitchen::insert().row(&kitchen(7)).run(&mut tx).await?;
        Kitchen::insert().row(&kitchen(8)).run(&mut tx).await?;
        Kitchen::delete().filter(Kitchen::ID.eq("k0008")).run(&mut tx).await?;
        Kitchen::delete().filter(Kitchen::ID.eq("k0000")).run(&mut tx).await?;
        Kitchen::update()
            .set(Kitchen::NAME, "twice")
            .filter(Kitchen::ID.is_in(["k0002", "k0007"]))
            .run(&mut tx)
            .await?;
        // Deleted, then inserted again: a put of the new row.
        Kitchen::insert().row(&kitchen(0)).run(&mut tx).await?;
        Ok::<_, ExecError>(())
    })
    .expect("ready")
    .expect("writes");
    let (base, changes) = tx.into_parts();
    let mut base = base.into_inner();
    let untouched = run_ready(Kitchen::select().fetch(&mut base)).expect("ready").expect("base read");
    assert_eq!(untouched, (0..3).map(kitchen).collect::<Vec<_>>(), "the base is never written through the overlay");
    let twice = |n| Kitchen { name: "twice".into(), ..kitchen(n) };
    let expected = vec![
        OverlayChange::Put { table: Kitchen::DEF, row: twice(2).to_row() },
        OverlayChange::Put { table: Kitchen::DEF, row: twice(7).to_row() },
        OverlayChange::Put { table: Kitchen::DEF, row: kitchen(0).to_row() },
    ];
    assert_eq!(changes, expected);
}

/// Rolling back to a savepoint discards exactly the writes made after it,
/// including the first touch of a row and a later version of an earlier one.
#[test]
fn savepoints_discard_later_writes() {
    let db = plasma_tests::memory();
    run_ready(seed(&db, 2)).expect("ready");
    let mut tx = overlay(&db);
    let seen = run_ready(async {
        Kitchen::update().set(Kitchen::NAME, "kept").filter(Kitchen::ID.eq("k0000")).run(&mut tx).await?;
        let mark: Mark = tx.savepoint();
        Kitchen::update().set(Kitchen::NAME, "discarded").run(&mut tx).await?;
        Kitchen::insert().row(&kitchen(5)).run(&mut tx).await?;
        tx.rollback_to(mark);
        // The mark stays usable, as SQLite's ROLLBACK TO keeps its savepoint.
        Kitchen::delete().run(&mut tx).await?;
        tx.rollback_to(mark);
        Kitchen::select().fetch(&mut tx).await
    })
    .expect("ready")
    .expect("writes");
    let kept = Kitchen { name: "kept".into(), ..kitchen(0) };
    assert_eq!(seen, vec![kept.clone(), kitchen(1)]);
    assert_eq!(tx.into_changes(), vec![OverlayChange::Put { table: Kitchen::DEF, row: kept.to_row() }]);
}

/// A committed overlay leaves the base as the same writes on the base would.
#[test]
fn commit_writes_the_net_changes() {
    let db = plasma_tests::overlay::OverlayExecutor(plasma_tests::sqlite());
    run_ready(seed(&db, 4)).expect("ready");
    plasma_tests::in_tx(&db, async |tx| {
        Kitchen::delete().filter(Kitchen::SCORE.lt(20)).run(tx).await?;
        Kitchen::upsert().row(&Kitchen { name: "up".into(), ..kitchen(3) }).run(tx).await
    })
    .expect("commit");
    assert_eq!(run_ready(all(&db.0)).expect("ready"), vec![kitchen(2), Kitchen { name: "up".into(), ..kitchen(3) }]);
}

/// One step of the differential test.
#[derive(Debug, Clone)]
enum Op {
    Select(SelectQuery),
    Write(WriteQuery),
    /// Takes a savepoint.
    Savepoint,
    /// Rolls back to the newest savepoint (kept), if any.
    RollBack,
}

/// What a step gave; errors by kind (SQLite's constraint messages are its own).
#[derive(Debug, PartialEq)]
enum Outcome {
    Rows(Vec<Row>),
    Count(u64),
    Error(String),
    Done,
}

fn outcome<T>(result: Result<T, ExecError>, ok: impl FnOnce(T) -> Outcome) -> Outcome {
    match result {
        Ok(t) => ok(t),
        Err(ExecError::Query(e)) => Outcome::Error(format!("{e:?}")),
        Err(ExecError::Constraint { .. }) => Outcome::Error("constraint".into()),
        Err(e) => Outcome::Error(format!("unexpected: {e}")),
    }
}

/// Plain inserts (duplicates fail), several rows with repeated keys, and
/// column subsets (omitted columns default, missing required ones fail).
fn insert() -> impl Strategy<Value = WriteQuery> {
    let row = (text(), cell(1), cell(2), cell(3), cell(4), cell(5))
        .prop_map(|(id, a, b, c, d, e)| vec![Value::Text(id), a, b, c, d, e]);
    let columns = proptest::collection::btree_set(1usize..6, 0..6);
    (proptest::collection::vec(row, 1..4), columns, any::<bool>()).prop_map(|(rows, columns, upsert)| {
        let columns: Vec<usize> = std::iter::once(0).chain(columns).collect();
        let rows = rows.into_iter().map(|r| columns.iter().map(|c| r[*c].clone()).collect()).collect();
        let on_conflict = if upsert { OnConflict::Update } else { OnConflict::Fail };
        WriteQuery::Insert(InsertQuery { table: <Fuzz as Table>::DEF, columns, rows, on_conflict })
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => select().prop_map(Op::Select),
        3 => write().prop_map(Op::Write),
        2 => insert().prop_map(Op::Write),
        1 => Just(Op::Savepoint),
        1 => Just(Op::RollBack),
    ]
}

fn sqlite() -> SqliteExecutor {
    let db = SqliteExecutor::open_in_memory().expect("sqlite");
    db.ensure_schema(&SCHEMA).expect("schema");
    db
}

/// `ops` in one SQLite transaction (savepoints as SQL), committed; the
/// outcomes and the table after.
async fn on_sqlite(db: &SqliteExecutor, ops: &[Op]) -> Result<(Vec<Outcome>, Vec<Row>), ExecError> {
    let mut tx = db.begin().await?;
    let mut savepoints = 0;
    let mut outcomes = Vec::new();
    for op in ops {
        outcomes.push(match op {
            Op::Select(q) => outcome(tx.select(q).await, Outcome::Rows),
            Op::Write(w) => outcome(tx.write(w.clone()).await, Outcome::Count),
            Op::Savepoint => {
                savepoints += 1;
                let sql = format!("SAVEPOINT s{savepoints}");
                tx.connection().execute_batch(&sql).map_err(plasma::exec::sqlite::map_err)?;
                Outcome::Done
            }
            Op::RollBack => {
                if savepoints > 0 {
                    let sql = format!("ROLLBACK TO s{savepoints}");
                    tx.connection().execute_batch(&sql).map_err(plasma::exec::sqlite::map_err)?;
                }
                Outcome::Done
            }
        });
    }
    SqliteExecutor::commit(tx).await?;
    let table = fuzz::run_select(db, &SelectQuery::all(<Fuzz as Table>::DEF)).await?;
    Ok((outcomes, table))
}

/// `ops` on an overlay over one transaction of `db`, then its net changes
/// written to that transaction and committed; the outcomes and the table after.
/// Also checks the base was not written before the commit and that every row
/// has at most one net change.
async fn on_overlay<E: Executor>(db: &E, ops: &[Op]) -> Result<(Vec<Outcome>, Vec<Row>), String> {
    let everything = SelectQuery::all(<Fuzz as Table>::DEF);
    let mut base = db.begin().await.map_err(|e| e.to_string())?;
    let before = base.select(&everything).await.map_err(|e| e.to_string())?;
    let mut tx = OverlayTx::new(TransactionBase::new(base));
    let mut marks = Vec::new();
    let mut outcomes = Vec::new();
    for op in ops {
        outcomes.push(match op {
            Op::Select(q) => outcome(tx.select(q).await, Outcome::Rows),
            Op::Write(w) => outcome(tx.write(w.clone()).await, Outcome::Count),
            Op::Savepoint => {
                marks.push(tx.savepoint());
                Outcome::Done
            }
            Op::RollBack => {
                if let Some(mark) = marks.last() {
                    tx.rollback_to(*mark);
                }
                Outcome::Done
            }
        });
    }
    let (base, changes) = tx.into_parts();
    let mut base = base.into_inner();
    if base.select(&everything).await.map_err(|e| e.to_string())? != before {
        return Err("the overlay wrote to its base".into());
    }
    let mut seen = BTreeSet::new();
    for change in changes {
        let id = match &change {
            OverlayChange::Put { table, row } | OverlayChange::Create { table, row } => {
                row.pk(table).unwrap_or_default().to_owned()
            }
            OverlayChange::Delete { id, .. } | OverlayChange::Absent { id, .. } => id.clone(),
        };
        if !seen.insert(id.clone()) {
            return Err(format!("two net changes for {id:?}"));
        }
        if let Some(write) = change.into_write() {
            base.write(write).await.map_err(|e| format!("applying {id:?}: {e}"))?;
        }
    }
    E::commit(base).await.map_err(|e| e.to_string())?;
    let table = fuzz::run_select(db, &everything).await.map_err(|e| e.to_string())?;
    Ok((outcomes, table))
}

fn compare(
    name: &str,
    ops: &[Op],
    want: &(Vec<Outcome>, Vec<Row>),
    got: &(Vec<Outcome>, Vec<Row>),
) -> Result<(), String> {
    for (i, (w, g)) in want.0.iter().zip(&got.0).enumerate() {
        if w != g {
            return Err(format!("{name}, step {i} {:?}\n  expected {w:?}\n  got      {g:?}", ops[i]));
        }
    }
    if want.1 != got.1 {
        return Err(format!("{name}, committed table\n  expected {:?}\n  got      {:?}", want.1, got.1));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn overlay_agrees_with_sqlite(rows in rows(), ops in proptest::collection::vec(op(), 1..16)) {
        let reference = sqlite();
        let on_sqlite_base = sqlite();
        let on_memory_base = MemoryExecutor::new(&SCHEMA);
        for db in [&reference, &on_sqlite_base] {
            run_ready(fuzz::load(db, &rows)).expect("ready").expect("load");
        }
        run_ready(fuzz::load(&on_memory_base, &rows)).expect("ready").expect("load");
        let want = run_ready(on_sqlite(&reference, &ops)).expect("ready").expect("reference");
        let got = run_ready(on_overlay(&on_sqlite_base, &ops)).expect("ready");
        let got = got.map_err(TestCaseError::fail)?;
        compare("overlay on SQLite", &ops, &want, &got).map_err(TestCaseError::fail)?;
        let got = run_ready(on_overlay(&on_memory_base, &ops)).expect("ready");
        let got = got.map_err(TestCaseError::fail)?;
        compare("overlay on memory", &ops, &want, &got).map_err(TestCaseError::fail)?;
    }
}
