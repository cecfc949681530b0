//! Executor scenarios: app code written against `plasma::Transaction` behaves
//! identically on every backend. Each takes a fresh, empty store for
//! [`fixtures::SCHEMA`](crate::fixtures::SCHEMA); [`executor_scenarios!`]
//! lists them all.

use plasma::query::tree::{InsertQuery, OnConflict, UpdateQuery, WriteQuery};
use plasma::{ExecError, Executor, QueryError, Table, Transaction, Value};

use crate::fixtures::{Kitchen, Meta, Shelf, kitchen};

/// Calls `$callback! { scenario, ... }` with the name of every scenario in
/// this module, so a runner can define one test per scenario.
#[macro_export]
macro_rules! executor_scenarios {
    ($callback:ident) => {
        $callback! {
            round_trips_every_column_type,
            omitted_columns_take_defaults_or_null,
            missing_required_column_is_a_typed_error,
            duplicate_key_fails_and_upsert_updates,
            update_and_delete_with_filters,
            select_orders_limits_and_offsets,
            nulls_follow_three_valued_logic,
            rollback_on_drop_and_statement_atomicity,
            dynamic_values_are_checked_against_columns,
            tables_are_independent,
            indexed_shapes_match_scans,
        }
    };
}

/// Runs `body` in one transaction on `exec` and commits it if it succeeds.
pub async fn in_tx<E, T>(
    exec: &E,
    body: impl AsyncFnOnce(&mut E::Tx<'_>) -> Result<T, ExecError>,
) -> Result<T, ExecError>
where
    E: Executor,
{
    let mut tx = exec.begin().await?;
    let out = body(&mut tx).await?;
    E::commit(tx).await?;
    Ok(out)
}

/// Inserts `kitchen(0..n)` in one transaction.
pub async fn seed<E: Executor>(db: &E, n: i64) {
    in_tx(db, async |tx| {
        for i in 0..n {
            Kitchen::insert().row(&kitchen(i)).run(tx).await?;
        }
        Ok(())
    })
    .await
    .expect("seed");
}

/// Every kitchen row, in id order.
pub async fn all<E: Executor>(db: &E) -> Vec<Kitchen> {
    in_tx(db, async |tx| Kitchen::select().fetch(tx).await).await.expect("select all")
}

fn ids(rows: Vec<Kitchen>) -> Vec<String> {
    rows.into_iter().map(|k| k.id).collect()
}

/// Every column type survives a write and a read.
pub async fn round_trips_every_column_type<E: Executor>(db: &E) {
    seed(db, 6).await;
    assert_eq!(all(db).await, (0..6).map(kitchen).collect::<Vec<_>>());
}

/// Columns an insert leaves out take their default, or NULL.
pub async fn omitted_columns_take_defaults_or_null<E: Executor>(db: &E) {
    let row = in_tx(db, async |tx| {
        Kitchen::insert()
            .value(Kitchen::ID, "only")
            .value(Kitchen::NAME, "n")
            .value(Kitchen::SCORE, 3)
            .value(Kitchen::COUNT, 7u32)
            .value(Kitchen::DATA, vec![1u8])
            .value(Kitchen::META, Meta { tags: vec![], weight: 1 })
            .run(tx)
            .await?;
        Kitchen::select().filter(Kitchen::ID.eq("only")).first(tx).await
    })
    .await
    .expect("insert with omitted columns");
    let row = row.expect("row exists");
    assert_eq!(row.level, -1, "integer default");
    assert_eq!(row.ratio, 0.5, "real default");
    assert!(row.active, "bool default");
    assert_eq!(row.note, None, "nullable without default is NULL");
    assert_eq!(row.extra, None);
}

/// Leaving out a NOT NULL column without a default is a typed error.
pub async fn missing_required_column_is_a_typed_error<E: Executor>(db: &E) {
    let err = in_tx(db, async |tx| Kitchen::insert().value(Kitchen::ID, "x").run(tx).await).await.unwrap_err();
    assert!(matches!(err, ExecError::Query(QueryError::MissingColumn { table: "kitchen", column: "name" })), "{err:?}");
    assert!(all(db).await.is_empty());
}

/// A duplicate key is a constraint error; an upsert updates or inserts.
pub async fn duplicate_key_fails_and_upsert_updates<E: Executor>(db: &E) {
    seed(db, 2).await;
    let err = in_tx(db, async |tx| Kitchen::insert().row(&kitchen(1)).run(tx).await).await.unwrap_err();
    assert!(matches!(err, ExecError::Constraint { .. }), "{err:?}");

    let mut changed = kitchen(1);
    changed.name = "renamed".into();
    changed.note = None;
    let n = in_tx(db, async |tx| Kitchen::upsert().row(&changed).run(tx).await).await.expect("upsert existing");
    assert_eq!(n, 1);
    let n = in_tx(db, async |tx| Kitchen::upsert().row(&kitchen(9)).run(tx).await).await.expect("upsert new");
    assert_eq!(n, 1);
    assert_eq!(all(db).await, vec![kitchen(0), changed, kitchen(9)]);
}

/// Updates and deletes touch exactly the rows their filter matches.
pub async fn update_and_delete_with_filters<E: Executor>(db: &E) {
    seed(db, 10).await;
    let updated = in_tx(db, async |tx| {
        Kitchen::update()
            .set(Kitchen::NAME, "big")
            .set(Kitchen::WEIGHT, None)
            .filter(Kitchen::SCORE.ge(50))
            .run(tx)
            .await
    })
    .await
    .expect("update");
    assert_eq!(updated, 5);
    let deleted =
        in_tx(db, async |tx| Kitchen::delete().filter(Kitchen::NOTE.is_null().or(Kitchen::SCORE.lt(20))).run(tx).await)
            .await
            .expect("delete");
    // Odd n have no note (5 rows), plus k0000 with score 0 < 20 (k0001 is odd already).
    assert_eq!(deleted, 6);
    let left: Vec<(String, String, Option<f64>)> =
        all(db).await.into_iter().map(|k| (k.id, k.name, k.weight)).collect();
    assert_eq!(
        left,
        vec![
            ("k0002".into(), "name 2".into(), None),
            ("k0004".into(), "name 4".into(), None),
            ("k0006".into(), "big".into(), None),
            ("k0008".into(), "big".into(), None),
        ]
    );
}

/// Multi-term order, offset, limit, `first`, LIKE and empty IN.
pub async fn select_orders_limits_and_offsets<E: Executor>(db: &E) {
    seed(db, 10).await;
    let page = in_tx(db, async |tx| {
        Kitchen::select()
            .filter(Kitchen::ACTIVE.eq(true) | Kitchen::SCORE.is_in([0, 20]))
            .order_by(Kitchen::LEVEL.desc())
            .order_by(Kitchen::SCORE.asc())
            .offset(1)
            .limit(3)
            .fetch(tx)
            .await
    })
    .await
    .expect("page");
    // levels: n % 5; candidates: odd n plus 0 and 2 -> {0,1,2,3,5,7,9}; by level desc, score asc:
    // 9(l4), 3(l3), 7(l2), 2(l2), 1(l1), 0(l0), 5(l0) -> sorted within level by score: 2 before 7.
    assert_eq!(ids(page), vec!["k0003", "k0002", "k0007"]);
    let first = in_tx(db, async |tx| {
        Kitchen::select().filter(Kitchen::NAME.starts_with("name 1")).order_by(Kitchen::ID.desc()).first(tx).await
    })
    .await
    .expect("first");
    assert_eq!(first.map(|k| k.id).as_deref(), Some("k0001"));
    let liked = in_tx(db, async |tx| Kitchen::select().filter(Kitchen::NOTE.like("NOTE _")).fetch(tx).await)
        .await
        .expect("like");
    assert_eq!(ids(liked), vec!["k0000", "k0002", "k0004", "k0006", "k0008"]);
    let none = in_tx(db, async |tx| Kitchen::select().filter(Kitchen::SCORE.is_in(Vec::<i64>::new())).fetch(tx).await)
        .await
        .expect("empty in");
    assert!(none.is_empty());
}

/// NULL comparisons are unknown, and so are their negations.
pub async fn nulls_follow_three_valued_logic<E: Executor>(db: &E) {
    seed(db, 4).await;
    let select =
        async |f| ids(in_tx(db, async |tx| Kitchen::select().filter(f).fetch(tx).await).await.expect("select"));
    // note is NULL for odd rows: `note <> 'note 0'` is unknown there, and so is its negation.
    assert_eq!(select(Kitchen::NOTE.ne("note 0")).await, vec!["k0002"]);
    assert_eq!(select(!Kitchen::NOTE.ne("note 0")).await, vec!["k0000"]);
    assert_eq!(select(Kitchen::NOTE.eq(None)).await, Vec::<String>::new());
    assert_eq!(select(Kitchen::NOTE.is_not_null()).await, vec!["k0000", "k0002"]);
}

/// Dropping a transaction rolls it back; a failing statement changes nothing
/// and the transaction goes on.
pub async fn rollback_on_drop_and_statement_atomicity<E: Executor>(db: &E) {
    seed(db, 1).await;
    let dropped = async {
        let mut tx = db.begin().await?;
        Kitchen::insert().row(&kitchen(5)).run(&mut tx).await?;
        Kitchen::delete().run(&mut tx).await?;
        drop(tx);
        Ok::<_, ExecError>(())
    };
    dropped.await.expect("tx");
    assert_eq!(all(db).await, vec![kitchen(0)], "dropped transaction leaves no trace");

    // A two-row insert whose second row collides inserts neither.
    let both = WriteQuery::Insert(InsertQuery {
        table: Kitchen::DEF,
        columns: (0..12).collect(),
        rows: vec![kitchen(7).to_row().0, kitchen(0).to_row().0],
        on_conflict: OnConflict::Fail,
    });
    let result = in_tx(db, async |tx| {
        let err = tx.write(both).await.unwrap_err();
        assert!(matches!(err, ExecError::Constraint { .. }), "{err:?}");
        Kitchen::select().fetch(tx).await
    })
    .await
    .expect("tx continues after a failed statement");
    assert_eq!(result, vec![kitchen(0)]);
    // Within one statement, a key repeated is a duplicate too.
    let twice = WriteQuery::Insert(InsertQuery {
        table: Kitchen::DEF,
        columns: (0..12).collect(),
        rows: vec![kitchen(8).to_row().0, kitchen(8).to_row().0],
        on_conflict: OnConflict::Fail,
    });
    let err = in_tx(db, async |tx| tx.write(twice).await).await.unwrap_err();
    assert!(matches!(err, ExecError::Constraint { .. }), "{err:?}");
    assert_eq!(all(db).await, vec![kitchen(0)]);
}

/// Hand-built writes are checked against the table's columns.
pub async fn dynamic_values_are_checked_against_columns<E: Executor>(db: &E) {
    let mut row = kitchen(1).to_row().0;
    row[3] = Value::Text("not a number".into());
    let q = WriteQuery::Insert(InsertQuery {
        table: Kitchen::DEF,
        columns: (0..12).collect(),
        rows: vec![row],
        on_conflict: OnConflict::Fail,
    });
    let err = in_tx(db, async |tx| tx.write(q).await).await.unwrap_err();
    assert!(matches!(err, ExecError::Query(QueryError::WrongType { column: "score", .. })), "{err:?}");
    let err = in_tx(db, async |tx| {
        let q = WriteQuery::Update(UpdateQuery {
            table: Kitchen::DEF,
            set: vec![(0, Value::Text("new-id".into()))],
            filter: None,
        });
        tx.write(q).await
    })
    .await
    .unwrap_err();
    assert!(matches!(err, ExecError::Query(QueryError::PrimaryKeyUpdate { .. })), "{err:?}");
}

/// Rows of one table never show up in another.
pub async fn tables_are_independent<E: Executor>(db: &E) {
    in_tx(db, async |tx| {
        Shelf::insert().value(Shelf::ID, "s1").value(Shelf::LABEL, "top").run(tx).await?;
        Kitchen::insert().row(&kitchen(1)).run(tx).await
    })
    .await
    .expect("insert");
    let shelves = in_tx(db, async |tx| Shelf::select().fetch(tx).await).await.expect("shelves");
    assert_eq!(shelves, vec![Shelf { id: "s1".into(), label: "top".into() }]);
    assert_eq!(all(db).await.len(), 1);
}

/// Query shapes an index can serve (equality, ranges, IN, ORDER BY the
/// indexed column with LIMIT, by id) return exactly what the same filter
/// evaluated over every row returns, including after writes move index keys.
pub async fn indexed_shapes_match_scans<E: Executor>(db: &E) {
    seed(db, 12).await;
    // Scores collide and cross the integer/real boundary, so index keys tie.
    in_tx(db, async |tx| {
        Kitchen::update().set(Kitchen::SCORE, 50).filter(Kitchen::ID.is_in(["k0001", "k0009"])).run(tx).await?;
        Kitchen::update().set(Kitchen::SCORE, i64::MAX).filter(Kitchen::ID.eq("k0011")).run(tx).await?;
        Kitchen::update().set(Kitchen::SCORE, i64::MAX - 1).filter(Kitchen::ID.eq("k0010")).run(tx).await
    })
    .await
    .expect("move index keys");
    let everything = all(db).await;
    let scores: Vec<(String, i64)> = everything.iter().map(|k| (k.id.clone(), k.score)).collect();
    let expect = |keep: &dyn Fn(i64) -> bool| -> Vec<String> {
        scores.iter().filter(|(_, s)| keep(*s)).map(|(id, _)| id.clone()).collect()
    };
    let select =
        async |f| ids(in_tx(db, async |tx| Kitchen::select().filter(f).fetch(tx).await).await.expect("select"));
    assert_eq!(select(Kitchen::SCORE.eq(50)).await, expect(&|s| s == 50));
    assert_eq!(select(Kitchen::SCORE.ge(50)).await, expect(&|s| s >= 50));
    assert_eq!(select(Kitchen::SCORE.gt(50)).await, expect(&|s| s > 50));
    assert_eq!(select(Kitchen::SCORE.lt(50)).await, expect(&|s| s < 50));
    assert_eq!(select(Kitchen::SCORE.le(50)).await, expect(&|s| s <= 50));
    assert_eq!(select(Kitchen::SCORE.eq(i64::MAX)).await, vec!["k0011"], "2^63-1 and 2^63-2 share a JS number");
    assert_eq!(select(Kitchen::SCORE.lt(i64::MAX)).await, expect(&|s| s < i64::MAX));
    assert_eq!(select(Kitchen::SCORE.is_in([0, 50, 70, 71])).await, expect(&|s| [0, 50, 70].contains(&s)));
    assert_eq!(
        select(Kitchen::SCORE.ge(20) & Kitchen::SCORE.lt(80) & Kitchen::ACTIVE.eq(true)).await,
        everything.iter().filter(|k| (20..80).contains(&k.score) && k.active).map(|k| k.id.clone()).collect::<Vec<_>>()
    );
    assert_eq!(select(Kitchen::ID.eq("k0003") & Kitchen::SCORE.eq(30)).await, vec!["k0003"]);
    assert_eq!(select(Kitchen::ID.eq("k0003") & Kitchen::SCORE.eq(31)).await, Vec::<String>::new());
    // ORDER BY the indexed column with LIMIT, both directions, with ties at the cut.
    let mut by_score = everything.clone();
    by_score.sort_by(|a, b| a.score.cmp(&b.score).then(a.id.cmp(&b.id)));
    let page = async |desc: bool, offset: u64, limit: u64| {
        ids(in_tx(db, async |tx| {
            let order = if desc { Kitchen::SCORE.desc() } else { Kitchen::SCORE.asc() };
            Kitchen::select().order_by(order).offset(offset).limit(limit).fetch(tx).await
        })
        .await
        .expect("page"))
    };
    let want = |rows: &[Kitchen], offset: usize, limit: usize| {
        rows.iter().skip(offset).take(limit).map(|k| k.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(page(false, 0, 3).await, want(&by_score, 0, 3));
    assert_eq!(page(false, 4, 3).await, want(&by_score, 4, 3));
    assert_eq!(page(false, 3, 2).await, want(&by_score, 3, 2), "the cut falls inside the tie at 50");
    let mut by_score_desc = everything.clone();
    by_score_desc.sort_by(|a, b| b.score.cmp(&a.score).then(a.id.cmp(&b.id)));
    assert_eq!(page(true, 0, 2).await, want(&by_score_desc, 0, 2));
    assert_eq!(page(true, 2, 3).await, want(&by_score_desc, 2, 3));
    // Walking down, tied keys come in descending id order: the walk must not stop at the first.
    assert_eq!(page(true, 4, 2).await, want(&by_score_desc, 4, 2), "the cut falls inside the tie at 50");
    let filtered = ids(in_tx(db, async |tx| {
        Kitchen::select()
            .filter(Kitchen::SCORE.lt(100) & Kitchen::ACTIVE.eq(false))
            .order_by(Kitchen::SCORE.desc())
            .limit(2)
            .fetch(tx)
            .await
    })
    .await
    .expect("filtered walk"));
    let want_filtered: Vec<String> =
        by_score_desc.iter().filter(|k| k.score < 100 && !k.active).take(2).map(|k| k.id.clone()).collect();
    assert_eq!(filtered, want_filtered);
    // Writes through an index path.
    let n =
        in_tx(db, async |tx| Kitchen::update().set(Kitchen::NAME, "fifty").filter(Kitchen::SCORE.eq(50)).run(tx).await)
            .await
            .expect("update by index");
    assert_eq!(n as usize, expect(&|s| s == 50).len());
    let n = in_tx(db, async |tx| Kitchen::delete().filter(Kitchen::SCORE.gt(60)).run(tx).await).await.expect("delete");
    assert_eq!(n as usize, expect(&|s| s > 60).len());
    let left = all(db).await;
    assert!(left.iter().all(|k| k.score <= 60), "{left:?}");
    assert_eq!(left.iter().filter(|k| k.name == "fifty").count(), expect(&|s| s == 50).len());
}
