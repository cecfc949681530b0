//! The dynamic value model: one cell of a row, in SQLite's five storage classes.
//!
//! Every backend (SQLite, the in-memory executor, IndexedDB, the wire) speaks
//! [`Value`], so the typed layer only has to encode and decode once.

use std::cmp::Ordering;

/// One cell: SQLite's storage classes. `bool` is stored as `Integer(0|1)`, JSON
/// columns as `Text` holding the JSON document.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A 64-bit signed integer.
    Integer(i64),
    /// A 64-bit float. NaN is never produced by the typed layer (SQLite turns it into NULL).
    Real(f64),
    /// UTF-8 text, compared bytewise (SQLite's `BINARY` collation).
    Text(String),
    /// Raw bytes.
    Blob(Vec<u8>),
}

impl Value {
    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The name of the storage class, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Integer(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }

    /// Rank of the storage class in SQLite's cross-type order:
    /// NULL < numbers < text < blob.
    fn class_rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Integer(_) | Value::Real(_) => 1,
            Value::Text(_) => 2,
            Value::Blob(_) => 3,
        }
    }

    /// SQLite's total order used by `ORDER BY`: NULLs first, numbers compared
    /// exactly across integer and real, text bytewise, then blobs bytewise.
    pub fn sort_cmp(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Integer(a), Value::Integer(b)) => a.cmp(b),
            (Value::Real(a), Value::Real(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            (Value::Integer(a), Value::Real(b)) => int_real_cmp(*a, *b),
            (Value::Real(a), Value::Integer(b)) => int_real_cmp(*b, *a).reverse(),
            (Value::Text(a), Value::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Value::Blob(a), Value::Blob(b)) => a.cmp(b),
            _ => self.class_rank().cmp(&other.class_rank()),
        }
    }

    /// SQL comparison (`=`, `<`, ...): `None` when either side is NULL, which
    /// three-valued logic then carries through `AND`/`OR`/`NOT`.
    pub fn sql_cmp(&self, other: &Value) -> Option<Ordering> {
        if self.is_null() || other.is_null() { None } else { Some(self.sort_cmp(other)) }
    }
}

/// Exact comparison of an integer with a float, as SQLite's
/// `sqlite3IntFloatCompare` does it: no precision is lost near 2^63.
fn int_real_cmp(i: i64, r: f64) -> Ordering {
    if r.is_nan() {
        return Ordering::Greater;
    }
    if r < -9_223_372_036_854_775_808.0 {
        return Ordering::Greater;
    }
    if r >= 9_223_372_036_854_775_808.0 {
        return Ordering::Less;
    }
    let truncated = r as i64;
    match i.cmp(&truncated) {
        Ordering::Equal => (i as f64).partial_cmp(&r).unwrap_or(Ordering::Equal),
        unequal => unequal,
    }
}

/// A constant a column default can take, usable in `const` table definitions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Literal {
    /// `NULL`.
    Null,
    /// An integer (also used for `bool` defaults: 0 or 1).
    Integer(i64),
    /// A float.
    Real(f64),
    /// A text constant.
    Text(&'static str),
    /// A blob constant.
    Blob(&'static [u8]),
}

impl Literal {
    /// The runtime value of this constant.
    pub fn to_value(self) -> Value {
        match self {
            Literal::Null => Value::Null,
            Literal::Integer(i) => Value::Integer(i),
            Literal::Real(r) => Value::Real(r),
            Literal::Text(t) => Value::Text(t.to_owned()),
            Literal::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_type_order_matches_sqlite() {
        let ordered = [
            Value::Null,
            Value::Integer(-5),
            Value::Real(-4.5),
            Value::Integer(1),
            Value::Real(1.5),
            Value::Text("A".into()),
            Value::Text("a".into()),
            Value::Blob(vec![0]),
        ];
        for pair in ordered.windows(2) {
            assert_eq!(pair[0].sort_cmp(&pair[1]), Ordering::Less, "{pair:?}");
        }
        assert_eq!(Value::Integer(2).sort_cmp(&Value::Real(2.0)), Ordering::Equal);
    }

    #[test]
    fn int_real_compare_is_exact_near_i64_max() {
        // 2^63 - 1 as f64 rounds up to 2^63, which is strictly greater.
        assert_eq!(int_real_cmp(i64::MAX, i64::MAX as f64), Ordering::Less);
        assert_eq!(int_real_cmp(i64::MIN, i64::MIN as f64), Ordering::Equal);
        assert_eq!(int_real_cmp(3, 2.5), Ordering::Greater);
    }

    #[test]
    fn null_compares_unknown() {
        assert_eq!(Value::Null.sql_cmp(&Value::Integer(1)), None);
        assert_eq!(Value::Null.sql_cmp(&Value::Null), None);
    }
}
