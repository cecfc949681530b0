//! Random rows, queries and writes over one table for differential tests:
//! every backend must return exactly what the in-memory executor returns.
//! `plasma-tests` checks SQLite with them natively, `plasma-web-tests`
//! IndexedDB in Chromium.
//!
//! Covers NULLs (three-valued logic), integer vs real comparison, BINARY text
//! order with non-ASCII text, LIKE case folding, IN lists with NULL, and ties
//! broken by the primary key.

use plasma::query::tree::{
    CmpOp, DeleteQuery, Expr, InsertQuery, OnConflict, OrderTerm, SelectQuery, UpdateQuery, WriteQuery,
};
use plasma::{ExecError, Executor, Row, Table, Transaction, Value};
use proptest::prelude::*;

/// Columns: id TEXT pk, name TEXT, note TEXT NULL, score INTEGER NULL, ratio REAL NULL, flag BOOL.
/// Every column but `name` is indexed, so backends with index access paths
/// (IndexedDB) serve random filters and orders through them.
#[plasma::table(name = "fuzz")]
pub struct Fuzz {
    /// A column.
    #[plasma(id)]
    pub id: String,
    /// A column.
    pub name: String,
    /// A column.
    #[plasma(index)]
    pub note: Option<String>,
    /// A column.
    #[plasma(index)]
    pub score: Option<i64>,
    /// A column.
    #[plasma(index)]
    pub ratio: Option<f64>,
    /// A column.
    #[plasma(index)]
    pub flag: bool,
}

/// The fuzz table alone.
pub static SCHEMA: plasma::Schema = plasma::schema![Fuzz];
/// Positions of the text columns.
const TEXT_COLUMNS: [usize; 3] = [0, 1, 2];

/// Short text over a few characters (ASCII, accented, astral), so equality, ties and prefixes happen.
pub fn text() -> impl Strategy<Value = String> {
    // Few distinct characters so equality, ties and prefixes actually happen.
    proptest::collection::vec(
        prop_oneof![Just('a'), Just('b'), Just('A'), Just('B'), Just('é'), Just('É'), Just(' '), Just('😀')],
        0..4,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

/// Small integers and the edges of i64 and f64 precision.
pub fn integer() -> impl Strategy<Value = i64> {
    prop_oneof![
        -3i64..4,
        Just(i64::MAX),
        Just(i64::MIN),
        Just(9_007_199_254_740_993), // 2^53 + 1: not representable as f64
        Just(9_007_199_254_740_992),
    ]
}

/// Halves, negative zero and large reals.
pub fn real() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-6i32..7).prop_map(|i| f64::from(i) / 2.0),
        Just(-0.0),
        Just(9_007_199_254_740_992.0),
        Just(9.223_372_036_854_776e18),
        Just(-1e300),
    ]
}

/// An integer or a real.
pub fn number() -> impl Strategy<Value = Value> {
    prop_oneof![integer().prop_map(Value::Integer), real().prop_map(Value::Real)]
}

/// A value for column `c` as stored (numbers of either class for the numeric columns).
pub fn cell(c: usize) -> BoxedStrategy<Value> {
    match c {
        0 | 1 => text().prop_map(Value::Text).boxed(),
        2 => prop_oneof![Just(Value::Null), text().prop_map(Value::Text)].boxed(),
        3 => prop_oneof![Just(Value::Null), integer().prop_map(Value::Integer)].boxed(),
        4 => prop_oneof![Just(Value::Null), real().prop_map(Value::Real)].boxed(),
        _ => (0i64..2).prop_map(Value::Integer).boxed(),
    }
}

/// A comparison operand for column `c`: same class, the other numeric class, or NULL.
pub fn operand(c: usize) -> BoxedStrategy<Value> {
    match c {
        0..=2 => prop_oneof![4 => text().prop_map(Value::Text), 1 => Just(Value::Null)].boxed(),
        _ => prop_oneof![4 => number(), 1 => Just(Value::Null)].boxed(),
    }
}

/// A table's worth of rows with distinct ids.
pub fn rows() -> impl Strategy<Value = Vec<Row>> {
    proptest::collection::btree_map(text(), (cell(1), cell(2), cell(3), cell(4), cell(5)), 0..24).prop_map(|m| {
        m.into_iter()
            .map(|(id, (name, note, score, ratio, flag))| Row(vec![Value::Text(id), name, note, score, ratio, flag]))
            .collect()
    })
}

/// One comparison, IN, IS NULL, LIKE or prefix test.
pub fn leaf() -> impl Strategy<Value = Expr> {
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

/// A filter tree of leaves under AND, OR and NOT.
pub fn filter() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Expr::And),
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

/// A select with optional filter, order, limit and offset.
pub fn select() -> impl Strategy<Value = SelectQuery> {
    let order = proptest::collection::vec((0usize..6, any::<bool>()), 0..3)
        .prop_map(|ts| ts.into_iter().map(|(column, descending)| OrderTerm { column, descending }).collect());
    (proptest::option::of(filter()), order, proptest::option::of(0u64..8), 0u64..4).prop_map(
        |(filter, order, limit, offset)| SelectQuery { table: <Fuzz as Table>::DEF, filter, order, limit, offset },
    )
}

/// An update, delete or single-row upsert.
pub fn write() -> impl Strategy<Value = WriteQuery> {
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

/// Replaces every fuzz row of `exec` with `rows`, in one transaction.
pub async fn load<E: Executor>(exec: &E, rows: &[Row]) -> Result<(), ExecError> {
    let mut tx = exec.begin().await?;
    tx.write(WriteQuery::Delete(DeleteQuery { table: <Fuzz as Table>::DEF, filter: None })).await?;
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
}

/// Runs one select in its own transaction.
pub async fn run_select<E: Executor>(exec: &E, q: &SelectQuery) -> Result<Vec<Row>, ExecError> {
    let mut tx = exec.begin().await?;
    tx.select(q).await
}

/// Runs one write in its own transaction and commits it.
pub async fn run_write<E: Executor>(exec: &E, q: &WriteQuery) -> Result<u64, ExecError> {
    let mut tx = exec.begin().await?;
    let n = tx.write(q.clone()).await?;
    E::commit(tx).await?;
    Ok(n)
}

/// Loads `rows` into both stores, then checks every query returns the same
/// rows on `subject` as on `reference`. `Err` describes the first difference.
pub async fn selects_agree<R: Executor, S: Executor>(
    reference: &R,
    subject: &S,
    rows: &[Row],
    queries: &[SelectQuery],
) -> Result<(), String> {
    load(reference, rows).await.map_err(|e| format!("load reference: {e}"))?;
    load(subject, rows).await.map_err(|e| format!("load subject: {e}"))?;
    for q in queries {
        let expected = run_select(reference, q).await.map_err(|e| format!("reference select {q:?}: {e}"))?;
        let actual = run_select(subject, q).await.map_err(|e| format!("subject select {q:?}: {e}"))?;
        if actual != expected {
            return Err(format!("query {q:?}\n  expected {expected:?}\n  got      {actual:?}"));
        }
    }
    Ok(())
}

/// Loads `rows` into both stores, applies `writes` to each, and checks both
/// agree on success, changed-row counts and the whole table after every write.
pub async fn writes_agree<R: Executor, S: Executor>(
    reference: &R,
    subject: &S,
    rows: &[Row],
    writes: &[WriteQuery],
) -> Result<(), String> {
    load(reference, rows).await.map_err(|e| format!("load reference: {e}"))?;
    load(subject, rows).await.map_err(|e| format!("load subject: {e}"))?;
    let everything = SelectQuery::all(<Fuzz as Table>::DEF);
    for w in writes {
        let expected = run_write(reference, w).await.map_err(|e| format!("{e:?}"));
        let actual = run_write(subject, w).await.map_err(|e| format!("{e:?}"));
        match (&expected, &actual) {
            (Ok(e), Ok(a)) if e != a => return Err(format!("write {w:?}: changed {a} rows, expected {e}")),
            (Ok(_), Err(_)) | (Err(_), Ok(_)) => {
                return Err(format!("write {w:?}: subject {actual:?}, reference {expected:?}"));
            }
            _ => {}
        }
        let want = run_select(reference, &everything).await.map_err(|e| format!("reference: {e}"))?;
        let got = run_select(subject, &everything).await.map_err(|e| format!("subject: {e}"))?;
        if got != want {
            return Err(format!("after {w:?}\n  expected {want:?}\n  got      {got:?}"));
        }
    }
    Ok(())
}
