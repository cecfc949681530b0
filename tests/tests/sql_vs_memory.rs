//! Differential test: random rows, random queries; SQLite and the in-memory
//! evaluator must return exactly the same rows in the same order, and random
//! writes must leave both stores identical.
//!
//! Covers NULLs (three-valued logic), integer vs real comparison, BINARY text
//! order with non-ASCII text, LIKE case folding, IN lists with NULL, and ties
//! broken by the primary key.

use plasma::exec::run_ready;
use plasma::query::tree::{
    CmpOp, DeleteQuery, Expr, InsertQuery, OnConflict, OrderTerm, SelectQuery, UpdateQuery, WriteQuery,
};
use plasma::{ExecError, Executor, MemoryExecutor, Row, SqliteExecutor, Table, Transaction, Value};
use proptest::prelude::*;

/// Columns: id TEXT pk, name TEXT, note TEXT NULL, score INTEGER NULL, ratio REAL NULL, flag BOOL.
#[plasma::table(name = "fuzz")]
struct Fuzz {
    #[plasma(id)]
    id: String,
    name: String,
    note: Option<String>,
    score: Option<i64>,
    ratio: Option<f64>,
    flag: bool,
}

static SCHEMA: plasma::Schema = plasma::schema![Fuzz];
const TEXT_COLUMNS: [usize; 3] = [0, 1, 2];

fn text() -> impl Strategy<Value = String> {
    // Few distinct characters so equality, ties and prefixes actually happen.
    proptest::collection::vec(
        prop_oneof![Just('a'), Just('b'), Just('A'), Just('B'), Just('é'), Just('É'), Just(' '), Just('😀')],
        0..4,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn integer() -> impl Strategy<Value = i64> {
    prop_oneof![
        -3i64..4,
        Just(i64::MAX),
        Just(i64::MIN),
        Just(9_007_199_254_740_993), // 2^53 + 1: not representable as f64
        Just(9_007_199_254_740_992),
    ]
}

fn real() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-6i32..7).prop_map(|i| f64::from(i) / 2.0),
        Just(-0.0),
        Just(9_007_199_254_740_992.0),
        Just(9.223_372_036_854_776e18),
        Just(-1e300),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![integer().prop_map(Value::Integer), real().prop_map(Value::Real)]
}

/// A value for column `c` as stored (numbers of either class for the numeric columns).
fn cell(c: usize) -> BoxedStrategy<Value> {
    match c {
        0 | 1 => text().prop_map(Value::Text).boxed(),
        2 => prop_oneof![Just(Value::Null), text().prop_map(Value::Text)].boxed(),
        3 => prop_oneof![Just(Value::Null), integer().prop_map(Value::Integer)].boxed(),
        4 => prop_oneof![Just(Value::Null), real().prop_map(Value::Real)].boxed(),
        _ => (0i64..2).prop_map(Value::Integer).boxed(),
    }
}

/// A comparison operand for column `c`: same class, the other numeric class, or NULL.
fn operand(c: usize) -> BoxedStrategy<Value> {
    match c {
        0..=2 => prop_oneof![4 => text().prop_map(Value::Text), 1 => Just(Value::Null)].boxed(),
        _ => prop_oneof![4 => number(), 1 => Just(Value::Null)].boxed(),
    }
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    proptest::collection::btree_map(text(), (cell(1), cell(2), cell(3), cell(4), cell(5)), 0..24).prop_map(|m| {
        m.into_iter()
            .map(|(id, (name, note, score, ratio, flag))| Row(vec![Value::Text(id), name, note, score, ratio, flag]))
            .collect()
    })
}

fn leaf() -> impl Strategy<Value = Expr> {
    let op = prop_oneof![
        Just(CmpOp::Eq),
        Just(CmpOp::Ne),
        Just(CmpOp::Lt),
        Just(CmpOp::Le),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge)
    ];
    let cmp = (0usize..6, op)
        .prop_flat_map(|(column, op)| operand(column).prop_map(move |value| Expr::Cmp { column, op, value }));
    let is_in = (0usize..6).prop_flat_map(|column| {
        proptest::collection::vec(operand(column), 0..4).prop_map(move |values| Expr::In { column, values })
    });
    let like_pattern =
        proptest::collection::vec(prop_oneof![Just('a'), Just('B'), Just('é'), Just('%'), Just('_'), Just(' ')], 0..4)
            .prop_map(|cs| cs.into_iter().collect::<String>());
    let like = (proptest::sample::select(&TEXT_COLUMNS[..]), like_pattern)
        .prop_map(|(column, pattern)| Expr::Like { column, pattern });
    let starts = (proptest::sample::select(&TEXT_COLUMNS[..]), text())
        .prop_map(|(column, prefix)| Expr::StartsWith { column, prefix });
    prop_oneof![
        4 => cmp,
        1 => is_in,
        1 => (0usize..6).prop_map(|column| Expr::IsNull { column }),
        1 => like,
        1 => starts,
    ]
}

fn filter() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Expr::And),
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

fn select() -> impl Strategy<Value = SelectQuery> {
    let order = proptest::collection::vec((0usize..6, any::<bool>()), 0..3)
        .prop_map(|ts| ts.into_iter().map(|(column, descending)| OrderTerm { column, descending }).collect());
    (proptest::option::of(filter()), order, proptest::option::of(0u64..8), 0u64..4).prop_map(
        |(filter, order, limit, offset)| SelectQuery { table: <Fuzz as Table>::DEF, filter, order, limit, offset },
    )
}

fn write() -> impl Strategy<Value = WriteQuery> {
    let table = <Fuzz as Table>::DEF;
    let set = proptest::collection::vec((1usize..6).prop_flat_map(|c| (Just(c), cell(c))), 1..3).prop_map(|mut s| {
        s.sort_by_key(|(c, _)| *c);
        s.dedup_by_key(|(c, _)| *c);
        s
    });
    let upsert_row = (text(), cell(1), cell(2), cell(3), cell(4), cell(5))
        .prop_map(|(id, a, b, c, d, e)| vec![Value::Text(id), a, b, c, d, e]);
    prop_oneof![
        (set, proptest::option::of(filter())).prop_map(move |(set, filter)| WriteQuery::Update(UpdateQuery {
            table,
            set,
            filter
        })),
        proptest::option::of(filter()).prop_map(move |filter| WriteQuery::Delete(DeleteQuery { table, filter })),
        upsert_row.prop_map(move |row| WriteQuery::Insert(InsertQuery {
            table,
            columns: (0..6).collect(),
            rows: vec![row],
            on_conflict: OnConflict::Update,
        })),
    ]
}

fn load<E: Executor>(exec: &E, rows: &[Row]) -> Result<(), ExecError> {
    run_ready(async {
        let mut tx = exec.begin().await?;
        if !rows.is_empty() {
            let q = InsertQuery {
                table: <Fuzz as Table>::DEF,
                columns: (0..6).collect(),
                rows: rows.iter().map(|r| r.0.clone()).collect(),
                on_conflict: OnConflict::Fail,
            };
            tx.write(WriteQuery::Insert(q)).await?;
        }
        E::commit(tx).await
    })?
}

fn run_select<E: Executor>(exec: &E, q: &SelectQuery) -> Result<Vec<Row>, ExecError> {
    run_ready(async {
        let mut tx = exec.begin().await?;
        tx.select(q).await
    })?
}

fn run_write<E: Executor>(exec: &E, q: &WriteQuery) -> Result<u64, ExecError> {
    run_ready(async {
        let mut tx = exec.begin().await?;
        let n = tx.write(q.clone()).await?;
        E::commit(tx).await?;
        Ok(n)
    })?
}

fn stores(rows: &[Row]) -> (SqliteExecutor, MemoryExecutor) {
    let sqlite = SqliteExecutor::open_in_memory().expect("sqlite");
    sqlite.ensure_schema(&SCHEMA).expect("schema");
    let memory = MemoryExecutor::new(&SCHEMA);
    load(&sqlite, rows).expect("load sqlite");
    load(&memory, rows).expect("load memory");
    (sqlite, memory)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn selects_agree(rows in rows(), queries in proptest::collection::vec(select(), 1..8)) {
        let (sqlite, memory) = stores(&rows);
        for q in &queries {
            let expected = run_select(&sqlite, q).expect("sqlite select");
            let actual = run_select(&memory, q).expect("memory select");
            prop_assert_eq!(&actual, &expected, "query {:?}", q);
        }
    }

    #[test]
    fn writes_agree(rows in rows(), writes in proptest::collection::vec(write(), 1..6)) {
        let (sqlite, memory) = stores(&rows);
        let everything = SelectQuery::all(<Fuzz as Table>::DEF);
        for w in &writes {
            let expected = run_write(&sqlite, w).map_err(|e| format!("{e:?}"));
            let actual = run_write(&memory, w).map_err(|e| format!("{e:?}"));
            prop_assert_eq!(actual.is_ok(), expected.is_ok(), "write {:?}: memory {:?} sqlite {:?}", w, actual, expected);
            if let (Ok(a), Ok(e)) = (&actual, &expected) {
                prop_assert_eq!(a, e, "changed-row count of {:?}", w);
            }
            prop_assert_eq!(
                run_select(&memory, &everything).expect("memory"),
                run_select(&sqlite, &everything).expect("sqlite"),
                "after {:?}", w
            );
        }
    }
}
