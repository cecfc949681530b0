//! A resolved [`Scope`] as JSON, for a server whose poke sockets live in
//! another process than its pushes (the Worker's Durable Object keeps each
//! socket's scope in the socket's attachment and hands them back when a
//! commit asks whom to poke). Tables travel by name and are looked up in
//! the schema again, so only a build of the same app reads them back.

use serde::{Deserialize, Serialize};

use crate::query::tree::{CmpOp, Expr, SubSelect};
use crate::schema::Schema;
use crate::server::scopes::{Scope, TableRule};
use crate::value::Value;

#[derive(Serialize, Deserialize)]
struct WireScope {
    rules: Vec<(String, WireRule)>,
}

#[derive(Serialize, Deserialize)]
enum WireRule {
    All,
    None,
    Filter(WireExpr),
}

#[derive(Serialize, Deserialize)]
enum WireValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

#[derive(Serialize, Deserialize)]
enum WireExpr {
    Cmp(usize, String, WireValue),
    In(usize, Vec<WireValue>),
    IsNull(usize),
    Like(usize, String),
    StartsWith(usize, String),
    And(Vec<WireExpr>),
    Or(Vec<WireExpr>),
    Not(Box<WireExpr>),
    InSelect { column: usize, table: String, out: usize, filter: Option<Box<WireExpr>> },
}

/// `scope` as JSON text.
pub fn to_json(scope: &Scope) -> String {
    let rules = scope.rules().map(|(table, rule)| (table.to_owned(), wire_rule(rule))).collect();
    serde_json::to_string(&WireScope { rules }).unwrap_or_default()
}

/// The scope [`to_json`] wrote, read against `schema`; `None` if it names
/// a table or column `schema` does not have (another build of the app).
pub fn from_json(schema: &Schema, json: &str) -> Option<Scope> {
    let wire: WireScope = serde_json::from_str(json).ok()?;
    let mut rules = std::collections::BTreeMap::new();
    for (name, rule) in wire.rules {
        let table = schema.table(&name)?;
        let rule = match rule {
            WireRule::All => TableRule::All,
            WireRule::None => TableRule::None,
            WireRule::Filter(expr) => TableRule::Filter(expr_from(schema, expr)?),
        };
        rules.insert(table.name, rule);
    }
    Some(Scope::from_rules(schema, rules))
}

fn wire_rule(rule: &TableRule) -> WireRule {
    match rule {
        TableRule::All => WireRule::All,
        TableRule::None => WireRule::None,
        TableRule::Filter(expr) => WireRule::Filter(wire_expr(expr)),
    }
}

fn wire_value(v: &Value) -> WireValue {
    match v {
        Value::Null => WireValue::Null,
        Value::Integer(i) => WireValue::Integer(*i),
        Value::Real(r) => WireValue::Real(*r),
        Value::Text(t) => WireValue::Text(t.clone()),
        Value::Blob(b) => WireValue::Blob(b.clone()),
    }
}

fn value_from(v: WireValue) -> Value {
    match v {
        WireValue::Null => Value::Null,
        WireValue::Integer(i) => Value::Integer(i),
        WireValue::Real(r) => Value::Real(r),
        WireValue::Text(t) => Value::Text(t),
        WireValue::Blob(b) => Value::Blob(b),
    }
}

const OPS: [(CmpOp, &str); 6] =
    [(CmpOp::Eq, "="), (CmpOp::Ne, "<>"), (CmpOp::Lt, "<"), (CmpOp::Le, "<="), (CmpOp::Gt, ">"), (CmpOp::Ge, ">=")];

fn wire_expr(e: &Expr) -> WireExpr {
    match e {
        Expr::Cmp { column, op, value } => {
            let op = OPS.iter().find(|(o, _)| o == op).map_or("=", |(_, s)| *s);
            WireExpr::Cmp(*column, op.to_owned(), wire_value(value))
        }
        Expr::In { column, values } => WireExpr::In(*column, values.iter().map(wire_value).collect()),
        Expr::IsNull { column } => WireExpr::IsNull(*column),
        Expr::Like { column, pattern } => WireExpr::Like(*column, pattern.clone()),
        Expr::StartsWith { column, prefix } => WireExpr::StartsWith(*column, prefix.clone()),
        Expr::And(es) => WireExpr::And(es.iter().map(wire_expr).collect()),
        Expr::Or(es) => WireExpr::Or(es.iter().map(wire_expr).collect()),
        Expr::Not(e) => WireExpr::Not(Box::new(wire_expr(e))),
        Expr::InSelect { column, sub } => WireExpr::InSelect {
            column: *column,
            table: sub.table.name.to_owned(),
            out: sub.out,
            filter: sub.filter.as_ref().map(|f| Box::new(wire_expr(f))),
        },
    }
}

fn expr_from(schema: &Schema, e: WireExpr) -> Option<Expr> {
    Some(match e {
        WireExpr::Cmp(column, op, value) => {
            let op = OPS.iter().find(|(_, s)| *s == op)?.0;
            Expr::Cmp { column, op, value: value_from(value) }
        }
        WireExpr::In(column, values) => Expr::In { column, values: values.into_iter().map(value_from).collect() },
        WireExpr::IsNull(column) => Expr::IsNull { column },
        WireExpr::Like(column, pattern) => Expr::Like { column, pattern },
        WireExpr::StartsWith(column, prefix) => Expr::StartsWith { column, prefix },
        WireExpr::And(es) => Expr::And(es.into_iter().map(|e| expr_from(schema, e)).collect::<Option<_>>()?),
        WireExpr::Or(es) => Expr::Or(es.into_iter().map(|e| expr_from(schema, e)).collect::<Option<_>>()?),
        WireExpr::Not(e) => Expr::Not(Box::new(expr_from(schema, *e)?)),
        WireExpr::InSelect { column, table, out, filter } => {
            let table = schema.table(&table)?;
            let filter = match filter {
                Some(f) => Some(expr_from(schema, *f)?),
                None => None,
            };
            Expr::InSelect { column, sub: Box::new(SubSelect { table, out, filter }) }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ColumnDef, ColumnKind, TableDef};

    static COLUMNS: [ColumnDef; 2] = [
        ColumnDef { name: "id", field: "id", kind: ColumnKind::Text, nullable: false, default: None, indexed: false },
        ColumnDef { name: "owner", field: "owner", kind: ColumnKind::Text, nullable: false, default: None, indexed: true },
    ];
    static TABLE: TableDef = TableDef { name: "things", columns: &COLUMNS, primary_key: 0 };
    static SCHEMA: Schema = Schema { tables: &[&TABLE], explicit_version: None };

    #[test]
    fn a_scope_reads_back_as_it_was_written() {
        let sub = SubSelect { table: &TABLE, out: 0, filter: Some(Expr::Cmp { column: 1, op: CmpOp::Ge, value: Value::Real(1.5) }) };
        let rule = Expr::Or(vec![
            Expr::Cmp { column: 1, op: CmpOp::Eq, value: Value::Text("me".into()) },
            Expr::Not(Box::new(Expr::In { column: 0, values: vec![Value::Integer(3), Value::Null, Value::Blob(vec![1])] })),
            Expr::InSelect { column: 0, sub: Box::new(sub) },
        ]);
        let mut rules = std::collections::BTreeMap::new();
        rules.insert("things", TableRule::Filter(rule));
        let scope = Scope::from_rules(&SCHEMA, rules);
        let back = from_json(&SCHEMA, &to_json(&scope)).expect("reads back");
        assert_eq!(back, scope);
        assert_eq!(back.fingerprint(), scope.fingerprint());
        assert!(from_json(&SCHEMA, &to_json(&scope).replace("things", "other")).is_none(), "an unknown table");
    }
}
