//! An overlay transaction: writes are validated and buffered, reads go to a
//! read-only base merged with the buffer, so a mutator sees its own writes
//! without the base ever being written. For stores without interactive
//! transactions (Cloudflare D1): the server reads as it goes, then turns
//! [`OverlayTx::into_changes`] into one atomic batch.
//!
//! Storage-agnostic: the base is anything that can answer a select
//! ([`OverlayBase`]); [`TransactionBase`] makes any [`Transaction`] one, so
//! SQLite and memory transactions serve as bases in tests.
//!
//! # Semantics
//!
//! The overlay behaves exactly like [`MemoryExecutor`](crate::MemoryExecutor)
//! over the state "base with the buffer applied": selects return the rows that
//! state holds, in the query's total order; writes go through
//! [`WriteQuery::validate`] and the memory executor's row rules
//! (`exec::rows`: defaults, duplicate keys, upserts); a failing write changes
//! nothing.
//!
//! # Why a merged read is exact
//!
//! Let `S` be the written state (base, then the buffer), `R` the rows of `S`
//! matching the filter, in the query's total order `O` (total: the primary key
//! ends it, so every row has one position). The answer is
//! `R[offset .. offset + limit]`. Split `R` into `U`, rows whose id the
//! overlay never touched (they are the base's rows, unchanged), and `V`, the
//! touched rows (their current versions are in the buffer).
//!
//! The overlay asks the base for the same filter and order, no offset, and
//! `limit + offset + k` rows, where `k` is the number of touched ids that
//! exist in the base. Those first `limit + offset + k` base rows contain at
//! most `k` touched ids, hence at least `limit + offset` untouched rows — and
//! they are the first ones of `U` in `O`, because the base sorts by `O` too
//! (or, if the base returned fewer rows, it returned all of them, so all of
//! `U`). It drops the touched ids (their base versions are stale or deleted)
//! and adds the buffered rows that exist and match the filter (all of `V`).
//!
//! Now take a row in the first `offset + limit` positions of `R`. If it is in
//! `V`, it was added. If it is in `U`, the rows of `U` before it are before it
//! in `R` too, so it is among the first `offset + limit` of `U`, which the base
//! returned. Every merged row is in `R`, so sorting the merged rows by `O` puts
//! exactly `R`'s first `offset + limit` rows first, in `R`'s order; applying
//! offset and limit gives the answer. Touched ids that do not exist in the base
//! (new rows) can never be among the base's rows, so they need no room in
//! the fetch; counting every touched id would be exact too, just wasteful.
//! Without a limit the base is asked for every matching row and the same
//! argument holds with `limit` infinite.
//!
//! The argument needs the base to be one consistent state for the whole
//! overlay transaction (`in_base` is learnt at a row's first touch). On D1,
//! where reads are separate statements, the guarded commit provides this: an
//! attempt whose base moved under it does not commit.

mod buffer;

use std::collections::BTreeMap;

use crate::error::ExecError;
use crate::exec::Transaction;
use crate::exec::rows;
use crate::query::eval;
use crate::query::tree::{CmpOp, DeleteQuery, Expr, InsertQuery, OnConflict, SelectQuery, UpdateQuery, WriteQuery};
use crate::schema::TableDef;
use crate::table::Row;
use crate::value::Value;

use buffer::Buffer;

/// What an overlay reads from: a store answering selects, never written
/// through the overlay. No `Send` bound, like [`Transaction`].
#[allow(async_fn_in_trait)] // deliberately not Send: wasm32 stores are single-threaded
pub trait OverlayBase {
    /// Runs a select; rows come in the query's total order
    /// ([`SelectQuery::total_order`]) with its limit and offset applied, as
    /// every executor returns them.
    async fn select(&mut self, query: &SelectQuery) -> Result<Vec<Row>, ExecError>;
}

/// Any [`Transaction`] as an overlay base (reads only). Get the transaction
/// back with [`into_inner`](Self::into_inner), e.g. to apply the overlay's
/// changes to it and commit.
#[derive(Debug)]
pub struct TransactionBase<T>(T);

impl<T: Transaction> TransactionBase<T> {
    /// Wraps a transaction.
    pub fn new(tx: T) -> Self {
        TransactionBase(tx)
    }

    /// The wrapped transaction.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.0
    }

    /// Unwraps the transaction.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: Transaction> OverlayBase for TransactionBase<T> {
    async fn select(&mut self, query: &SelectQuery) -> Result<Vec<Row>, ExecError> {
        self.0.select(query).await
    }
}

/// A position in an overlay's writes, to roll back to: see
/// [`OverlayTx::savepoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark(usize);

/// One row's net change against the base, from [`OverlayTx::into_changes`].
#[derive(Debug, Clone, PartialEq)]
pub enum OverlayChange {
    /// The row exists with these values (new, or changed, or possibly written
    /// back to what the base holds): insert or replace it.
    Put {
        /// The row's table.
        table: &'static TableDef,
        /// The whole row, in the table's column order.
        row: Row,
    },
    /// The base row with this id no longer exists.
    Delete {
        /// The row's table.
        table: &'static TableDef,
        /// The row's primary key.
        id: String,
    },
    /// A row a blind insert assumed new (see [`OverlayTx::blind_inserts`]),
    /// with these values now: insert it, failing if the base holds the id.
    Create {
        /// The row's table.
        table: &'static TableDef,
        /// The whole row, in the table's column order.
        row: Row,
    },
    /// A row a blind insert assumed new and a later write deleted again: no
    /// write, but the assumption must still hold (the base has no such id).
    Absent {
        /// The row's table.
        table: &'static TableDef,
        /// The row's primary key.
        id: String,
    },
}

impl OverlayChange {
    /// The table the change is on.
    pub fn table(&self) -> &'static TableDef {
        match self {
            OverlayChange::Put { table, .. }
            | OverlayChange::Delete { table, .. }
            | OverlayChange::Create { table, .. }
            | OverlayChange::Absent { table, .. } => table,
        }
    }

    /// The change as a write any executor runs: an upsert of every column
    /// (which replaces the whole row), an insert that fails if the id exists
    /// ([`Create`](Self::Create)), or a delete by id. `None` for
    /// [`Absent`](Self::Absent), which writes nothing: the committer checks it.
    pub fn into_write(self) -> Option<WriteQuery> {
        let whole_row = |table: &'static TableDef, row: Row, on_conflict| {
            WriteQuery::Insert(InsertQuery {
                table,
                columns: (0..table.columns.len()).collect(),
                rows: vec![row.0],
                on_conflict,
            })
        };
        match self {
            OverlayChange::Put { table, row } => Some(whole_row(table, row, OnConflict::Update)),
            OverlayChange::Create { table, row } => Some(whole_row(table, row, OnConflict::Fail)),
            OverlayChange::Delete { table, id } => Some(WriteQuery::Delete(DeleteQuery {
                table,
                filter: Some(Expr::Cmp { column: table.primary_key, op: CmpOp::Eq, value: Value::Text(id) }),
            })),
            OverlayChange::Absent { .. } => None,
        }
    }
}

/// A transaction that buffers its writes over a read-only base; see the
/// [module docs](self) for its semantics and why its reads are exact.
#[derive(Debug)]
pub struct OverlayTx<B> {
    base: B,
    buffer: Buffer,
    blind_inserts: bool,
}

impl<B: OverlayBase> OverlayTx<B> {
    /// An overlay with no writes over `base`.
    pub fn new(base: B) -> Self {
        OverlayTx { base, buffer: Buffer::default(), blind_inserts: false }
    }

    /// Plain inserts (not upserts) of ids the overlay has not touched skip
    /// the base lookup and assume the id is new: one round trip less per
    /// inserted row on a remote base. The assumption is carried to the
    /// committer as [`OverlayChange::Create`] (an insert that fails if the id
    /// exists) or [`OverlayChange::Absent`]: if any was wrong, the commit
    /// must fail and the whole attempt run again without blind inserts, since
    /// everything it read after the wrong assumption may be wrong too.
    pub fn blind_inserts(mut self, on: bool) -> Self {
        self.blind_inserts = on;
        self
    }

    /// The base, for reads that bypass the overlay (bookkeeping the overlay
    /// never writes). Reads of tables the overlay wrote would miss its writes.
    pub fn base_mut(&mut self) -> &mut B {
        &mut self.base
    }

    /// Marks the writes so far; [`rollback_to`](Self::rollback_to) the mark
    /// discards every write made after it (one mutation's writes).
    pub fn savepoint(&self) -> Mark {
        Mark(self.buffer.mark())
    }

    /// Discards every write made after `mark`. Rolling back to a mark also
    /// discards marks taken after it; rolling back to one of those later is a
    /// no-op.
    pub fn rollback_to(&mut self, mark: Mark) {
        self.buffer.rollback_to(mark.0);
    }

    /// Whether the overlay holds any net change now (what
    /// [`into_changes`](Self::into_changes) would return is not empty).
    pub fn has_changes(&self) -> bool {
        self.buffer.has_changes()
    }

    /// The net change of every row the overlay wrote, one per row, in the
    /// order each row was first written (among writes not rolled back). A row
    /// inserted and deleted again is no change; a row written several times is
    /// one [`OverlayChange::Put`] of its last version. Each row appears at
    /// most once, so applying the changes in any order gives the same state;
    /// first-touch order just makes the result deterministic.
    pub fn into_changes(self) -> Vec<OverlayChange> {
        self.into_parts().1
    }

    /// [`into_changes`](Self::into_changes), keeping the base.
    pub fn into_parts(self) -> (B, Vec<OverlayChange>) {
        (self.base, self.buffer.into_changes())
    }

    /// Whether `filter` has an inner select of a table this overlay has
    /// written: the base's SQL subquery would read the base's rows of it,
    /// so such a filter is resolved here first. Otherwise the base answers
    /// the subquery itself, and buffered rows are checked against the
    /// resolved filter in [`merged`](Self::merged).
    fn reads_buffered_table(&self, filter: Option<&Expr>) -> bool {
        let mut subs = Vec::new();
        if let Some(f) = filter {
            f.sub_selects(&mut subs);
        }
        subs.iter().any(|sub| self.buffer.table(sub.table.name).is_some())
    }

    /// The rows of the written state matching `query`, merged as the module
    /// docs describe.
    async fn merged(&mut self, query: &SelectQuery) -> Result<Vec<Row>, ExecError> {
        let table = query.table;
        let Some(in_base) = self.buffer.table(table.name).map(|b| b.in_base()) else {
            // Nothing of this table is buffered: the base's answer is the answer.
            return self.base.select(query).await;
        };
        let fetch = SelectQuery {
            table,
            filter: query.filter.clone(),
            order: query.order.clone(),
            limit: query.limit.map(|l| l.saturating_add(query.offset).saturating_add(in_base)),
            offset: 0,
        };
        let from_base = self.base.select(&fetch).await?;
        // Read the buffer only after the await: nothing may change it meanwhile
        // (`&mut self`), but this keeps the borrow out of the future.
        // Buffered rows are checked in memory, against the inner selects'
        // values (of the base: no inner table is buffered, see `select`).
        let resolved = match query.filter.as_ref().filter(|f| f.has_sub_select()) {
            Some(f) => {
                let mut subs = Vec::new();
                f.sub_selects(&mut subs);
                let mut answers = Vec::with_capacity(subs.len());
                for sub in subs {
                    let rows = self.base.select(&sub.query()).await?;
                    answers.push(rows.into_iter().map(|row| row.get(sub.out).clone()).collect::<Vec<_>>());
                }
                let mut answers = answers.into_iter();
                Some(f.resolve_sub_selects(&mut |_| {
                    answers.next().ok_or_else(|| ExecError::storage("inner selects changed while resolving".to_owned()))
                })?)
            }
            None => query.filter.clone(),
        };
        let Some(buffer) = self.buffer.table(table.name) else {
            return Ok(eval::sort_and_page(query, from_base.iter().collect()));
        };
        let untouched = from_base.iter().filter(|row| row.pk(table).is_none_or(|id| !buffer.rows.contains_key(id)));
        let buffered = buffer
            .rows
            .values()
            .filter_map(|e| e.current.as_ref())
            .filter(|row| eval::matches(resolved.as_ref(), row));
        Ok(eval::sort_and_page(query, untouched.chain(buffered).collect()))
    }

    /// Every row of the written state matching `filter`, in id order.
    async fn matching(&mut self, table: &'static TableDef, filter: Option<&Expr>) -> Result<Vec<Row>, ExecError> {
        let query = SelectQuery { table, filter: filter.cloned(), order: Vec::new(), limit: None, offset: 0 };
        self.merged(&query).await
    }

    /// Runs a validated write. All reads happen before the first buffered
    /// change, so a write whose future is dropped mid-way changed nothing; a
    /// write that fails after buffering is rolled back by the caller.
    async fn write_now(&mut self, query: &WriteQuery) -> Result<u64, ExecError> {
        match query {
            WriteQuery::Insert(q) => self.insert(q).await,
            WriteQuery::Update(UpdateQuery { table, set, filter }) => {
                let rows = self.matching(table, filter.as_ref()).await?;
                for mut row in rows.iter().cloned() {
                    let id = row_id(table, &row)?.to_owned();
                    rows::apply_set(&mut row.0, set);
                    // A matching row not yet touched came from the base.
                    self.buffer.set(table, &id, true, false, Some(row));
                }
                Ok(rows.len() as u64)
            }
            WriteQuery::Delete(DeleteQuery { table, filter }) => {
                let rows = self.matching(table, filter.as_ref()).await?;
                for row in &rows {
                    self.buffer.set(table, row_id(table, row)?, true, false, None);
                }
                Ok(rows.len() as u64)
            }
        }
    }

    /// An insert or upsert, row by row as the memory executor does it (a key
    /// repeated within the statement meets its own earlier row).
    async fn insert(&mut self, q: &InsertQuery) -> Result<u64, ExecError> {
        let table = q.table;
        // One base lookup for every key the buffer does not know.
        let blind = self.blind_inserts && q.on_conflict == OnConflict::Fail;
        let mut unknown: Vec<Value> = Vec::new();
        for given in &q.rows {
            let pk = rows::insert_pk(q, given)?;
            if !blind && self.buffer.get(table.name, pk).is_none() {
                unknown.push(Value::Text(pk.to_owned()));
            }
        }
        let mut in_base: BTreeMap<String, Row> = BTreeMap::new();
        if !unknown.is_empty() {
            let lookup = Expr::In { column: table.primary_key, values: unknown };
            for row in self.base.select(&SelectQuery { filter: Some(lookup), ..SelectQuery::all(table) }).await? {
                in_base.insert(row_id(table, &row)?.to_owned(), row);
            }
        }
        let mut count = 0;
        for given in &q.rows {
            let pk = rows::insert_pk(q, given)?;
            let (existing, existed_in_base) = match self.buffer.get(table.name, pk) {
                Some(entry) => (entry.current.clone(), entry.in_base),
                None => {
                    let found = in_base.get(pk).cloned();
                    let existed = found.is_some();
                    (found, existed)
                }
            };
            let row = match existing {
                Some(mut existing) => match q.on_conflict {
                    OnConflict::Fail => return Err(rows::duplicate_key(table)),
                    OnConflict::Update if rows::upsert_is_noop(q) => continue, // DO NOTHING
                    OnConflict::Update => {
                        rows::assign(&mut existing.0, &q.columns, given);
                        existing
                    }
                },
                None => rows::fresh_row(q, given),
            };
            let assumed_new = blind && self.buffer.get(table.name, pk).is_none();
            self.buffer.set(table, pk, existed_in_base, assumed_new, Some(row));
            count += 1;
        }
        Ok(count)
    }
}

/// The primary key of a row read from `table`.
fn row_id<'r>(table: &TableDef, row: &'r Row) -> Result<&'r str, ExecError> {
    row.pk(table).ok_or_else(|| ExecError::storage(format!("row of `{}` without a text id", table.name)))
}

impl<B: OverlayBase> Transaction for OverlayTx<B> {
    async fn select(&mut self, query: &SelectQuery) -> Result<Vec<Row>, ExecError> {
        query.validate()?;
        if self.reads_buffered_table(query.filter.as_ref()) {
            let mut resolved = query.clone();
            super::resolve_filter(self, &mut resolved.filter).await?;
            return Box::pin(self.merged(&resolved)).await;
        }
        self.merged(query).await
    }

    async fn write(&mut self, mut query: WriteQuery) -> Result<u64, ExecError> {
        query.validate()?;
        let filter = match &query {
            WriteQuery::Update(q) => q.filter.as_ref(),
            WriteQuery::Delete(q) => q.filter.as_ref(),
            WriteQuery::Insert(_) => None,
        };
        if self.reads_buffered_table(filter) {
            super::resolve_write(self, &mut query).await?;
        }
        let mark = self.savepoint();
        let result = self.write_now(&query).await;
        if result.is_err() {
            self.rollback_to(mark);
        }
        result
    }
}
