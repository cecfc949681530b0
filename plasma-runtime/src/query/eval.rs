//! In-memory evaluation of the query tree with SQLite's semantics: three-valued
//! logic for NULL, exact integer/real comparison, BINARY text order, `LIKE`
//! with ASCII case folding, and ties broken by the primary key.
//!
//! The in-memory executor and (later) live queries use this; a proptest checks
//! it against SQLite on random rows and queries.

use std::cmp::Ordering;

use crate::query::tree::{CmpOp, Expr, OrderTerm, SelectQuery};
use crate::table::Row;
use crate::value::Value;

/// Evaluates a filter: `Some(true)`, `Some(false)` or `None` (SQL unknown).
pub fn eval(expr: &Expr, row: &Row) -> Option<bool> {
    match expr {
        Expr::Cmp { column, op, value } => {
            let ord = row.get(*column).sql_cmp(value)?;
            Some(match op {
                CmpOp::Eq => ord == Ordering::Equal,
                CmpOp::Ne => ord != Ordering::Equal,
                CmpOp::Lt => ord == Ordering::Less,
                CmpOp::Le => ord != Ordering::Greater,
                CmpOp::Gt => ord == Ordering::Greater,
                CmpOp::Ge => ord != Ordering::Less,
            })
        }
        Expr::In { column, values } => {
            if values.is_empty() {
                // SQLite: `x IN ()` is false even when x is NULL.
                return Some(false);
            }
            let cell = row.get(*column);
            if cell.is_null() {
                return None;
            }
            let mut unknown = false;
            for v in values {
                match cell.sql_cmp(v) {
                    Some(Ordering::Equal) => return Some(true),
                    None => unknown = true,
                    Some(_) => {}
                }
            }
            if unknown { None } else { Some(false) }
        }
        Expr::IsNull { column } => Some(row.get(*column).is_null()),
        Expr::Like { column, pattern } => match row.get(*column) {
            Value::Null => None,
            Value::Text(s) => Some(like(pattern, s)),
            // Typed builders only allow LIKE on text columns.
            other => Some(like(pattern, &display_non_text(other))),
        },
        Expr::StartsWith { column, prefix } => match row.get(*column) {
            Value::Null => None,
            Value::Text(s) => Some(s.starts_with(prefix.as_str())),
            other => Some(display_non_text(other).starts_with(prefix.as_str())),
        },
        Expr::And(all) => {
            let mut unknown = false;
            for e in all {
                match eval(e, row) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            if unknown { None } else { Some(true) }
        }
        Expr::Or(any) => {
            let mut unknown = false;
            for e in any {
                match eval(e, row) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            if unknown { None } else { Some(false) }
        }
        Expr::Not(e) => eval(e, row).map(|b| !b),
        // Executors resolve inner selects before evaluating rows
        // (`Expr::resolve_sub_selects`); an unresolved one is unknown.
        Expr::InSelect { .. } => None,
    }
}

/// Whether `row` passes an optional filter (unknown counts as no).
pub fn matches(filter: Option<&Expr>, row: &Row) -> bool {
    filter.is_none_or(|f| eval(f, row) == Some(true))
}

fn display_non_text(v: &Value) -> String {
    match v {
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => format!("{r:?}"),
        Value::Blob(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Null | Value::Text(_) => String::new(),
    }
}

/// SQLite `LIKE ... ESCAPE '\'`: `%` any run, `_` one character, ASCII case-insensitive.
pub fn like(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    like_from(&p, &t)
}

fn like_from(p: &[char], t: &[char]) -> bool {
    // Iterative matcher with one backtrack point for the last `%` (linear in
    // practice, and never recursive, so hostile patterns cannot blow the stack).
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '%' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '_' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                c => {
                    let (lit, width) = if c == '\\' && pi + 1 < p.len() { (p[pi + 1], 2) } else { (c, 1) };
                    if lit.eq_ignore_ascii_case(&t[ti]) {
                        pi += width;
                        ti += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '%')
}

/// Compares two rows under a total order (see [`SelectQuery::total_order`]).
pub fn compare_rows(order: &[OrderTerm], a: &Row, b: &Row) -> Ordering {
    for term in order {
        let ord = a.get(term.column).sort_cmp(b.get(term.column));
        let ord = if term.descending { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Runs a select over any collection of rows of its table.
pub fn select<'r>(query: &SelectQuery, rows: impl IntoIterator<Item = &'r Row>) -> Vec<Row> {
    let hits: Vec<&Row> = rows.into_iter().filter(|r| matches(query.filter.as_ref(), r)).collect();
    sort_and_page(query, hits)
}

/// The second half of [`select`], for rows already known to pass the filter
/// (the overlay executor's merge of base and buffered rows): sorts them by the
/// query's total order, then applies its offset and limit.
pub fn sort_and_page(query: &SelectQuery, mut hits: Vec<&Row>) -> Vec<Row> {
    let order = query.total_order();
    hits.sort_by(|a, b| compare_rows(&order, a, b));
    let skip = usize::try_from(query.offset).unwrap_or(usize::MAX);
    let take = query.limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    hits.into_iter().skip(skip).take(take).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_follows_sqlite() {
        assert!(like("a%", "ABC"));
        assert!(like("%b%", "abc"));
        assert!(like("a_c", "abc"));
        assert!(!like("a_c", "ac"));
        assert!(like("100\\%", "100%"));
        assert!(!like("100\\%", "1000"));
        assert!(like("%", ""));
        assert!(!like("é", "É"), "only ASCII folds");
        assert!(like("%a%b%c%", "xxaxxbxxcxx"));
    }
}
