//! Renders the query tree to SQLite SQL. Values never enter the SQL text: each
//! one becomes a `?` placeholder and is returned in `params`, in order.
//!
//! Pure string building with no SQLite dependency, so the D1 executor on
//! wasm32 renders with the same code.

use std::fmt::Write as _;

use crate::query::tree::{CmpOp, DeleteQuery, Expr, InsertQuery, OnConflict, SelectQuery, UpdateQuery, WriteQuery};
use crate::schema::TableDef;
use crate::value::Value;

/// SQL text with its bound parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The statement, with `?` placeholders.
    pub sql: String,
    /// One value per placeholder, in order.
    pub params: Vec<Value>,
}

/// Quotes an identifier (`"name"`, inner quotes doubled).
pub fn ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    push_ident(&mut out, name);
    out
}

fn push_ident(out: &mut String, name: &str) {
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

fn push_column(out: &mut String, table: &TableDef, column: usize) {
    push_ident(out, table.columns[column].name);
}

/// Renders a select. Column order in the result is the table's column order.
pub fn select(q: &SelectQuery) -> Rendered {
    let mut sql = String::with_capacity(128);
    let mut params = Vec::new();
    sql.push_str("SELECT ");
    for (i, c) in q.table.columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        push_ident(&mut sql, c.name);
    }
    sql.push_str(" FROM ");
    push_ident(&mut sql, q.table.name);
    push_where(&mut sql, &mut params, q.table, q.filter.as_ref());
    sql.push_str(" ORDER BY ");
    for (i, t) in q.total_order().iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        push_column(&mut sql, q.table, t.column);
        sql.push_str(if t.descending { " DESC" } else { " ASC" });
    }
    if q.limit.is_some() || q.offset > 0 {
        sql.push_str(" LIMIT ? OFFSET ?");
        params.push(Value::Integer(q.limit.map_or(-1, saturating_i64)));
        params.push(Value::Integer(saturating_i64(q.offset)));
    }
    Rendered { sql, params }
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Renders any write.
pub fn write(q: &WriteQuery) -> Rendered {
    match q {
        WriteQuery::Insert(q) => insert(q),
        WriteQuery::Update(q) => update(q),
        WriteQuery::Delete(q) => delete(q),
    }
}

fn insert(q: &InsertQuery) -> Rendered {
    let mut sql = String::with_capacity(128);
    sql.push_str("INSERT INTO ");
    push_ident(&mut sql, q.table.name);
    sql.push_str(" (");
    for (i, c) in q.columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        push_column(&mut sql, q.table, *c);
    }
    sql.push_str(") VALUES ");
    let mut params = Vec::with_capacity(q.rows.len() * q.columns.len());
    for (r, row) in q.rows.iter().enumerate() {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for i in 0..row.len() {
            sql.push_str(if i == 0 { "?" } else { ", ?" });
        }
        sql.push(')');
        params.extend(row.iter().cloned());
    }
    if q.on_conflict == OnConflict::Update {
        sql.push_str(" ON CONFLICT (");
        push_column(&mut sql, q.table, q.table.primary_key);
        sql.push(')');
        let updated: Vec<usize> = q.columns.iter().copied().filter(|c| *c != q.table.primary_key).collect();
        if updated.is_empty() {
            sql.push_str(" DO NOTHING");
        } else {
            sql.push_str(" DO UPDATE SET ");
            for (i, c) in updated.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                push_column(&mut sql, q.table, *c);
                sql.push_str(" = excluded.");
                push_column(&mut sql, q.table, *c);
            }
        }
    }
    Rendered { sql, params }
}

fn update(q: &UpdateQuery) -> Rendered {
    let mut sql = String::with_capacity(128);
    let mut params = Vec::with_capacity(q.set.len());
    sql.push_str("UPDATE ");
    push_ident(&mut sql, q.table.name);
    sql.push_str(" SET ");
    for (i, (c, v)) in q.set.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        push_column(&mut sql, q.table, *c);
        sql.push_str(" = ?");
        params.push(v.clone());
    }
    push_where(&mut sql, &mut params, q.table, q.filter.as_ref());
    Rendered { sql, params }
}

fn delete(q: &DeleteQuery) -> Rendered {
    let mut sql = String::with_capacity(64);
    let mut params = Vec::new();
    sql.push_str("DELETE FROM ");
    push_ident(&mut sql, q.table.name);
    push_where(&mut sql, &mut params, q.table, q.filter.as_ref());
    Rendered { sql, params }
}

/// Renders a filter on `table` alone (for statements plasma assembles
/// itself): its `?` placeholders come first in any statement it opens.
pub fn filter(table: &TableDef, expr: &Expr) -> Rendered {
    let mut sql = String::with_capacity(64);
    let mut params = Vec::new();
    push_expr(&mut sql, &mut params, table, expr);
    Rendered { sql, params }
}

fn push_where(sql: &mut String, params: &mut Vec<Value>, table: &TableDef, filter: Option<&Expr>) {
    if let Some(f) = filter {
        sql.push_str(" WHERE ");
        push_expr(sql, params, table, f);
    }
}

fn push_expr(sql: &mut String, params: &mut Vec<Value>, table: &TableDef, e: &Expr) {
    match e {
        Expr::Cmp { column, op, value } => {
            push_column(sql, table, *column);
            sql.push_str(match op {
                CmpOp::Eq => " = ?",
                CmpOp::Ne => " <> ?",
                CmpOp::Lt => " < ?",
                CmpOp::Le => " <= ?",
                CmpOp::Gt => " > ?",
                CmpOp::Ge => " >= ?",
            });
            params.push(value.clone());
        }
        Expr::In { column, values } => {
            push_column(sql, table, *column);
            sql.push_str(" IN (");
            for i in 0..values.len() {
                sql.push_str(if i == 0 { "?" } else { ", ?" });
            }
            sql.push(')');
            params.extend(values.iter().cloned());
        }
        Expr::IsNull { column } => {
            push_column(sql, table, *column);
            sql.push_str(" IS NULL");
        }
        Expr::Like { column, pattern } => {
            push_column(sql, table, *column);
            sql.push_str(" LIKE ? ESCAPE '\\'");
            params.push(Value::Text(pattern.clone()));
        }
        Expr::StartsWith { column, prefix } => {
            // substr/length count characters, so this is an exact, case-sensitive prefix test.
            sql.push_str("substr(");
            push_column(sql, table, *column);
            sql.push_str(", 1, length(?)) = ?");
            params.push(Value::Text(prefix.clone()));
            params.push(Value::Text(prefix.clone()));
        }
        Expr::And(all) => push_joined(sql, params, table, all, " AND ", "1"),
        Expr::Or(any) => push_joined(sql, params, table, any, " OR ", "0"),
        Expr::Not(inner) => {
            sql.push_str("NOT (");
            push_expr(sql, params, table, inner);
            sql.push(')');
        }
        Expr::InSelect { column, sub } => {
            push_column(sql, table, *column);
            sql.push_str(" IN (SELECT ");
            push_column(sql, sub.table, sub.out);
            sql.push_str(" FROM ");
            push_ident(sql, sub.table.name);
            // Unqualified names inside resolve to the inner table first (SQL
            // scoping), and an inner filter names only inner columns.
            if let Some(f) = &sub.filter {
                sql.push_str(" WHERE ");
                push_expr(sql, params, sub.table, f);
            }
            sql.push(')');
        }
    }
}

fn push_joined(sql: &mut String, params: &mut Vec<Value>, table: &TableDef, es: &[Expr], sep: &str, empty: &str) {
    if es.is_empty() {
        sql.push_str(empty);
        return;
    }
    sql.push('(');
    for (i, e) in es.iter().enumerate() {
        if i > 0 {
            sql.push_str(sep);
        }
        push_expr(sql, params, table, e);
    }
    sql.push(')');
}

/// Renders a literal for DDL (`DEFAULT ...`), the one place values are spelled
/// into SQL: defaults are compile-time constants from the schema, never input.
pub fn literal(v: &crate::value::Literal) -> String {
    use crate::value::Literal;
    match v {
        Literal::Null => "NULL".to_owned(),
        Literal::Integer(i) => i.to_string(),
        Literal::Real(r) => {
            let mut s = format!("{r:?}");
            if !s.contains(['.', 'e', 'E']) {
                s.push_str(".0");
            }
            s
        }
        Literal::Text(t) => format!("'{}'", t.replace('\'', "''")),
        Literal::Blob(b) => {
            let mut s = String::with_capacity(b.len() * 2 + 3);
            s.push_str("X'");
            for byte in b.iter() {
                let _ = write!(s, "{byte:02X}");
            }
            s.push('\'');
            s
        }
    }
}
