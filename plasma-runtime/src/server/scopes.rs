//! Read scopes: which rows of each table a user's clients may read (and,
//! by default, write), declared once on the server as typed filters over the
//! authenticated context.
//!
//! ```ignore
//! let scopes = Scopes::<Ctx>::new()
//!     .table::<Todo>(|who| {
//!         Todo::OWNER.eq(who.user_id.clone())
//!             | Todo::LIST_ID.in_select(Member::LIST_ID, Member::USER_ID.eq(who.user_id.clone()))
//!     })
//!     .otherwise(Unscoped::ReadNone);
//! ```
//!
//! A [`Scopes`] is resolved per request into a [`Scope`]: the rules with the
//! caller's values in them (plain query trees, no app types), which pull,
//! push and pokes evaluate. Its [`fingerprint`](Scope::fingerprint) rides in
//! every pull cookie, so a changed rule (a new deploy) or a changed context
//! makes the next pull a reset.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::query::tree::{Expr, SubSelect};
use crate::query::typed::Filter;
use crate::schema::{Schema, TableDef};
use crate::server::Authorized;
use crate::table::Table;

/// What a table without a rule is: an explicit choice, so no table is
/// readable by accident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unscoped {
    /// Every user reads (and writes) every row: shared reference data.
    ReadAll,
    /// No client ever receives a row: server-only data (mutators may still
    /// read it, and write it with [`run_outside_scope`](crate::Insert::run_outside_scope)).
    ReadNone,
}

type RuleFn<Ctx> = dyn Fn(&Authorized<Ctx>) -> Expr + Send + Sync;

/// The read rules of an app, one per table, handed to the server builder
/// (`.scopes(..)`). See the module docs.
pub struct Scopes<Ctx> {
    rules: Vec<(&'static TableDef, Arc<RuleFn<Ctx>>)>,
    otherwise: Option<Unscoped>,
}

impl<Ctx> Clone for Scopes<Ctx> {
    fn clone(&self) -> Self {
        Scopes { rules: self.rules.clone(), otherwise: self.otherwise }
    }
}

impl<Ctx> std::fmt::Debug for Scopes<Ctx> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tables: Vec<&str> = self.rules.iter().map(|(t, _)| t.name).collect();
        f.debug_struct("Scopes").field("tables", &tables).field("otherwise", &self.otherwise).finish()
    }
}

impl<Ctx> Default for Scopes<Ctx> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Ctx> Scopes<Ctx> {
    /// No rules yet, and no default: every table needs a rule unless
    /// [`otherwise`](Self::otherwise) says what the others are.
    pub fn new() -> Self {
        Scopes { rules: Vec::new(), otherwise: None }
    }

    /// Every table readable and writable by every user: the explicit way
    /// to say an app has no per-user data.
    pub fn read_all() -> Self {
        Scopes::new().otherwise(Unscoped::ReadAll)
    }

    /// The rows of `T` a caller may read: those matching the filter built
    /// from the caller (user id and app context). The filter may read
    /// another table with [`in_select`](crate::query::typed::Column::in_select).
    pub fn table<T: Table>(mut self, rule: impl Fn(&Authorized<Ctx>) -> Filter<T> + Send + Sync + 'static) -> Self {
        self.rules.push((T::DEF, Arc::new(move |who| rule(who).into_expr())));
        self
    }

    /// What every table without a rule is.
    pub fn otherwise(mut self, default: Unscoped) -> Self {
        self.otherwise = Some(default);
        self
    }

    /// Checks the rules against `schema`: every table has a rule or a
    /// default was chosen, rules name tables of the schema, once each.
    pub fn check(&self, schema: &Schema) -> Result<(), ScopeError> {
        for (i, (table, _)) in self.rules.iter().enumerate() {
            if schema.table(table.name).is_none() {
                return Err(ScopeError::UnknownTable(table.name.to_owned()));
            }
            if self.rules[..i].iter().any(|(t, _)| t.name == table.name) {
                return Err(ScopeError::TwoRules(table.name.to_owned()));
            }
        }
        if self.otherwise.is_none()
            && let Some(table) = schema.tables.iter().find(|t| !self.rules.iter().any(|(r, _)| r.name == t.name))
        {
            return Err(ScopeError::NoRule(table.name.to_owned()));
        }
        Ok(())
    }

    /// The rules with `who`'s values in them.
    pub fn resolve(&self, schema: &Schema, who: &Authorized<Ctx>) -> Result<Scope, ScopeError> {
        let mut rules = BTreeMap::new();
        for table in schema.tables {
            let rule = match self.rules.iter().find(|(t, _)| t.name == table.name) {
                Some((_, rule)) => {
                    let expr = rule(who);
                    check_rule(schema, table, &expr)?;
                    TableRule::Filter(expr)
                }
                None => match self.otherwise {
                    Some(Unscoped::ReadAll) | None => TableRule::All,
                    Some(Unscoped::ReadNone) => TableRule::None,
                },
            };
            rules.insert(table.name, rule);
        }
        Ok(Scope::new(schema, rules))
    }
}

/// Refuses a rule the pull could not follow: inner selects of tables
/// outside the schema, or nested ones.
fn check_rule(schema: &Schema, table: &'static TableDef, expr: &Expr) -> Result<(), ScopeError> {
    let query = crate::query::tree::SelectQuery { filter: Some(expr.clone()), ..crate::query::tree::SelectQuery::all(table) };
    query.validate().map_err(|e| ScopeError::BadRule(table.name.to_owned(), e.to_string()))?;
    let mut subs = Vec::new();
    expr.sub_selects(&mut subs);
    for sub in subs {
        if schema.table(sub.table.name).is_none() {
            return Err(ScopeError::UnknownTable(sub.table.name.to_owned()));
        }
    }
    Ok(())
}

/// Why scopes do not fit a schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// A table has no rule and no default was chosen.
    #[error(
        "table `{0}` has no read rule: add `.table::<..>(..)` for it, or choose `.otherwise(Unscoped::ReadAll)` or `.otherwise(Unscoped::ReadNone)`"
    )]
    NoRule(String),
    /// A rule names a table outside the schema.
    #[error("the scope rules name table `{0}`, which is not in the schema")]
    UnknownTable(String),
    /// Two rules for one table.
    #[error("table `{0}` has two read rules")]
    TwoRules(String),
    /// A rule's filter is invalid.
    #[error("the read rule of `{0}` is invalid: {1}")]
    BadRule(String, String),
}

/// One table's resolved rule.
#[derive(Debug, Clone, PartialEq)]
pub enum TableRule {
    /// Every row.
    All,
    /// No row.
    None,
    /// The rows matching this filter.
    Filter(Expr),
}

/// The rules of one caller, resolved: what pull, push and pokes evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    rules: BTreeMap<&'static str, TableRule>,
    defs: BTreeMap<&'static str, &'static TableDef>,
    fingerprint: String,
}

impl Scope {
    /// A scope of these resolved rules (tables without one read everything).
    pub fn from_rules(schema: &Schema, rules: BTreeMap<&'static str, TableRule>) -> Self {
        Self::new(schema, rules)
    }

    /// Every table's rule, by table name.
    pub fn rules(&self) -> impl Iterator<Item = (&'static str, &TableRule)> {
        self.rules.iter().map(|(t, r)| (*t, r))
    }

    fn new(schema: &Schema, rules: BTreeMap<&'static str, TableRule>) -> Self {
        let fingerprint = fingerprint(&rules);
        let defs = schema.tables.iter().map(|t| (t.name, *t)).collect();
        Scope { rules, defs, fingerprint }
    }

    /// Every table readable by everyone (no rules).
    pub fn everything(schema: &Schema) -> Self {
        Scope::new(schema, schema.tables.iter().map(|t| (t.name, TableRule::All)).collect())
    }

    /// The definition of `table`, if the schema has it.
    pub fn table_def(&self, table: &str) -> Option<&'static TableDef> {
        self.defs.get(table).copied()
    }

    /// The rule of `table` (everything for a table the scope does not know).
    pub fn rule(&self, table: &str) -> &TableRule {
        self.rules.get(table).unwrap_or(&TableRule::All)
    }

    /// Whether any table has a filter rule (then pulls keep a record of
    /// what each group holds).
    pub fn is_filtered(&self) -> bool {
        self.rules.values().any(|r| !matches!(r, TableRule::All))
    }

    /// The inner selects of every rule, with the table and column they
    /// guard: a change to `sub.table` may move rows of `table` in or out.
    pub fn dependencies(&self) -> Vec<(&'static str, usize, &SubSelect)> {
        let mut out = Vec::new();
        for (table, rule) in &self.rules {
            if let TableRule::Filter(expr) = rule {
                collect_dependencies(table, expr, &mut out);
            }
        }
        out
    }

    /// A short hash of the resolved rules (shape and values): equal for
    /// two callers exactly when they read the same rows.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

fn collect_dependencies<'a>(table: &'static str, expr: &'a Expr, out: &mut Vec<(&'static str, usize, &'a SubSelect)>) {
    match expr {
        Expr::InSelect { column, sub } => out.push((table, *column, sub)),
        Expr::And(es) | Expr::Or(es) => es.iter().for_each(|e| collect_dependencies(table, e, out)),
        Expr::Not(e) => collect_dependencies(table, e, out),
        _ => {}
    }
}

/// FNV-1a over the rules' debug text, which spells every table, column
/// position, operator and value: identical on every platform and build.
fn fingerprint(rules: &BTreeMap<&'static str, TableRule>) -> String {
    let mut text = String::new();
    for (table, rule) in rules {
        let _ = write!(text, "{table}:");
        match rule {
            TableRule::All => text.push_str("all;"),
            TableRule::None => text.push_str("none;"),
            TableRule::Filter(expr) => {
                write_expr(&mut text, expr);
                text.push(';');
            }
        }
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The expression's text with inner tables by name (a `TableDef`'s debug
/// text would spell every column, which the rule's shape does not need).
fn write_expr(out: &mut String, expr: &Expr) {
    match expr {
        Expr::InSelect { column, sub } => {
            let _ = write!(out, "InSelect({column},{}.{},", sub.table.name, sub.out);
            if let Some(f) = &sub.filter {
                write_expr(out, f);
            }
            out.push(')');
        }
        Expr::And(es) | Expr::Or(es) => {
            out.push_str(if matches!(expr, Expr::And(_)) { "And(" } else { "Or(" });
            for e in es {
                write_expr(out, e);
                out.push(',');
            }
            out.push(')');
        }
        Expr::Not(e) => {
            out.push_str("Not(");
            write_expr(out, e);
            out.push(')');
        }
        other => {
            let _ = write!(out, "{other:?}");
        }
    }
}
