//! [`PushStorage`] and [`PullStorage`] over a [`BatchDb`] (Cloudflare D1, or
//! its SQLite model): a push attempt reads as it goes (bookkeeping with
//! single statements, the mutators through an [`OverlayTx`] over the
//! database), buffers every write, and commits them as one guarded batch; a
//! pull reads with single statements and is repeated if the change log moved
//! meanwhile. See ARCHITECTURE.md, "Server backends without interactive
//! transactions".

use crate::error::ExecError;
use crate::exec::Transaction;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::exec::overlay::{Mark, OverlayBase, OverlayChange, OverlayTx};
use crate::protocol::{ErrorCode, MutationError};
use crate::query::tree::{Expr, SelectQuery, WriteQuery};
use crate::schema::TableDef;
use crate::server::error::ServerError;
use crate::server::statements::{self, CLIENT_KIND};
use crate::server::storage::batch::{
    ASSUMED_NEW_CONSTRAINT, BatchDb, BatchLimits, CommitError, DbError, Statement, commit_guarded, read_version,
    value_bytes,
};
use crate::server::storage::{MaintenanceStorage, MaintenanceTx, PullStorage, PullTx, PushStorage, PushTx, TakeRow};
use crate::sql::render;
use crate::table::Row;
use crate::value::Value;
use crate::wire::row_to_json_text;

/// A batch database as push storage.
#[derive(Debug)]
pub struct BatchStorage<B> {
    db: B,
    /// Set when a push attempt's blind insert met an existing row: attempts
    /// look every inserted id up first until a push commits.
    verify_next: AtomicBool,
}

impl<B: BatchDb> BatchStorage<B> {
    /// Push storage on `db` (its schema applied, with the guard's tables).
    pub fn new(db: B) -> Self {
        BatchStorage { db, verify_next: AtomicBool::new(false) }
    }

    /// The database.
    pub fn db(&self) -> &B {
        &self.db
    }

    /// The newest change-log position ever handed out (what
    /// [`compact`](crate::server::compact::compact) takes).
    pub async fn change_log_head(&self) -> Result<i64, ServerError> {
        head_seq(&self.db).await
    }

    /// The user owning `group`, if it exists (one statement, outside any push).
    pub async fn group_owner(&self, group: &str) -> Result<Option<String>, ServerError> {
        group_owner(&self.db, group).await
    }
}

/// The database as what the overlay reads from.
pub struct DbBase<'a, B> {
    db: &'a B,
}

impl<B: BatchDb> OverlayBase for DbBase<'_, B> {
    async fn select(&mut self, query: &SelectQuery) -> Result<Vec<Row>, ExecError> {
        select(self.db, query).await
    }
}

/// Runs `query`, splitting a lookup by too many ids (`pk IN (...)`, no
/// order, limit or offset: the overlay's and the pull's lookups) into
/// statements within the database's parameter limit. Any other query over
/// the limit fails with the limit in its message (a mutator's error).
async fn select(db: &impl BatchDb, query: &SelectQuery) -> Result<Vec<Row>, ExecError> {
    query.validate()?;
    let max = db.limits().max_params;
    let rendered = render::select(query);
    if rendered.params.len() <= max {
        let rows = db.query(&Statement::new(rendered.sql, rendered.params)).await.map_err(exec_error)?;
        return Ok(rows.into_iter().map(Row).collect());
    }
    match &query.filter {
        Some(Expr::In { column, values })
            if *column == query.table.primary_key
                && query.order.is_empty()
                && query.limit.is_none()
                && query.offset == 0 =>
        {
            let mut rows = Vec::with_capacity(values.len());
            for chunk in values.chunks(max) {
                let part = SelectQuery {
                    filter: Some(Expr::In { column: *column, values: chunk.to_vec() }),
                    ..SelectQuery::all(query.table)
                };
                let rendered = render::select(&part);
                let found = db.query(&Statement::new(rendered.sql, rendered.params)).await.map_err(exec_error)?;
                rows.extend(found.into_iter().map(Row));
            }
            // The order a single statement would have given (ids are unique).
            let pk = query.table.primary_key;
            rows.sort_by(|a, b| a.0[pk].sort_cmp(&b.0[pk]));
            Ok(rows)
        }
        _ => Err(ExecError::storage(format!(
            "a query on `{}` binds {} values; this database binds at most {max} per statement",
            query.table.name,
            rendered.params.len()
        ))),
    }
}

/// Refuses (as the mutator's error) a write holding a value or row larger
/// than the database stores, or an integer it cannot bind exactly.
fn check_write(query: &WriteQuery, limits: &BatchLimits) -> Result<(), ExecError> {
    let table = query.table().name;
    // One check per row written: each of an insert's rows, an update's assignments.
    let check_row = |row: &mut dyn Iterator<Item = &Value>| -> Result<(), ExecError> {
        let refuse = |message: String| ExecError::Constraint { message, source: None };
        let mut bytes = 0_usize;
        for value in row {
            if let Value::Integer(i) = value
                && i.unsigned_abs() > limits.max_exact_integer
            {
                return Err(refuse(format!(
                    "integer {i} in `{table}` is beyond what this database stores exactly (at most {} in magnitude)",
                    limits.max_exact_integer
                )));
            }
            bytes = bytes.saturating_add(value_bytes(value));
        }
        if bytes > limits.max_value_bytes {
            return Err(refuse(format!(
                "a row of `{table}` would hold {bytes} bytes; this database stores at most {} per value or row",
                limits.max_value_bytes
            )));
        }
        Ok(())
    };
    match query {
        WriteQuery::Insert(insert) => insert.rows.iter().try_for_each(|row| check_row(&mut row.iter())),
        WriteQuery::Update(update) => check_row(&mut update.set.iter().map(|(_, v)| v)),
        WriteQuery::Delete(_) => Ok(()),
    }
}

fn exec_error(e: DbError) -> ExecError {
    if e.transient { ExecError::Busy { message: e.message, source: None } } else { ExecError::storage(e.message) }
}

// Reads every transaction kind below shares: one statement each.

async fn query(db: &impl BatchDb, sql: impl Into<String>, params: Vec<Value>) -> Result<Vec<Vec<Value>>, ServerError> {
    Ok(db.query(&Statement::new(sql, params)).await?)
}

/// The first column of the first row, if any.
async fn first(db: &impl BatchDb, sql: impl Into<String>, params: Vec<Value>) -> Result<Option<Value>, ServerError> {
    Ok(query(db, sql, params).await?.into_iter().next().and_then(|r| r.into_iter().next()))
}

/// The first column of every row, as text.
async fn strings(db: &impl BatchDb, sql: impl Into<String>, params: Vec<Value>) -> Result<Vec<String>, ServerError> {
    let rows = query(db, sql, params).await?;
    rows.iter()
        .map(|row| match row.as_slice() {
            [Value::Text(id)] => Ok(id.clone()),
            _ => Err(malformed("id", row)),
        })
        .collect()
}

async fn group_owner(db: &impl BatchDb, group: &str) -> Result<Option<String>, ServerError> {
    Ok(match first(db, statements::group_owner(), vec![text(group)]).await? {
        Some(Value::Text(owner)) => Some(owner),
        _ => None,
    })
}

/// Where a group or client was forgotten (0 if never).
async fn tombstone(db: &impl BatchDb, kind: &str, id: &str) -> Result<i64, ServerError> {
    Ok(match first(db, statements::tombstone(), vec![text(kind), text(id)]).await? {
        Some(Value::Integer(at)) => at,
        _ => 0,
    })
}

/// The newest change-log position ever handed out.
async fn head_seq(db: &impl BatchDb) -> Result<i64, ServerError> {
    Ok(match first(db, statements::head_seq(), vec![text(crate::sql::ddl::CHANGES_TABLE)]).await? {
        Some(Value::Integer(seq)) => seq,
        _ => 0,
    })
}

/// Commits `batch` if nothing else committed since version `seen`; a
/// conflict is `busy`, so the caller's attempt runs again.
async fn commit(db: &impl BatchDb, seen: i64, batch: Vec<Statement>) -> Result<(), ServerError> {
    commit_guarded(db, seen, batch).await.map_err(commit_failure)
}

/// A conflict is `busy` (the attempt runs again); any other failure is the database's.
fn commit_failure(e: CommitError) -> ServerError {
    match e {
        CommitError::Conflict => ServerError::new(ErrorCode::Busy, "another write committed meanwhile: retry"),
        CommitError::Failed(e) => e.into(),
    }
}

/// One push attempt on a batch database.
pub struct BatchPushTx<'a, B> {
    db: &'a B,
    /// The write version read before the attempt's first read.
    seen: i64,
    overlay: OverlayTx<DbBase<'a, B>>,
    /// Bookkeeping writes, in order; committed after the row writes, so an
    /// LMID is never logged before the changes it confirms.
    statements: Vec<Statement>,
    savepoint: Option<(Mark, usize)>,
    verify_next: &'a AtomicBool,
}

impl<B: BatchDb> BatchPushTx<'_, B> {
    fn then(&mut self, sql: String, params: Vec<Value>) {
        self.statements.push(Statement::new(sql, params));
    }
}

/// Whether a batch failed because a blind insert's id existed: a plain
/// insert's key conflict, or the check of a row inserted and deleted again.
fn is_assumption_failure(e: &DbError) -> bool {
    e.message.contains(ASSUMED_NEW_CONSTRAINT) || e.message.contains("UNIQUE constraint failed")
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn int(n: usize) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

fn id_value(id: u64) -> Result<Value, ServerError> {
    i64::try_from(id)
        .map(Value::Integer)
        .map_err(|_| ServerError::new(ErrorCode::BadRequest, format!("mutation id {id} is out of range")))
}

impl<B: BatchDb> Transaction for BatchPushTx<'_, B> {
    async fn select(&mut self, query: &SelectQuery) -> Result<Vec<Row>, ExecError> {
        self.overlay.select(query).await
    }

    async fn write(&mut self, query: WriteQuery) -> Result<u64, ExecError> {
        check_write(&query, &self.db.limits())?;
        self.overlay.write(query).await
    }
}

impl<B: BatchDb> PushTx for BatchPushTx<'_, B> {
    async fn group_owner(&mut self, group: &str) -> Result<Option<String>, ServerError> {
        group_owner(self.db, group).await
    }

    async fn create_group(&mut self, group: &str, user_id: &str, now_ms: i64) -> Result<(), ServerError> {
        let params = vec![text(group), text(user_id), Value::Integer(now_ms), Value::Integer(now_ms)];
        self.then(statements::create_group(), params);
        Ok(())
    }

    async fn touch_group(&mut self, group: &str, now_ms: i64) -> Result<(), ServerError> {
        self.then(statements::touch_group(), vec![Value::Integer(now_ms), text(group)]);
        Ok(())
    }

    async fn client(&mut self, client: &str) -> Result<Option<(String, u64)>, ServerError> {
        let rows = query(self.db, statements::client(), vec![text(client)]).await?;
        match rows.into_iter().next().as_deref() {
            None => Ok(None),
            Some([Value::Text(group), Value::Integer(lmid)]) => Ok(Some((group.clone(), (*lmid).max(0) as u64))),
            Some(other) => Err(ServerError::new(ErrorCode::Internal, format!("a client row is malformed: {other:?}"))),
        }
    }

    async fn client_forgotten(&mut self, client: &str) -> Result<bool, ServerError> {
        Ok(tombstone(self.db, CLIENT_KIND, client).await? > 0)
    }

    async fn create_client(&mut self, client: &str, group: &str, now_ms: i64) -> Result<(), ServerError> {
        self.then(statements::create_client(), vec![text(client), text(group), Value::Integer(now_ms)]);
        Ok(())
    }

    async fn drop_errors_through(&mut self, group: &str, client: &str, through: u64) -> Result<(), ServerError> {
        let through = Value::Integer(i64::try_from(through).unwrap_or(i64::MAX));
        self.then(statements::drop_errors_through(), vec![text(client), through, text(group)]);
        Ok(())
    }

    async fn record_error(&mut self, client: &str, id: u64, message: &str) -> Result<(), ServerError> {
        self.then(statements::log_error(), vec![text(client)]);
        self.then(statements::record_error_at_last_log(), vec![text(client), id_value(id)?, text(message)]);
        Ok(())
    }

    async fn set_lmid(&mut self, client: &str, lmid: u64, now_ms: i64) -> Result<(), ServerError> {
        self.then(statements::set_lmid(), vec![id_value(lmid)?, Value::Integer(now_ms), text(client)]);
        self.then(statements::log_lmid(), vec![text(client)]);
        Ok(())
    }

    async fn savepoint(&mut self) -> Result<(), ServerError> {
        self.savepoint = Some((self.overlay.savepoint(), self.statements.len()));
        Ok(())
    }

    async fn release_savepoint(&mut self) -> Result<(), ServerError> {
        self.savepoint = None;
        Ok(())
    }

    async fn rollback_to_savepoint(&mut self) -> Result<(), ServerError> {
        if let Some((mark, len)) = self.savepoint.take() {
            self.overlay.rollback_to(mark);
            self.statements.truncate(len);
        }
        Ok(())
    }

    async fn changed_user_rows(&mut self) -> Result<bool, ServerError> {
        Ok(self.overlay.has_changes())
    }
}

impl<B: BatchDb> PushStorage for BatchStorage<B> {
    type Tx<'a>
        = BatchPushTx<'a, B>
    where
        B: 'a;

    /// Conflicting attempts are retried: each retry reads a newer state.
    const RETRIES: usize = 8;

    async fn begin_push(&self) -> Result<BatchPushTx<'_, B>, ServerError> {
        let seen = read_version(&self.db).await?;
        Ok(BatchPushTx {
            db: &self.db,
            seen,
            // Inserted ids are assumed new (one round trip less per row)
            // unless an attempt found one that was not, since the last commit.
            overlay: OverlayTx::new(DbBase { db: &self.db }).blind_inserts(!self.verify_next.load(Ordering::Relaxed)),
            statements: Vec::new(),
            savepoint: None,
            verify_next: &self.verify_next,
        })
    }

    async fn commit_push<'a>(tx: BatchPushTx<'a, B>) -> Result<(), ServerError>
    where
        Self: 'a,
    {
        let BatchPushTx { db, seen, overlay, statements, verify_next, .. } = tx;
        let mut batch: Vec<Statement> = Vec::with_capacity(statements.len() + 8);
        for change in overlay.into_changes() {
            match change {
                OverlayChange::Absent { table, id } => {
                    batch.push(Statement::new(statements::assert_absent(table), vec![text(&id)]))
                }
                change => {
                    if let Some(write) = change.into_write() {
                        let rendered = render::write(&write);
                        batch.push(Statement::new(rendered.sql, rendered.params));
                    }
                }
            }
        }
        batch.extend(statements);
        match commit_guarded(db, seen, batch).await {
            Ok(()) => {
                // The push that found an existing id is through (its careful
                // attempt too): the next one may assume again.
                verify_next.store(false, Ordering::Relaxed);
                Ok(())
            }
            // A row assumed new exists: nothing was written; run the push
            // again, looking inserted ids up (the mutator may refuse then).
            Err(CommitError::Failed(e)) if is_assumption_failure(&e) => {
                verify_next.store(true, Ordering::Relaxed);
                Err(ServerError::new(ErrorCode::Busy, "an inserted id exists: retry with lookups"))
            }
            Err(other) => Err(commit_failure(other)),
        }
    }
}

/// A pull's reads on a batch database: single statements, checked at the end
/// to be of one moment.
pub struct BatchPullTx<'a, B> {
    db: &'a B,
    /// The head when the pull began, read before anything else.
    head: i64,
    /// The write version then: every guarded commit bumps it.
    version: i64,
}

fn malformed(what: &str, row: &[Value]) -> ServerError {
    ServerError::new(ErrorCode::Internal, format!("a stored {what} is malformed: {row:?}"))
}

fn lmid(v: &Value) -> Option<u64> {
    match v {
        Value::Integer(i) => Some((*i).max(0) as u64),
        _ => None,
    }
}

impl<B: BatchDb> PullTx for BatchPullTx<'_, B> {
    async fn group_owner(&mut self, group: &str) -> Result<Option<String>, ServerError> {
        group_owner(self.db, group).await
    }

    async fn head_seq(&mut self) -> Result<i64, ServerError> {
        Ok(self.head)
    }

    async fn meta_i64(&mut self, key: &str) -> Result<i64, ServerError> {
        match first(self.db, statements::meta_value(), vec![text(key)]).await? {
            None => Ok(0),
            Some(Value::Text(v)) => v
                .parse()
                .map_err(|_| ServerError::new(ErrorCode::Internal, format!("meta value `{key}` is not an integer"))),
            Some(Value::Integer(v)) => Ok(v),
            Some(other) => Err(malformed("meta value", std::slice::from_ref(&other))),
        }
    }

    async fn database_id(&mut self) -> Result<String, ServerError> {
        match first(self.db, statements::meta_value(), vec![text(crate::sql::ddl::DATABASE_ID)]).await? {
            Some(Value::Text(id)) => Ok(id),
            _ => Err(ServerError::new(ErrorCode::Internal, "the database has no identity: run ensure_schema")),
        }
    }

    async fn group_forgotten_at(&mut self, group: &str) -> Result<i64, ServerError> {
        tombstone(self.db, statements::GROUP_KIND, group).await
    }

    async fn group_lmids(&mut self, group: &str) -> Result<std::collections::BTreeMap<String, u64>, ServerError> {
        let rows = query(self.db, statements::group_lmids(), vec![text(group)]).await?;
        rows.iter()
            .map(|row| match row.as_slice() {
                [Value::Text(client), l] => {
                    lmid(l).map(|l| (client.clone(), l)).ok_or_else(|| malformed("client", row))
                }
                _ => Err(malformed("client", row)),
            })
            .collect()
    }

    async fn lmid_in_group(&mut self, group: &str, client: &str) -> Result<Option<u64>, ServerError> {
        Ok(first(self.db, statements::lmid_in_group(), vec![text(client), text(group)]).await?.as_ref().and_then(lmid))
    }

    async fn lmids_in_group(&mut self, group: &str, clients: &[&str]) -> Result<Vec<Option<u64>>, ServerError> {
        let mut found: std::collections::HashMap<String, u64> = std::collections::HashMap::with_capacity(clients.len());
        // The group takes one parameter of each statement.
        for chunk in clients.chunks(self.db.limits().max_params.saturating_sub(1).max(1)) {
            let mut params = vec![text(group)];
            params.extend(chunk.iter().map(|c| text(c)));
            for row in query(self.db, statements::lmids_in_group(chunk.len()), params).await? {
                match row.as_slice() {
                    [Value::Text(client), l] => {
                        found.insert(client.clone(), lmid(l).ok_or_else(|| malformed("client", &row))?);
                    }
                    _ => return Err(malformed("client", &row)),
                }
            }
        }
        Ok(clients.iter().map(|c| found.get(*c).copied()).collect())
    }

    async fn errors_between(
        &mut self,
        group: &str,
        after: i64,
        through: i64,
    ) -> Result<Vec<MutationError>, ServerError> {
        let params = vec![text(group), Value::Integer(after), Value::Integer(through)];
        let rows = query(self.db, statements::errors_between(), params).await?;
        rows.iter()
            .map(|row| match row.as_slice() {
                [Value::Text(client_id), id, Value::Text(message)] => Ok(MutationError {
                    client_id: client_id.clone(),
                    mutation_id: lmid(id).ok_or_else(|| malformed("error", row))?,
                    message: message.clone(),
                }),
                _ => Err(malformed("error", row)),
            })
            .collect()
    }

    async fn changed_keys(&mut self, since: i64, fetch: usize) -> Result<Vec<(String, String, i64)>, ServerError> {
        let fetch = Value::Integer(i64::try_from(fetch).unwrap_or(i64::MAX));
        let rows = query(self.db, statements::changed_keys(), vec![Value::Integer(since), fetch]).await?;
        rows.iter()
            .map(|row| match row.as_slice() {
                [Value::Text(table), Value::Text(id), Value::Integer(seq)] => Ok((table.clone(), id.clone(), *seq)),
                _ => Err(malformed("change-log entry", row)),
            })
            .collect()
    }

    async fn row_by_id(&mut self, table: &'static TableDef, id: &str) -> Result<Option<Row>, ServerError> {
        Ok(select(self.db, &SelectQuery::by_id(table, id)).await?.pop())
    }

    async fn rows_by_ids(&mut self, table: &'static TableDef, ids: &[&str]) -> Result<Vec<Option<Row>>, ServerError> {
        let values = ids.iter().map(|id| text(id)).collect();
        let lookup =
            SelectQuery { filter: Some(Expr::In { column: table.primary_key, values }), ..SelectQuery::all(table) };
        let mut found: std::collections::HashMap<String, Row> = std::collections::HashMap::with_capacity(ids.len());
        for row in select(self.db, &lookup).await? {
            if let Some(Value::Text(id)) = row.0.get(table.primary_key) {
                found.insert(id.clone(), row);
            }
        }
        Ok(ids.iter().map(|id| found.remove(*id)).collect())
    }

    async fn rows_after(
        &mut self,
        table: &'static TableDef,
        filter: Option<&Expr>,
        after_id: Option<&str>,
        take: &mut TakeRow<'_>,
    ) -> Result<bool, ServerError> {
        let pk = table.columns.iter().position(|c| c.name == table.pk().name).unwrap_or(0);
        let limits = self.db.limits();
        // At most 500 rows and, past one row, the result limit less one
        // largest row: a read never returns more than the database allows.
        let (most, budget) = (500_usize, limits.max_result_bytes.saturating_sub(limits.max_value_bytes).max(1));
        let mut after = after_id.map(str::to_owned);
        loop {
            let from = after.clone().map_or(Value::Null, Value::Text);
            let (sql, mut params) = statements::rows_after_bounded(table, filter);
            params.extend([from, int(most), int(budget)]);
            let rows = query(self.db, sql, params).await?;
            let bytes: usize = rows.iter().flatten().map(value_bytes).sum();
            // Short of rows, and so short of bytes that any next row would
            // have fit: the table is done. Otherwise read on.
            let full = rows.len() == most || bytes.saturating_add(limits.max_value_bytes) > budget;
            for cells in rows {
                let row = Row(cells);
                let Some(Value::Text(id)) = row.0.get(pk).cloned() else {
                    return Err(malformed("row id", &row.0));
                };
                after = Some(id.clone());
                if !take(id, row_to_json_text(table, &row)?)? {
                    return Ok(true);
                }
            }
            if !full {
                return Ok(false);
            }
        }
    }

    async fn query_values(&mut self, sql: &str, params: Vec<Value>) -> Result<Vec<Vec<Value>>, ServerError> {
        query(self.db, sql.to_owned(), params).await
    }
}

impl<B: BatchDb> PullStorage for BatchStorage<B> {
    type Tx<'a>
        = BatchPullTx<'a, B>
    where
        B: 'a;

    async fn write_synced(&self, statements: Vec<(String, Vec<Value>)>) -> Result<(), ServerError> {
        // Not guarded: the record is no part of the change log or its version.
        let batch: Vec<Statement> = statements.into_iter().map(|(sql, params)| Statement::new(sql, params)).collect();
        if !batch.is_empty() {
            self.db.batch(&batch).await?;
        }
        Ok(())
    }

    const RETRIES: usize = 8;

    async fn begin_pull(&self) -> Result<BatchPullTx<'_, B>, ServerError> {
        let version = read_version(&self.db).await?;
        Ok(BatchPullTx { db: &self.db, head: head_seq(&self.db).await?, version })
    }

    async fn end_pull<'a>(tx: BatchPullTx<'a, B>) -> Result<(), ServerError>
    where
        Self: 'a,
    {
        // Every commit bumps the write version: if it did not move, every
        // read saw the state the pull began on.
        if read_version(tx.db).await? != tx.version {
            return Err(ServerError::new(ErrorCode::Busy, "the database changed during the pull: pull again"));
        }
        Ok(())
    }
}

/// A maintenance transaction on a batch database: reads with single
/// statements, writes buffered and committed as one guarded batch (so what
/// it read, and the log positions it computed, still hold when it commits).
pub struct BatchMaintenanceTx<'a, B> {
    db: &'a B,
    seen: i64,
    /// The head when it began; entries it appends get `head + 1`, `head + 2`,
    /// … (AUTOINCREMENT, and no other commit can land in between).
    head: i64,
    appended: i64,
    statements: Vec<Statement>,
}

impl<B: BatchDb> BatchMaintenanceTx<'_, B> {
    fn then(&mut self, sql: String, params: Vec<Value>) {
        self.statements.push(Statement::new(sql, params));
    }
}

impl<B: BatchDb> MaintenanceTx for BatchMaintenanceTx<'_, B> {
    async fn head_seq(&mut self) -> Result<i64, ServerError> {
        Ok(self.head + self.appended)
    }

    async fn delete_changes_through(&mut self, through: i64) -> Result<usize, ServerError> {
        let count = match first(self.db, statements::count_changes_through(), vec![Value::Integer(through)]).await? {
            Some(Value::Integer(n)) => usize::try_from(n).unwrap_or(0),
            _ => 0,
        };
        self.then(statements::old_rows_compact(), vec![Value::Integer(through)]);
        self.then(statements::synced_compact(), vec![Value::Integer(through)]);
        self.then(statements::delete_changes_through(), vec![Value::Integer(through)]);
        Ok(count)
    }

    async fn raise_meta_i64(&mut self, key: &str, value: i64) -> Result<(), ServerError> {
        self.then(statements::raise_meta_i64(), vec![text(key), Value::Text(value.to_string())]);
        Ok(())
    }

    async fn groups_idle_since(&mut self, before_ms: i64) -> Result<Vec<String>, ServerError> {
        strings(self.db, statements::groups_idle_since(), vec![Value::Integer(before_ms)]).await
    }

    async fn group_clients(&mut self, group: &str) -> Result<Vec<String>, ServerError> {
        strings(self.db, statements::group_clients(), vec![text(group)]).await
    }

    async fn drop_group_errors(&mut self, group: &str) -> Result<(), ServerError> {
        self.then(statements::drop_group_errors(), vec![text(group)]);
        self.then(statements::synced_forget(), vec![text(group)]);
        Ok(())
    }

    async fn delete_group_clients(&mut self, group: &str) -> Result<(), ServerError> {
        self.then(statements::delete_group_clients(), vec![text(group)]);
        Ok(())
    }

    async fn delete_group_row(&mut self, group: &str) -> Result<bool, ServerError> {
        let existed = group_owner(self.db, group).await?.is_some();
        self.then(statements::delete_group_row(), vec![text(group)]);
        Ok(existed)
    }

    async fn bury(&mut self, group: Option<&str>, clients: &[String]) -> Result<(), ServerError> {
        if let Some(group) = group {
            self.then(statements::bury(), vec![text(statements::GROUP_KIND), text(group)]);
        }
        for client in clients {
            self.then(statements::bury(), vec![text(CLIENT_KIND), text(client)]);
        }
        Ok(())
    }

    async fn append_forget_entry(&mut self, group: &str) -> Result<i64, ServerError> {
        self.then(statements::log_forget(), vec![text(group)]);
        self.appended += 1;
        Ok(self.head + self.appended)
    }

    async fn stamp_tombstones(&mut self, at: i64) -> Result<(), ServerError> {
        self.then(statements::stamp_tombstones(), vec![Value::Integer(at)]);
        Ok(())
    }
}

impl<B: BatchDb> MaintenanceStorage for BatchStorage<B> {
    type Tx<'a>
        = BatchMaintenanceTx<'a, B>
    where
        B: 'a;

    async fn begin_maintenance(&self) -> Result<BatchMaintenanceTx<'_, B>, ServerError> {
        let seen = read_version(&self.db).await?;
        Ok(BatchMaintenanceTx {
            db: &self.db,
            seen,
            head: head_seq(&self.db).await?,
            appended: 0,
            statements: Vec::new(),
        })
    }

    async fn commit_maintenance<'a>(tx: BatchMaintenanceTx<'a, B>) -> Result<(), ServerError>
    where
        Self: 'a,
    {
        commit(tx.db, tx.seen, tx.statements).await
    }
}
