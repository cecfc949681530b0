//! Write checks: on the server, a mutator writes through [`ScopedTx`],
//! which holds every write to the writer's read scope.
//!
//! The rule, per table with a filter rule:
//! - an update or delete reaches only rows the writer can read (its filter
//!   is narrowed by the rule, as PostgreSQL's row-level security does), so
//!   a mutation naming another user's row changes nothing, exactly as the
//!   writer's own client saw it optimistically (it never held that row);
//! - every row an insert, upsert or update leaves behind must be readable
//!   by the writer *as the scope stood before the write*, otherwise the
//!   write fails as the mutation's error ([`ExecError::OutOfScope`]) and
//!   changes nothing. Judging by the scope before the write is what stops
//!   a user from granting themselves access (inserting their own
//!   membership of someone else's list).
//!
//! Tables readable by all ([`Unscoped::ReadAll`](super::Unscoped)) are not
//! checked; tables readable by none refuse every write. A mutator that must
//! write outside the writer's scope (creating a list's first membership,
//! writing an audit row) says so at that write:
//! `Member::insert()..run_outside_scope(tx)`, which the server runs
//! unchecked. Reads are never narrowed: a mutator may read what it needs to
//! decide (and the server's answer is canonical).

use crate::error::ExecError;
use crate::exec::{Transaction, resolve_sub_selects, rows};
use crate::query::eval;
use crate::query::tree::{Expr, InsertQuery, OnConflict, SelectQuery, WriteQuery};
use crate::server::scopes::{Scope, TableRule};
use crate::table::Row;
use crate::value::Value;

/// A transaction whose writes are held to a writer's read scope.
pub struct ScopedTx<'a, T> {
    inner: &'a mut T,
    scope: &'a Scope,
}

impl<'a, T: Transaction> ScopedTx<'a, T> {
    /// Checks the writes on `inner` against `scope`.
    pub fn new(inner: &'a mut T, scope: &'a Scope) -> Self {
        ScopedTx { inner, scope }
    }

    /// The write with its update/delete filter narrowed to the scope, after
    /// checking what it leaves behind.
    async fn checked(&mut self, query: WriteQuery) -> Result<WriteQuery, ExecError> {
        let table = query.table();
        let rule = match self.scope.rule(table.name) {
            TableRule::All => return Ok(query),
            TableRule::None => return Err(ExecError::OutOfScope { table: table.name, id: first_id(&query) }),
            TableRule::Filter(rule) => rule.clone(),
        };
        // The scope as it stands before the write, inner selects read only
        // if a row's answer depends on them.
        let mut rule = Judge { rule, resolved: None };
        match query {
            WriteQuery::Insert(q) => {
                self.check_insert(&q, &mut rule).await?;
                Ok(WriteQuery::Insert(q))
            }
            WriteQuery::Update(mut q) => {
                q.filter = Some(narrow(q.filter.take(), rule.rule.clone()));
                let touched =
                    self.inner.select(&SelectQuery { filter: q.filter.clone(), ..SelectQuery::all(q.table) }).await?;
                for mut row in touched {
                    rows::apply_set(&mut row.0, &q.set);
                    rule.check(self.inner, q.table, &row).await?;
                }
                Ok(WriteQuery::Update(q))
            }
            WriteQuery::Delete(mut q) => {
                q.filter = Some(narrow(q.filter.take(), rule.rule));
                Ok(WriteQuery::Delete(q))
            }
        }
    }

    /// Every row an insert (or upsert) leaves must be in scope, and an
    /// upsert may only overwrite rows in scope.
    async fn check_insert(&mut self, q: &InsertQuery, rule: &mut Judge) -> Result<(), ExecError> {
        let table = q.table;
        let mut existing = std::collections::BTreeMap::new();
        if q.on_conflict == OnConflict::Update {
            let ids = q.rows.iter().map(|given| rows::insert_pk(q, given).map(|id| Value::Text(id.to_owned())));
            let ids = ids.collect::<Result<Vec<_>, _>>()?;
            let lookup = Expr::In { column: table.primary_key, values: ids };
            for row in self.inner.select(&SelectQuery { filter: Some(lookup), ..SelectQuery::all(table) }).await? {
                rule.check(self.inner, table, &row).await?;
                existing.insert(row.pk(table).unwrap_or_default().to_owned(), row);
            }
        }
        for given in &q.rows {
            let id = rows::insert_pk(q, given)?;
            let after = match existing.get(id) {
                Some(old) if rows::upsert_is_noop(q) => old.clone(),
                Some(old) => {
                    let mut row = old.clone();
                    rows::assign(&mut row.0, &q.columns, given);
                    row
                }
                None => rows::fresh_row(q, given),
            };
            rule.check(self.inner, table, &after).await?;
        }
        Ok(())
    }
}

/// `filter AND rule`.
fn narrow(filter: Option<Expr>, rule: Expr) -> Expr {
    match filter {
        None => rule,
        Some(Expr::And(mut all)) => {
            all.push(rule);
            Expr::And(all)
        }
        Some(f) => Expr::And(vec![f, rule]),
    }
}

/// A table's rule, judging rows as the scope stands before one write.
struct Judge {
    rule: Expr,
    /// The rule with its inner selects read, once one row needed them.
    resolved: Option<Expr>,
}

impl Judge {
    /// `Ok` if `row` is in scope. Most rows are judged without reading
    /// another table (`owner = me OR ..` is true for the writer's own rows:
    /// SQL's OR is true whatever an unresolved inner select would say).
    async fn check<T: Transaction>(
        &mut self,
        tx: &mut T,
        table: &'static crate::schema::TableDef,
        row: &Row,
    ) -> Result<(), ExecError> {
        if self.resolved.is_none() && eval::eval(&self.rule, row) == Some(true) {
            return Ok(());
        }
        if self.resolved.is_none() {
            self.resolved = Some(resolve_sub_selects(tx, &self.rule).await?);
        }
        match &self.resolved {
            Some(resolved) if eval::matches(Some(resolved), row) => Ok(()),
            _ => Err(ExecError::OutOfScope { table: table.name, id: row.pk(table).unwrap_or_default().to_owned() }),
        }
    }
}

/// The first row id a write names, for the error of a table no one reads.
fn first_id(query: &WriteQuery) -> String {
    match query {
        WriteQuery::Insert(q) => q.rows.first().and_then(|r| rows::insert_pk(q, r).ok()).unwrap_or_default().to_owned(),
        _ => String::new(),
    }
}

impl<T: Transaction> Transaction for ScopedTx<'_, T> {
    async fn select(&mut self, query: &SelectQuery) -> Result<Vec<Row>, ExecError> {
        self.inner.select(query).await
    }

    async fn write(&mut self, mut query: WriteQuery) -> Result<u64, ExecError> {
        // Validated first, so the checks see the values as they will be stored.
        query.validate()?;
        let query = self.checked(query).await?;
        self.inner.write(query).await
    }

    async fn write_outside_scope(&mut self, query: WriteQuery) -> Result<u64, ExecError> {
        self.inner.write(query).await
    }
}
