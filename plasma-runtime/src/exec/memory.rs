//! An in-memory executor with the same semantics as SQLite: the client's
//! optimistic store, tests, and the proof that the executor interface is not
//! SQLite-shaped. Runs everywhere, including wasm32.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};

use crate::error::ExecError;
use crate::exec::rows::{self, pinned_ids};
use crate::exec::{Executor, Transaction};
use crate::query::eval;
use crate::query::tree::{Expr, InsertQuery, OnConflict, SelectQuery, WriteQuery};
use crate::schema::{Schema, TableDef};
use crate::table::Row;

/// Rows of every table, keyed by primary key.
#[derive(Debug)]
pub struct MemoryExecutor {
    positions: HashMap<&'static str, usize>,
    defs: Vec<&'static TableDef>,
    tables: RefCell<Vec<BTreeMap<String, Row>>>,
    in_transaction: Cell<bool>,
    /// Before-images of the rows touched since the last
    /// [`take_changes`](MemoryExecutor::take_changes), for captured tables only
    /// (`None` = not captured): what live queries are maintained from.
    captured: RefCell<Vec<Option<BeforeImages>>>,
    capturing: Cell<bool>,
}

/// The first-seen image of each row touched since the last take, by id.
type BeforeImages = HashMap<String, Option<Row>>;

/// One row's net change since the last [`MemoryExecutor::take_changes`]:
/// `before` and `after` always differ.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    /// The row's id.
    pub id: String,
    /// The row as it was (`None`: it did not exist).
    pub before: Option<Row>,
    /// The row as it is (`None`: it no longer exists).
    pub after: Option<Row>,
}

impl MemoryExecutor {
    /// An empty store for `schema`.
    pub fn new(schema: &Schema) -> Self {
        let positions = schema.tables.iter().enumerate().map(|(i, t)| (t.name, i)).collect();
        MemoryExecutor {
            positions,
            defs: schema.tables.to_vec(),
            tables: RefCell::new(vec![BTreeMap::new(); schema.tables.len()]),
            in_transaction: Cell::new(false),
            captured: RefCell::new(vec![None; schema.tables.len()]),
            capturing: Cell::new(false),
        }
    }

    /// Starts or stops recording the net changes of `table` (see
    /// [`take_changes`](Self::take_changes)). Stopping forgets what was recorded.
    pub fn capture(&self, table: &TableDef, on: bool) -> Result<(), ExecError> {
        let pos = self.position(table)?;
        let mut captured = self.captured.borrow_mut();
        match (&captured[pos], on) {
            (None, true) => captured[pos] = Some(HashMap::new()),
            (Some(_), false) => captured[pos] = None,
            _ => {}
        }
        self.capturing.set(captured.iter().any(Option::is_some));
        Ok(())
    }

    /// Records `before` as the row's image at the last `take_changes`, unless
    /// the row was already touched since: only the first touch counts.
    fn note(&self, pos: usize, id: &str, before: Option<&Row>) {
        if !self.capturing.get() {
            return;
        }
        if let Some(Some(seen)) = self.captured.borrow_mut().get_mut(pos)
            && !seen.contains_key(id)
        {
            seen.insert(id.to_owned(), before.cloned());
        }
    }

    /// The net change of every captured row of `table` since the last call:
    /// a row written and then restored (a rolled-back transaction, a rebase
    /// that lands on the same row) is not a change.
    pub fn take_changes(&self, table: &TableDef) -> Result<Vec<RowChange>, ExecError> {
        let pos = self.position(table)?;
        let seen = match self.captured.borrow_mut().get_mut(pos) {
            Some(Some(seen)) if !seen.is_empty() => std::mem::take(seen),
            _ => return Ok(Vec::new()),
        };
        let tables = self.tables.borrow();
        let mut changes: Vec<RowChange> = seen
            .into_iter()
            .filter_map(|(id, before)| {
                let after = tables[pos].get(&id);
                (before.as_ref() != after).then(|| RowChange { after: after.cloned(), id, before })
            })
            .collect();
        // Deterministic order (the map's is not), so diffs are reproducible.
        changes.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        Ok(changes)
    }

    /// Runs `f` over `table`'s rows keyed by id, without copying them.
    pub(crate) fn with_rows<T>(
        &self,
        table: &TableDef,
        f: impl FnOnce(&BTreeMap<String, Row>) -> T,
    ) -> Result<T, ExecError> {
        let pos = self.position(table)?;
        Ok(f(&self.tables.borrow()[pos]))
    }

    fn position(&self, table: &TableDef) -> Result<usize, ExecError> {
        self.positions.get(table.name).copied().ok_or_else(|| ExecError::UnknownTable(table.name.to_owned()))
    }

    /// Number of rows in `table`.
    pub fn len(&self, table: &TableDef) -> Result<usize, ExecError> {
        let pos = self.position(table)?;
        Ok(self.tables.borrow()[pos].len())
    }

    /// Whether `table` holds no rows.
    pub fn is_empty(&self, table: &TableDef) -> Result<bool, ExecError> {
        Ok(self.len(table)? == 0)
    }
}

/// How to undo one change.
#[derive(Debug, Clone)]
enum Undo {
    /// A whole table was replaced (a reset): the old rows come back at once.
    Replaced {
        table: usize,
        old: BTreeMap<String, Row>,
    },
    Inserted {
        table: usize,
        pk: String,
    },
    Overwrote {
        table: usize,
        old: Row,
    },
    Deleted {
        table: usize,
        old: Row,
    },
}

/// A transaction on a [`MemoryExecutor`]: writes apply in place and are
/// recorded in an undo log that a drop without commit replays.
#[derive(Debug)]
pub struct MemoryTx<'a> {
    exec: &'a MemoryExecutor,
    undo: Vec<Undo>,
}

impl MemoryTx<'_> {
    fn rollback_to(&mut self, mark: usize) {
        let tail = self.undo.split_off(mark.min(self.undo.len()));
        self.exec.revert(tail);
    }

    fn write_now(&mut self, query: &WriteQuery) -> Result<u64, ExecError> {
        let pos = self.exec.position(query.table())?;
        match query {
            WriteQuery::Insert(q) => self.insert(pos, q),
            WriteQuery::Update(q) => {
                let mut tables = self.exec.tables.borrow_mut();
                let mut count = 0;
                let mut update = |id: &str, row: &mut Row| {
                    if eval::matches(q.filter.as_ref(), row) {
                        self.exec.note(pos, id, Some(row));
                        self.undo.push(Undo::Overwrote { table: pos, old: row.clone() });
                        rows::apply_set(&mut row.0, &q.set);
                        count += 1;
                    }
                };
                match pinned_ids(q.filter.as_ref(), q.table.primary_key) {
                    Some(ids) => {
                        for id in ids {
                            if let Some(row) = tables[pos].get_mut(id) {
                                update(id, row);
                            }
                        }
                    }
                    None => tables[pos].iter_mut().for_each(|(id, row)| update(id, row)),
                }
                Ok(count)
            }
            WriteQuery::Delete(q) => {
                let mut tables = self.exec.tables.borrow_mut();
                let doomed: Vec<String> = candidates(&tables[pos], q.filter.as_ref(), q.table.primary_key)
                    .filter(|(_, row)| eval::matches(q.filter.as_ref(), row))
                    .map(|(pk, _)| pk.clone())
                    .collect();
                for pk in &doomed {
                    if let Some(old) = tables[pos].remove(pk) {
                        self.exec.note(pos, pk, Some(&old));
                        self.undo.push(Undo::Deleted { table: pos, old });
                    }
                }
                Ok(doomed.len() as u64)
            }
        }
    }

    fn insert(&mut self, pos: usize, q: &InsertQuery) -> Result<u64, ExecError> {
        let mut tables = self.exec.tables.borrow_mut();
        let mut count = 0;
        for given in &q.rows {
            let pk = rows::insert_pk(q, given)?;
            if let Some(existing) = tables[pos].get_mut(pk) {
                match q.on_conflict {
                    OnConflict::Fail => return Err(rows::duplicate_key(q.table)),
                    OnConflict::Update => {
                        if rows::upsert_is_noop(q) {
                            continue; // DO NOTHING
                        }
                        self.exec.note(pos, pk, Some(existing));
                        self.undo.push(Undo::Overwrote { table: pos, old: existing.clone() });
                        rows::assign(&mut existing.0, &q.columns, given);
                    }
                }
            } else {
                self.exec.note(pos, pk, None);
                tables[pos].insert(pk.to_owned(), rows::fresh_row(q, given));
                self.undo.push(Undo::Inserted { table: pos, pk: pk.to_owned() });
            }
            count += 1;
        }
        Ok(count)
    }
}

/// The rows of `table` that `filter` may match, in id order.
fn candidates<'t>(
    table: &'t BTreeMap<String, Row>,
    filter: Option<&Expr>,
    pk: usize,
) -> Box<dyn Iterator<Item = (&'t String, &'t Row)> + 't> {
    match pinned_ids(filter, pk) {
        Some(ids) => {
            let ids: Vec<String> = ids.into_iter().map(str::to_owned).collect();
            Box::new(ids.into_iter().filter_map(move |id| table.get_key_value(&id)))
        }
        None => Box::new(table.iter()),
    }
}

/// What one committed transaction changed, kept to undo it later: the client
/// rebases by undoing its pending mutations, applying the server's patch and
/// replaying them.
#[derive(Debug, Default, Clone)]
pub struct UndoLog(Vec<Undo>);

impl UndoLog {
    /// Whether the transaction changed nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl MemoryExecutor {
    /// Reverts undo entries, newest first.
    fn revert(&self, entries: Vec<Undo>) {
        let mut tables = self.tables.borrow_mut();
        for entry in entries.into_iter().rev() {
            match entry {
                Undo::Replaced { table, old } => {
                    let current = std::mem::replace(&mut tables[table], old);
                    self.note_replaced(table, &current, &tables[table]);
                }
                Undo::Inserted { table, pk } => {
                    if let Some(old) = tables[table].remove(&pk) {
                        self.note(table, &pk, Some(&old));
                    }
                }
                Undo::Overwrote { table, old } | Undo::Deleted { table, old } => {
                    if let Some(pk) = old.0.get(self.defs[table].primary_key).and_then(rows::text) {
                        let pk = pk.to_owned();
                        let previous = tables[table].insert(pk.clone(), old);
                        self.note(table, &pk, previous.as_ref());
                    }
                }
            }
        }
    }

    /// Commits `tx` and returns what it changed, so it can be undone later.
    pub fn commit_keeping_undo(mut tx: MemoryTx<'_>) -> UndoLog {
        UndoLog(std::mem::take(&mut tx.undo))
    }

    /// Undoes a committed transaction. Logs must be undone newest first: undo
    /// every transaction committed after this one before undoing it.
    pub fn undo(&self, log: UndoLog) {
        self.revert(log.0);
    }

    /// Inserts or replaces a row outside any transaction (applying a server patch).
    pub fn put_row(&self, table: &TableDef, row: Row) -> Result<(), ExecError> {
        let pos = self.position(table)?;
        let pk =
            row.pk(table).ok_or_else(|| ExecError::storage(format!("row of `{}` without a text id", table.name)))?;
        let pk = pk.to_owned();
        let previous = self.tables.borrow_mut()[pos].insert(pk.clone(), row);
        self.note(pos, &pk, previous.as_ref());
        Ok(())
    }

    /// Deletes a row by id outside any transaction; returns whether it existed.
    pub fn delete_row(&self, table: &TableDef, id: &str) -> Result<bool, ExecError> {
        let pos = self.position(table)?;
        let old = self.tables.borrow_mut()[pos].remove(id);
        self.note(pos, id, old.as_ref());
        Ok(old.is_some())
    }

    /// [`put_row`](Self::put_row), recording how to undo it in `log`.
    pub fn put_row_logged(&self, table: &TableDef, row: Row, log: &mut UndoLog) -> Result<(), ExecError> {
        let pos = self.position(table)?;
        let pk =
            row.pk(table).ok_or_else(|| ExecError::storage(format!("row of `{}` without a text id", table.name)))?;
        let pk = pk.to_owned();
        let previous = self.tables.borrow_mut()[pos].insert(pk.clone(), row);
        self.note(pos, &pk, previous.as_ref());
        let undo = match previous {
            Some(old) => Undo::Overwrote { table: pos, old },
            None => Undo::Inserted { table: pos, pk },
        };
        log.0.push(undo);
        Ok(())
    }

    /// [`delete_row`](Self::delete_row), recording how to undo it in `log`.
    pub fn delete_row_logged(&self, table: &TableDef, id: &str, log: &mut UndoLog) -> Result<(), ExecError> {
        let pos = self.position(table)?;
        let removed = self.tables.borrow_mut()[pos].remove(id);
        if let Some(old) = removed {
            self.note(pos, id, Some(&old));
            log.0.push(Undo::Deleted { table: pos, old });
        }
        Ok(())
    }

    /// [`clear`](Self::clear), recording how to undo it in `log`.
    pub fn clear_logged(&self, log: &mut UndoLog) {
        for (pos, table) in self.tables.borrow_mut().iter_mut().enumerate() {
            for (id, old) in std::mem::take(table) {
                self.note(pos, &id, Some(&old));
                log.0.push(Undo::Deleted { table: pos, old });
            }
        }
    }

    /// Replaces every row of `table` with `rows` (keyed by id), recording
    /// how to undo it in `log` as one entry. A reset built in bulk costs one
    /// map construction instead of one logged insert per row; captured
    /// tables still note every row that changed, for live queries.
    pub fn replace_table_logged(
        &self,
        table: &TableDef,
        rows: BTreeMap<String, Row>,
        log: &mut UndoLog,
    ) -> Result<(), ExecError> {
        let pos = self.position(table)?;
        let mut tables = self.tables.borrow_mut();
        let old = std::mem::replace(&mut tables[pos], rows);
        self.note_replaced(pos, &old, &tables[pos]);
        log.0.push(Undo::Replaced { table: pos, old });
        Ok(())
    }

    /// Notes the rows a table replacement touched: every old row (it may be
    /// gone or changed) and every new id.
    fn note_replaced(&self, pos: usize, old: &BTreeMap<String, Row>, new: &BTreeMap<String, Row>) {
        if !self.capturing.get() || !matches!(self.captured.borrow().get(pos), Some(Some(_))) {
            return;
        }
        for (id, row) in old {
            self.note(pos, id, Some(row));
        }
        for id in new.keys().filter(|id| !old.contains_key(*id)) {
            self.note(pos, id, None);
        }
    }

    /// Deletes every row of every table.
    pub fn clear(&self) {
        for (pos, table) in self.tables.borrow_mut().iter_mut().enumerate() {
            for (id, old) in std::mem::take(table) {
                self.note(pos, &id, Some(&old));
            }
        }
    }

    /// Calls `f` with every row of `table`, in id order, without copying
    /// any: for reads that only look (count, render, hand to JS). `f` must
    /// not write to this executor (its rows are borrowed meanwhile).
    pub fn for_each_row(&self, table: &TableDef, mut f: impl FnMut(&Row)) -> Result<(), ExecError> {
        self.with_rows(table, |rows| rows.values().for_each(&mut f))
    }

    /// Every row of `table`, in id order.
    pub fn rows(&self, table: &TableDef) -> Result<Vec<Row>, ExecError> {
        let pos = self.position(table)?;
        Ok(self.tables.borrow()[pos].values().cloned().collect())
    }

    /// The row of `table` with this id.
    pub fn row(&self, table: &TableDef, id: &str) -> Result<Option<Row>, ExecError> {
        let pos = self.position(table)?;
        Ok(self.tables.borrow()[pos].get(id).cloned())
    }
}

impl Transaction for MemoryTx<'_> {
    async fn select(&mut self, query: &SelectQuery) -> Result<Vec<Row>, ExecError> {
        query.validate()?;
        if query.filter.as_ref().is_some_and(Expr::has_sub_select) {
            let mut resolved = query.clone();
            super::resolve_filter(self, &mut resolved.filter).await?;
            return Box::pin(self.select(&resolved)).await;
        }
        let pos = self.exec.position(query.table)?;
        let tables = self.exec.tables.borrow();
        let rows = candidates(&tables[pos], query.filter.as_ref(), query.table.primary_key).map(|(_, row)| row);
        Ok(eval::select(query, rows))
    }

    async fn write(&mut self, mut query: WriteQuery) -> Result<u64, ExecError> {
        query.validate()?;
        super::resolve_write(self, &mut query).await?;
        let mark = self.undo.len();
        let result = self.write_now(&query);
        if result.is_err() {
            self.rollback_to(mark);
        }
        result
    }
}

impl Drop for MemoryTx<'_> {
    fn drop(&mut self) {
        self.rollback_to(0);
        self.exec.in_transaction.set(false);
    }
}

impl Executor for MemoryExecutor {
    type Tx<'a> = MemoryTx<'a>;

    async fn begin(&self) -> Result<MemoryTx<'_>, ExecError> {
        if self.in_transaction.replace(true) {
            return Err(ExecError::busy("a transaction is already open on this memory store".to_owned()));
        }
        Ok(MemoryTx { exec: self, undo: Vec::new() })
    }

    async fn commit<'a>(mut tx: MemoryTx<'a>) -> Result<(), ExecError>
    where
        Self: 'a,
    {
        tx.undo.clear();
        Ok(())
    }
}
