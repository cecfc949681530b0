//! Row-level rules every executor that evaluates writes itself shares (memory,
//! IndexedDB, overlay): which ids a filter pins, how an inserted row is filled in, and
//! the constraint errors SQLite would report. One copy, so the backends cannot
//! drift apart.

use crate::error::ExecError;
use crate::query::tree::{CmpOp, Expr, InsertQuery};
use crate::schema::TableDef;
use crate::table::Row;
use crate::value::Value;

/// The ids a filter can match when it pins the primary key (`id = 'x'`,
/// `id IN (..)`, or either under a top-level AND), sorted and distinct; `None`
/// when any row may match. Reads and writes by id then touch those rows
/// instead of scanning the table; the whole filter is still checked on each.
pub(crate) fn pinned_ids(filter: Option<&Expr>, pk: usize) -> Option<Vec<&str>> {
    let mut ids: Vec<&str> = match filter? {
        Expr::Cmp { column, op: CmpOp::Eq, value: Value::Text(id) } if *column == pk => vec![id.as_str()],
        // Non-text values never equal a text id, and NULL is never equal.
        Expr::In { column, values } if *column == pk => values.iter().filter_map(text).collect(),
        Expr::And(all) => return all.iter().find_map(|e| pinned_ids(Some(e), pk)),
        _ => return None,
    };
    ids.sort_unstable();
    ids.dedup();
    Some(ids)
}

/// The primary key of one inserted row (`given`, as wide as `q.columns`), or
/// SQLite's NOT NULL error when it is missing.
pub(crate) fn insert_pk<'r>(q: &InsertQuery, given: &'r [Value]) -> Result<&'r str, ExecError> {
    let table = q.table;
    q.columns
        .iter()
        .position(|c| *c == table.primary_key)
        .and_then(|i| text(&given[i]))
        .ok_or_else(|| ExecError::constraint(format!("NOT NULL constraint failed: {}.{}", table.name, table.pk().name)))
}

/// SQLite's error for an insert whose primary key already exists.
pub(crate) fn duplicate_key(table: &TableDef) -> ExecError {
    ExecError::constraint(format!("UNIQUE constraint failed: {}.{}", table.name, table.pk().name))
}

/// Whether an upsert of these columns leaves an existing row alone (only the
/// key is given: `ON CONFLICT DO NOTHING`).
pub(crate) fn upsert_is_noop(q: &InsertQuery) -> bool {
    q.columns.iter().all(|c| *c == q.table.primary_key)
}

/// A new row: the given cells, every other column its default or NULL.
pub(crate) fn fresh_row(q: &InsertQuery, given: &[Value]) -> Row {
    let mut row: Vec<Value> = q.table.columns.iter().map(|c| c.default.map_or(Value::Null, |d| d.to_value())).collect();
    assign(&mut row, &q.columns, given);
    Row(row)
}

/// Overwrites the cells at `columns` with `given` (an upsert's update).
pub(crate) fn assign(row: &mut [Value], columns: &[usize], given: &[Value]) {
    for (c, v) in columns.iter().zip(given) {
        row[*c] = v.clone();
    }
}

/// Applies an update's assignments to one row.
pub(crate) fn apply_set(row: &mut [Value], set: &[(usize, Value)]) {
    for (c, v) in set {
        row[*c] = v.clone();
    }
}

/// The text in a cell, if it holds text.
pub(crate) fn text(v: &Value) -> Option<&str> {
    match v {
        Value::Text(s) => Some(s),
        _ => None,
    }
}
