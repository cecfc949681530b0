//! The same scenarios run on the SQLite executor and the in-memory executor:
//! app code written against `plasma::Transaction` behaves identically on both.

use plasma::exec::run_ready;
use plasma::query::tree::{InsertQuery, OnConflict, WriteQuery};
use plasma::{ExecError, Executor, QueryError, Value};
use plasma_tests::{Kitchen, Meta, Shelf, in_tx, kitchen};

fn seed<E: Executor>(db: &E, n: i64) {
    in_tx(db, async |tx| {
        for i in 0..n {
            Kitchen::insert().row(&kitchen(i)).run(tx).await?;
        }
        Ok(())
    })
    .expect("seed");
}

fn all<E: Executor>(db: &E) -> Vec<Kitchen> {
    in_tx(db, async |tx| Kitchen::select().fetch(tx).await).expect("select all")
}

fn round_trips_every_column_type<E: Executor>(db: &E) {
    seed(db, 6);
    let rows = all(db);
    assert_eq!(rows, (0..6).map(kitchen).collect::<Vec<_>>());
}

fn omitted_columns_take_defaults_or_null<E: Executor>(db: &E) {
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
    .expect("insert with omitted columns");
    let row = row.expect("row exists");
    assert_eq!(row.level, -1, "integer default");
    assert_eq!(row.ratio, 0.5, "real default");
    assert!(row.active, "bool default");
    assert_eq!(row.note, None, "nullable without default is NULL");
    assert_eq!(row.extra, None);
}

fn missing_required_column_is_a_typed_error<E: Executor>(db: &E) {
    let err = in_tx(db, async |tx| Kitchen::insert().value(Kitchen::ID, "x").run(tx).await).unwrap_err();
    assert!(matches!(err, ExecError::Query(QueryError::MissingColumn { table: "kitchen", column: "name" })), "{err:?}");
    assert!(all(db).is_empty());
}

fn duplicate_key_fails_and_upsert_updates<E: Executor>(db: &E) {
    seed(db, 2);
    let err = in_tx(db, async |tx| Kitchen::insert().row(&kitchen(1)).run(tx).await).unwrap_err();
    assert!(matches!(err, ExecError::Constraint { .. }), "{err:?}");

    let mut changed = kitchen(1);
    changed.name = "renamed".into();
    changed.note = None;
    let n = in_tx(db, async |tx| Kitchen::upsert().row(&changed).run(tx).await).expect("upsert existing");
    assert_eq!(n, 1);
    let n = in_tx(db, async |tx| Kitchen::upsert().row(&kitchen(9)).run(tx).await).expect("upsert new");
    assert_eq!(n, 1);
    assert_eq!(all(db), vec![kitchen(0), changed, kitchen(9)]);
}

fn update_and_delete_with_filters<E: Executor>(db: &E) {
    seed(db, 10);
    let updated = in_tx(db, async |tx| {
        Kitchen::update()
            .set(Kitchen::NAME, "big")
            .set(Kitchen::WEIGHT, None)
            .filter(Kitchen::SCORE.ge(50))
            .run(tx)
            .await
    })
    .expect("update");
    assert_eq!(updated, 5);
    let deleted =
        in_tx(db, async |tx| Kitchen::delete().filter(Kitchen::NOTE.is_null().or(Kitchen::SCORE.lt(20))).run(tx).await)
            .expect("delete");
    // Odd n have no note (5 rows), plus k0000 with score 0 < 20 (k0001 is odd already).
    assert_eq!(deleted, 6);
    let left: Vec<(String, String, Option<f64>)> = all(db).into_iter().map(|k| (k.id, k.name, k.weight)).collect();
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

fn select_orders_limits_and_offsets<E: Executor>(db: &E) {
    seed(db, 10);
    let ids = |rows: Vec<Kitchen>| rows.into_iter().map(|k| k.id).collect::<Vec<_>>();
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
    .expect("page");
    // levels: n % 5; candidates: odd n plus 0 and 2 -> {0,1,2,3,5,7,9}; by level desc, score asc:
    // 9(l4), 3(l3), 7(l2), 2(l2), 1(l1), 0(l0), 5(l0) -> sorted within level by score: 2 before 7.
    assert_eq!(ids(page), vec!["k0003", "k0002", "k0007"]);
    let first = in_tx(db, async |tx| {
        Kitchen::select().filter(Kitchen::NAME.starts_with("name 1")).order_by(Kitchen::ID.desc()).first(tx).await
    })
    .expect("first");
    assert_eq!(first.map(|k| k.id).as_deref(), Some("k0001"));
    let liked =
        in_tx(db, async |tx| Kitchen::select().filter(Kitchen::NOTE.like("NOTE _")).fetch(tx).await).expect("like");
    assert_eq!(ids(liked), vec!["k0000", "k0002", "k0004", "k0006", "k0008"]);
    let none = in_tx(db, async |tx| Kitchen::select().filter(Kitchen::SCORE.is_in(Vec::<i64>::new())).fetch(tx).await)
        .expect("empty in");
    assert!(none.is_empty());
}

fn nulls_follow_three_valued_logic<E: Executor>(db: &E) {
    seed(db, 4);
    let ids = |f| {
        in_tx(db, async |tx| Kitchen::select().filter(f).fetch(tx).await)
            .expect("select")
            .into_iter()
            .map(|k| k.id)
            .collect::<Vec<_>>()
    };
    // note is NULL for odd rows: `note <> 'note 0'` is unknown there, and so is its negation.
    assert_eq!(ids(Kitchen::NOTE.ne("note 0")), vec!["k0002"]);
    assert_eq!(ids(!Kitchen::NOTE.ne("note 0")), vec!["k0000"]);
    assert_eq!(ids(Kitchen::NOTE.eq(None)), Vec::<String>::new());
    assert_eq!(ids(Kitchen::NOTE.is_not_null()), vec!["k0000", "k0002"]);
}

fn rollback_on_drop_and_statement_atomicity<E: Executor>(db: &E) {
    seed(db, 1);
    run_ready(async {
        let mut tx = db.begin().await?;
        Kitchen::insert().row(&kitchen(5)).run(&mut tx).await?;
        Kitchen::delete().run(&mut tx).await?;
        drop(tx);
        Ok::<_, ExecError>(())
    })
    .expect("ready")
    .expect("tx");
    assert_eq!(all(db), vec![kitchen(0)], "dropped transaction leaves no trace");

    // A two-row insert whose second row collides inserts neither.
    let both = WriteQuery::Insert(InsertQuery {
        table: <Kitchen as plasma::Table>::DEF,
        columns: (0..12).collect(),
        rows: vec![plasma::Table::to_row(&kitchen(7)).0, plasma::Table::to_row(&kitchen(0)).0],
        on_conflict: OnConflict::Fail,
    });
    let result = in_tx(db, async |tx| {
        let err = plasma::Transaction::write(tx, both).await.unwrap_err();
        assert!(matches!(err, ExecError::Constraint { .. }), "{err:?}");
        Kitchen::select().fetch(tx).await
    })
    .expect("tx continues after a failed statement");
    assert_eq!(result, vec![kitchen(0)]);
}

fn dynamic_values_are_checked_against_columns<E: Executor>(db: &E) {
    let mut row = plasma::Table::to_row(&kitchen(1)).0;
    row[3] = Value::Text("not a number".into());
    let q = WriteQuery::Insert(InsertQuery {
        table: <Kitchen as plasma::Table>::DEF,
        columns: (0..12).collect(),
        rows: vec![row],
        on_conflict: OnConflict::Fail,
    });
    let err = in_tx(db, async |tx| plasma::Transaction::write(tx, q).await).unwrap_err();
    assert!(matches!(err, ExecError::Query(QueryError::WrongType { column: "score", .. })), "{err:?}");
    let err = in_tx(db, async |tx| {
        let q = WriteQuery::Update(plasma::query::tree::UpdateQuery {
            table: <Kitchen as plasma::Table>::DEF,
            set: vec![(0, Value::Text("new-id".into()))],
            filter: None,
        });
        plasma::Transaction::write(tx, q).await
    })
    .unwrap_err();
    assert!(matches!(err, ExecError::Query(QueryError::PrimaryKeyUpdate { .. })), "{err:?}");
}

fn tables_are_independent<E: Executor>(db: &E) {
    in_tx(db, async |tx| {
        Shelf::insert().value(Shelf::ID, "s1").value(Shelf::LABEL, "top").run(tx).await?;
        Kitchen::insert().row(&kitchen(1)).run(tx).await
    })
    .expect("insert");
    let shelves = in_tx(db, async |tx| Shelf::select().fetch(tx).await).expect("shelves");
    assert_eq!(shelves, vec![Shelf { id: "s1".into(), label: "top".into() }]);
    assert_eq!(all(db).len(), 1);
}

macro_rules! on_every_executor {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $scenario() { super::$scenario(&plasma_tests::sqlite()) })*
        }
        mod memory {
            $(#[test] fn $scenario() { super::$scenario(&plasma_tests::memory()) })*
        }
    };
}

on_every_executor!(
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
);

#[test]
fn sqlite_file_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kitchen.db");
    {
        let db = plasma::SqliteExecutor::open(&path).expect("open");
        db.ensure_schema(&plasma_tests::SCHEMA).expect("schema");
        seed(&db, 3);
    }
    let db = plasma::SqliteExecutor::open(&path).expect("reopen");
    assert!(db.ensure_schema(&plasma_tests::SCHEMA).expect("schema again").is_empty());
    assert_eq!(all(&db), (0..3).map(kitchen).collect::<Vec<_>>());
}
