//! [`IndexedDbTx`]: one readwrite IndexedDB transaction per plasma transaction.
//!
//! Reads fetch candidate rows by the access path [`keys::plan`] picks, then
//! filter, order and page them with `query::eval`, the memory executor's
//! evaluator, so results are identical to it. Writes first read and compute
//! every affected row, and only then issue the puts and deletes: a write that
//! fails validation or a constraint changes nothing.

use std::collections::{BTreeMap, HashMap};

use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbCursorDirection, IdbCursorWithValue, IdbObjectStore, IdbRequest, IdbTransaction};

use crate::error::ExecError;
use crate::exec::Transaction;
use crate::exec::indexeddb::keys::{self, Access, KeyRange};
use crate::exec::indexeddb::request::{self, Done, Request, storage, thrown};
use crate::exec::indexeddb::{IndexedDbExecutor, codec};
use crate::exec::rows;
use crate::query::eval;
use crate::query::tree::{DeleteQuery, Expr, InsertQuery, OnConflict, SelectQuery, UpdateQuery, WriteQuery};
use crate::schema::TableDef;
use crate::table::Row;

/// A transaction on an [`IndexedDbExecutor`]. Dropping it without
/// [`Executor::commit`](crate::exec::Executor::commit) aborts it, rolling
/// every write back.
///
/// IndexedDB commits a transaction by itself as soon as control returns to
/// the event loop with no request pending. Inside a plasma transaction, await
/// only plasma's own operations (selects, writes): awaiting a timer, a fetch
/// or any other non-IndexedDB future lets the transaction end, and the next
/// operation fails with a storage error (`TransactionInactiveError`).
pub struct IndexedDbTx<'a> {
    exec: &'a IndexedDbExecutor,
    tx: IdbTransaction,
    done: Done,
    finished: bool,
    /// Set when a write failed after issuing requests: the transaction was
    /// aborted (to keep the statement atomic) and can only report this.
    broken: Option<String>,
}

impl std::fmt::Debug for IndexedDbTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexedDbTx").field("db", &self.exec.name()).field("broken", &self.broken).finish()
    }
}

impl<'a> IndexedDbTx<'a> {
    pub(crate) fn new(exec: &'a IndexedDbExecutor, tx: IdbTransaction) -> Self {
        let done = Done::watch(&tx);
        IndexedDbTx { exec, tx, done, finished: false, broken: None }
    }

    pub(crate) async fn commit(mut self) -> Result<(), ExecError> {
        self.usable()?;
        self.finished = true;
        // `commit()` is standard (Chrome 76+, Firefox 74+, Safari 15); web-sys
        // marks it deprecated, after an old spec draft.
        #[allow(deprecated)]
        let committed = self.tx.commit().map_err(thrown("commit"));
        committed?;
        self.done.wait().await.map_err(|e| storage("commit", e))
    }

    fn usable(&self) -> Result<(), ExecError> {
        match &self.broken {
            Some(why) => Err(ExecError::storage(format!("IndexedDB transaction was aborted by a failed write: {why}"))),
            None => Ok(()),
        }
    }

    fn store(&self, table: &TableDef) -> Result<IdbObjectStore, ExecError> {
        self.exec.check_table(table)?;
        self.tx.object_store(table.name).map_err(thrown("opening an object store"))
    }

    /// The rows `access` reads (a superset of the filter's matches), keyed by id.
    async fn candidates(
        &self,
        table: &TableDef,
        access: &Access<'_>,
        filter: Option<&Expr>,
    ) -> Result<Vec<Row>, ExecError> {
        let store = self.store(table)?;
        let index =
            |column: usize| store.index(&table.index_name(&table.columns[column])).map_err(thrown("opening an index"));
        match access {
            Access::Ids(ids) => {
                let pending: Vec<Request> = ids
                    .iter()
                    .map(|id| store.get(&JsValue::from_str(id)).map(Request::new))
                    .collect::<Result<_, _>>()
                    .map_err(thrown("get"))?;
                let mut rows = Vec::with_capacity(pending.len());
                for mut p in pending {
                    let record = p.next().await.map_err(|e| storage("get", e))?;
                    rows.extend(codec::decode(table, &record)?);
                }
                Ok(rows)
            }
            Access::Index { column, ranges } => {
                let index = index(*column)?;
                let pending: Vec<Request> = ranges
                    .iter()
                    .map(|r| {
                        let range = r.to_js()?;
                        index.get_all_with_key(&range).map(Request::new).map_err(thrown("index getAll"))
                    })
                    .collect::<Result<_, _>>()?;
                let mut rows = Vec::new();
                for mut p in pending {
                    let records = p.next().await.map_err(|e| storage("index getAll", e))?;
                    decode_all(table, &records, &mut rows)?;
                }
                if ranges.len() > 1 {
                    // Two IN values can share a key (coarsened numbers): keep each row once.
                    let by_id: BTreeMap<String, Row> =
                        rows.into_iter().filter_map(|r| Some((r.pk(table)?.to_owned(), r))).collect();
                    rows = by_id.into_values().collect();
                }
                Ok(rows)
            }
            Access::Walk { column, range, descending, needed } => {
                let index = index(*column)?;
                self.walk(table, &index, *column, range.as_ref(), *descending, *needed, filter).await
            }
            Access::Scan => {
                let records = request::call("getAll", || store.get_all()).await?;
                let mut rows = Vec::new();
                decode_all(table, &records, &mut rows)?;
                Ok(rows)
            }
        }
    }

    /// Walks an index in order, collecting rows that pass `filter` until
    /// `needed` have and the key moves past the last one's (see [`Access::Walk`]).
    #[allow(clippy::too_many_arguments)]
    async fn walk(
        &self,
        table: &TableDef,
        index: &web_sys::IdbIndex,
        column: usize,
        range: Option<&KeyRange>,
        descending: bool,
        needed: u64,
        filter: Option<&Expr>,
    ) -> Result<Vec<Row>, ExecError> {
        let direction = if descending { IdbCursorDirection::Prev } else { IdbCursorDirection::Next };
        let range: JsValue = match range {
            Some(r) => r.to_js()?.into(),
            None => JsValue::UNDEFINED,
        };
        let issued: IdbRequest =
            index.open_cursor_with_range_and_direction(&range, direction).map_err(thrown("openCursor"))?;
        let mut cursor_events = Request::new(issued);
        let mut rows = Vec::new();
        let mut matched = 0u64;
        let mut boundary: Option<crate::value::Value> = None;
        loop {
            let position = cursor_events.next().await.map_err(|e| storage("cursor", e))?;
            let Some(cursor) = position.dyn_ref::<IdbCursorWithValue>() else {
                break; // past the end
            };
            let value = cursor.value().map_err(thrown("cursor value"))?;
            let Some(row) = codec::decode(table, &value)? else { break };
            if let Some(last) = &boundary
                && !keys::same_key(last, row.get(column))
            {
                break;
            }
            if eval::matches(filter, &row) {
                matched += 1;
                if matched >= needed && boundary.is_none() {
                    boundary = Some(row.get(column).clone());
                }
                rows.push(row);
            }
            if needed == 0 {
                break;
            }
            cursor.continue_().map_err(thrown("cursor continue"))?;
        }
        Ok(rows)
    }

    async fn puts(&mut self, table: &TableDef, changed: Vec<(String, Option<Row>)>) -> Result<(), ExecError> {
        let store = self.store(table)?;
        let mut pending = Vec::with_capacity(changed.len());
        let mut issue = || -> Result<(), ExecError> {
            for (id, row) in &changed {
                let key = JsValue::from_str(id);
                let issued = match row {
                    Some(row) => store.put_with_key(&codec::record(table, row)?, &key).map_err(thrown("put"))?,
                    None => store.delete(&key).map_err(thrown("delete"))?,
                };
                pending.push(Request::new(issued));
            }
            Ok(())
        };
        let mut outcome = issue();
        if outcome.is_ok() {
            for mut p in pending.drain(..) {
                if let Err(e) = p.next().await {
                    outcome = Err(storage("put", e));
                    break;
                }
            }
        }
        if let Err(e) = &outcome {
            // Some of this statement's requests may have landed: abort the
            // whole transaction rather than leave half a statement behind.
            self.broken = Some(e.to_string());
            let _ = self.tx.abort();
        }
        outcome
    }

    async fn insert(&mut self, q: &InsertQuery) -> Result<u64, ExecError> {
        let table = q.table;
        let store = self.store(table)?;
        // Fetch every existing row the statement names, all requests at once.
        let mut ids: Vec<&str> = q.rows.iter().map(|given| rows::insert_pk(q, given)).collect::<Result<_, _>>()?;
        ids.sort_unstable();
        ids.dedup();
        let pending: Vec<(String, Request)> = ids
            .iter()
            .map(|id| Ok(((*id).to_owned(), Request::new(store.get(&JsValue::from_str(id)).map_err(thrown("get"))?))))
            .collect::<Result<_, ExecError>>()?;
        let mut state: HashMap<String, Option<Row>> = HashMap::with_capacity(pending.len());
        for (id, mut p) in pending {
            let record = p.next().await.map_err(|e| storage("get", e))?;
            state.insert(id, codec::decode(table, &record)?);
        }
        // Apply the rows in order to the fetched state, as the memory executor does.
        let mut order: Vec<String> = Vec::new();
        let mut count = 0;
        for given in &q.rows {
            let pk = rows::insert_pk(q, given)?;
            let slot = state.entry(pk.to_owned()).or_default();
            match slot {
                Some(existing) => match q.on_conflict {
                    OnConflict::Fail => return Err(rows::duplicate_key(table)),
                    OnConflict::Update if rows::upsert_is_noop(q) => continue,
                    OnConflict::Update => rows::assign(&mut existing.0, &q.columns, given),
                },
                None => *slot = Some(rows::fresh_row(q, given)),
            }
            order.push(pk.to_owned());
            count += 1;
        }
        order.sort_unstable();
        order.dedup();
        let changed = order
            .into_iter()
            .map(|id| {
                let row = state.remove(&id).flatten();
                (id, row)
            })
            .collect();
        self.puts(table, changed).await?;
        Ok(count)
    }

    async fn update(&mut self, q: &UpdateQuery) -> Result<u64, ExecError> {
        let access = keys::plan(q.table, q.filter.as_ref(), None);
        let mut changed = Vec::new();
        for mut row in self.candidates(q.table, &access, q.filter.as_ref()).await? {
            if eval::matches(q.filter.as_ref(), &row) {
                for (c, v) in &q.set {
                    row.0[*c] = v.clone();
                }
                let id = row.pk(q.table).unwrap_or_default().to_owned();
                changed.push((id, Some(row)));
            }
        }
        let count = changed.len() as u64;
        self.puts(q.table, changed).await?;
        Ok(count)
    }

    async fn delete(&mut self, q: &DeleteQuery) -> Result<u64, ExecError> {
        let access = keys::plan(q.table, q.filter.as_ref(), None);
        let doomed: Vec<(String, Option<Row>)> = self
            .candidates(q.table, &access, q.filter.as_ref())
            .await?
            .into_iter()
            .filter(|row| eval::matches(q.filter.as_ref(), row))
            .filter_map(|row| Some((row.pk(q.table)?.to_owned(), None)))
            .collect();
        let count = doomed.len() as u64;
        self.puts(q.table, doomed).await?;
        Ok(count)
    }
}

fn decode_all(table: &TableDef, records: &JsValue, out: &mut Vec<Row>) -> Result<(), ExecError> {
    let records: &Array = records.dyn_ref().ok_or_else(|| ExecError::storage("IndexedDB getAll returned no array"))?;
    out.reserve(records.length() as usize);
    for record in records.iter() {
        out.extend(codec::decode(table, &record)?);
    }
    Ok(())
}

impl Transaction for IndexedDbTx<'_> {
    async fn select(&mut self, query: &SelectQuery) -> Result<Vec<Row>, ExecError> {
        self.usable()?;
        query.validate()?;
        if query.filter.as_ref().is_some_and(Expr::has_sub_select) {
            let mut resolved = query.clone();
            crate::exec::resolve_filter(self, &mut resolved.filter).await?;
            return Box::pin(self.select(&resolved)).await;
        }
        let access = keys::plan(query.table, query.filter.as_ref(), Some(query));
        let rows = self.candidates(query.table, &access, query.filter.as_ref()).await?;
        Ok(eval::select(query, &rows))
    }

    async fn write(&mut self, mut query: WriteQuery) -> Result<u64, ExecError> {
        self.usable()?;
        query.validate()?;
        crate::exec::resolve_write(self, &mut query).await?;
        match &query {
            WriteQuery::Insert(q) => self.insert(q).await,
            WriteQuery::Update(q) => self.update(q).await,
            WriteQuery::Delete(q) => self.delete(q).await,
        }
    }
}

impl Drop for IndexedDbTx<'_> {
    fn drop(&mut self) {
        if !self.finished {
            // Throws only if the transaction already ended; nothing to undo then.
            let _ = self.tx.abort();
        }
    }
}
