//! Sort keys: a row's values under a query's total order, comparable on their
//! own, so ordered indexes and windows are plain sorted collections.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::query::tree::OrderTerm;
use crate::table::Row;
use crate::value::Value;

/// One cell of a sort key, with the direction of its order term.
#[derive(Debug, Clone)]
struct Directed {
    value: Value,
    descending: bool,
}

/// A row's position under a total order (the order terms, then the primary
/// key unless already there): two rows never have equal keys. Cheap to clone
/// (shared), since the same key sits in an index and in windows.
#[derive(Debug, Clone)]
pub struct SortKey(Arc<[Directed]>);

impl SortKey {
    /// The key of `row` under the total order `order`.
    pub fn of(order: &[OrderTerm], row: &Row) -> SortKey {
        SortKey(order.iter().map(|t| Directed { value: row.get(t.column).clone(), descending: t.descending }).collect())
    }

    /// The value at `slot` (a position in the order, not a column).
    pub fn value(&self, slot: usize) -> &Value {
        &self.0[slot].value
    }

    /// The row id, given the slot of the primary key in the order.
    pub fn id(&self, pk_slot: usize) -> &str {
        match self.0.get(pk_slot).map(|d| &d.value) {
            Some(Value::Text(id)) => id,
            _ => "",
        }
    }
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            let ord = a.value.sort_cmp(&b.value);
            let ord = if a.descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

// Equality is the order's, so `Integer(2)` and `Real(2.0)` keys are equal as
// SQLite sorts them; the primary key in every key keeps distinct rows apart.
impl PartialEq for SortKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SortKey {}
