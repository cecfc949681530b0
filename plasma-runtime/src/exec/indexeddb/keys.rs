//! Index keys, and which access path serves a query.
//!
//! IndexedDB cannot index `null` or booleans, and orders strings by UTF-16
//! code units where SQLite orders text by UTF-8 bytes. So an indexed cell is
//! stored as an array key `[class, value]` that IndexedDB can always index and
//! whose order is SQLite's `ORDER BY` order, coarsened:
//!
//! | cell | key |
//! |---|---|
//! | NULL | `[0]` |
//! | integer or real (bools are integers) | `[1, number]` |
//! | text | `[2, UTF-8 bytes]` |
//! | blob | `[3, bytes]` |
//!
//! "Coarsened": two 64-bit integers can map to the same JS number, so the map
//! from cells to keys never reverses an order but may merge neighbours. Every
//! range read through an index is therefore widened to inclusive bounds and
//! yields *candidates*; the exact filter (`query::eval`) then runs on them, so
//! index-served queries return exactly what a scan returns.

use js_sys::{Array, Uint8Array};
use wasm_bindgen::JsValue;
use web_sys::IdbKeyRange;

use crate::error::ExecError;
use crate::exec::indexeddb::request::thrown;
use crate::exec::rows::pinned_ids;
use crate::query::tree::{CmpOp, Expr, SelectQuery};
use crate::schema::TableDef;
use crate::value::Value;

/// The index key of a cell (see the module docs).
pub(crate) fn index_key(cell: &Value) -> JsValue {
    let key = Array::new();
    match cell {
        Value::Null => {
            key.push(&JsValue::from_f64(0.0));
        }
        Value::Integer(i) => {
            key.push(&JsValue::from_f64(1.0));
            key.push(&JsValue::from_f64(*i as f64));
        }
        Value::Real(r) => {
            key.push(&JsValue::from_f64(1.0));
            key.push(&JsValue::from_f64(*r));
        }
        Value::Text(s) => {
            key.push(&JsValue::from_f64(2.0));
            key.push(&Uint8Array::from(s.as_bytes()).into());
        }
        Value::Blob(b) => {
            key.push(&JsValue::from_f64(3.0));
            key.push(&Uint8Array::from(b.as_slice()).into());
        }
    }
    key.into()
}

/// Whether two cells get the same index key.
pub(crate) fn same_key(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Integer(_) | Value::Real(_), Value::Integer(_) | Value::Real(_)) => number(a) == number(b),
        (Value::Text(x), Value::Text(y)) => x == y,
        (Value::Blob(x), Value::Blob(y)) => x == y,
        _ => false,
    }
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Integer(i) => *i as f64,
        Value::Real(r) => *r,
        _ => f64::NAN,
    }
}

/// A range of index keys, bounds inclusive (widened; see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KeyRange {
    /// Keys equal to this cell's.
    Only(Value),
    /// Keys from this cell's on.
    From(Value),
    /// Non-NULL keys up to this cell's.
    NonNullUpTo(Value),
}

impl KeyRange {
    /// The `IDBKeyRange`.
    pub(crate) fn to_js(&self) -> Result<IdbKeyRange, ExecError> {
        let err = thrown("building a key range");
        match self {
            KeyRange::Only(v) => IdbKeyRange::only(&index_key(v)).map_err(err),
            KeyRange::From(v) => IdbKeyRange::lower_bound(&index_key(v)).map_err(err),
            KeyRange::NonNullUpTo(v) => {
                let numbers_on = Array::of1(&JsValue::from_f64(1.0));
                IdbKeyRange::bound(&numbers_on, &index_key(v)).map_err(err)
            }
        }
    }
}

/// How a query's candidate rows are read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Access<'q> {
    /// The filter pins primary keys: one `get` each.
    Ids(Vec<&'q str>),
    /// Read the union of these ranges of the index on `column` (no ranges: no rows).
    Index {
        /// Column position.
        column: usize,
        /// Key ranges, each read with one `getAll`.
        ranges: Vec<KeyRange>,
    },
    /// Walk the index on `column` with a cursor (inside `range`, if any) in
    /// the query's first order direction, stopping once `needed` rows pass the
    /// filter and the key changes: a `LIMIT` served by an ordered index.
    Walk {
        /// Column position.
        column: usize,
        /// Optional range on the same column.
        range: Option<KeyRange>,
        /// Walk from the largest key down.
        descending: bool,
        /// Rows that must pass the filter (`offset + limit`).
        needed: u64,
    },
    /// Read every row of the table.
    Scan,
}

/// Picks the access path of a filter (and, for selects, its order and limit).
pub(crate) fn plan<'q>(table: &TableDef, filter: Option<&'q Expr>, order: Option<&SelectQuery>) -> Access<'q> {
    if let Some(ids) = pinned_ids(filter, table.primary_key) {
        return Access::Ids(ids);
    }
    let narrowed = filter.and_then(|f| index_ranges(table, f));
    let walk = order.and_then(|q| {
        let first = q.order.first()?;
        let needed = q.offset.checked_add(q.limit?)?;
        table.columns[first.column].indexed.then_some((first.column, first.descending, needed))
    });
    match (narrowed, walk) {
        (Some((column, mut ranges)), Some((by, descending, needed))) if by == column && ranges.len() == 1 => {
            Access::Walk { column, range: ranges.pop(), descending, needed }
        }
        (Some((column, ranges)), _) => Access::Index { column, ranges },
        (None, Some((column, descending, needed))) => Access::Walk { column, range: None, descending, needed },
        (None, None) => Access::Scan,
    }
}

/// The key ranges an indexed column's condition in `filter` (or in one of its
/// top-level AND terms) restricts candidates to.
fn index_ranges(table: &TableDef, filter: &Expr) -> Option<(usize, Vec<KeyRange>)> {
    let indexed = |c: &usize| table.columns.get(*c).is_some_and(|d| d.indexed);
    let usable = |v: &Value| !v.is_null() && !matches!(v, Value::Real(r) if r.is_nan());
    match filter {
        Expr::Cmp { column, op, value } if indexed(column) && usable(value) => {
            let range = match op {
                CmpOp::Eq => KeyRange::Only(value.clone()),
                CmpOp::Lt | CmpOp::Le => KeyRange::NonNullUpTo(value.clone()),
                CmpOp::Gt | CmpOp::Ge => KeyRange::From(value.clone()),
                CmpOp::Ne => return None,
            };
            Some((*column, vec![range]))
        }
        Expr::In { column, values }
            if indexed(column) && values.iter().all(|v| !matches!(v, Value::Real(r) if r.is_nan())) =>
        {
            Some((*column, values.iter().filter(|v| !v.is_null()).map(|v| KeyRange::Only(v.clone())).collect()))
        }
        Expr::IsNull { column } if indexed(column) => Some((*column, vec![KeyRange::Only(Value::Null)])),
        Expr::And(all) => all.iter().find_map(|e| index_ranges(table, e)),
        _ => None,
    }
}
