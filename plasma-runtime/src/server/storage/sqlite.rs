//! [`PushStorage`] and [`PullStorage`] on the embedded SQLite database: one
//! `BEGIN IMMEDIATE` transaction per push attempt and one read transaction
//! per pull, bookkeeping through [`bookkeeping`]'s statements, savepoints as
//! SQL savepoints.

use std::collections::BTreeMap;

use crate::error::ExecError;
use crate::exec::Transaction;
use crate::exec::sqlite::{SqliteExecutor, SqliteTx, value_from_ref};
use crate::protocol::{ErrorCode, MutationError};
use crate::query::tree::{Expr, SelectQuery, WriteQuery};
use crate::schema::TableDef;
use crate::server::error::ServerError;
use crate::server::storage::{MaintenanceStorage, MaintenanceTx, PullStorage, PullTx, PushStorage, PushTx, TakeRow};
use crate::server::{bookkeeping, statements};
use crate::sql::ddl::CHANGES_TABLE;
use crate::table::Row;
use crate::value::Value;
use crate::wire::row_to_json_text;

/// A push attempt on SQLite.
pub struct SqlitePushTx<'c> {
    tx: SqliteTx<'c>,
    /// The change-log head when the attempt began: rows logged after it are this attempt's.
    seq_before: i64,
}

impl SqlitePushTx<'_> {
    fn exec(&self, sql: &str) -> Result<(), ServerError> {
        self.tx.connection().prepare_cached(sql)?.execute([])?;
        Ok(())
    }
}

impl Transaction for SqlitePushTx<'_> {
    async fn select(&mut self, query: &SelectQuery) -> Result<Vec<Row>, ExecError> {
        self.tx.select(query).await
    }

    async fn write(&mut self, query: WriteQuery) -> Result<u64, ExecError> {
        self.tx.write(query).await
    }
}

impl PushTx for SqlitePushTx<'_> {
    async fn group_owner(&mut self, group: &str) -> Result<Option<String>, ServerError> {
        bookkeeping::group_owner(self.tx.connection(), group)
    }

    async fn create_group(&mut self, group: &str, user_id: &str, now_ms: i64) -> Result<(), ServerError> {
        bookkeeping::create_group(&self.tx, group, user_id, now_ms)
    }

    async fn touch_group(&mut self, group: &str, now_ms: i64) -> Result<(), ServerError> {
        bookkeeping::touch_group(&self.tx, group, now_ms)
    }

    async fn client(&mut self, client: &str) -> Result<Option<(String, u64)>, ServerError> {
        bookkeeping::client(&self.tx, client)
    }

    async fn client_forgotten(&mut self, client: &str) -> Result<bool, ServerError> {
        bookkeeping::client_forgotten(&self.tx, client)
    }

    async fn create_client(&mut self, client: &str, group: &str, now_ms: i64) -> Result<(), ServerError> {
        bookkeeping::create_client(&self.tx, client, group, now_ms)
    }

    async fn drop_errors_through(&mut self, group: &str, client: &str, through: u64) -> Result<(), ServerError> {
        bookkeeping::drop_errors_through(&self.tx, group, client, through)
    }

    async fn record_error(&mut self, client: &str, id: u64, message: &str) -> Result<(), ServerError> {
        bookkeeping::record_error(&self.tx, client, id, message)
    }

    async fn set_lmid(&mut self, client: &str, lmid: u64, now_ms: i64) -> Result<(), ServerError> {
        bookkeeping::set_lmid(&self.tx, client, lmid, now_ms)
    }

    async fn savepoint(&mut self) -> Result<(), ServerError> {
        self.exec("SAVEPOINT plasma_mutation")
    }

    async fn release_savepoint(&mut self) -> Result<(), ServerError> {
        self.exec("RELEASE plasma_mutation")
    }

    async fn rollback_to_savepoint(&mut self) -> Result<(), ServerError> {
        self.exec("ROLLBACK TO plasma_mutation")?;
        self.exec("RELEASE plasma_mutation")
    }

    async fn changed_user_rows(&mut self) -> Result<bool, ServerError> {
        if bookkeeping::head_seq(&self.tx)? <= self.seq_before {
            return Ok(false);
        }
        Ok(self
            .tx
            .connection()
            .prepare_cached(&format!(
                "SELECT EXISTS (SELECT 1 FROM \"{CHANGES_TABLE}\" WHERE \"seq\" > ? AND \"tbl\" NOT LIKE '\\_plasma%' ESCAPE '\\')"
            ))?
            .query_row([self.seq_before], |r| r.get(0))?)
    }
}

impl PushStorage for SqliteExecutor {
    type Tx<'a> = SqlitePushTx<'a>;

    async fn begin_push(&self) -> Result<SqlitePushTx<'_>, ServerError> {
        let tx = self.begin_immediate_sync()?;
        let seq_before = bookkeeping::head_seq(&tx)?;
        Ok(SqlitePushTx { tx, seq_before })
    }

    async fn commit_push<'a>(tx: SqlitePushTx<'a>) -> Result<(), ServerError>
    where
        Self: 'a,
    {
        tx.tx.commit_sync()?;
        Ok(())
    }
}

/// Values one read-scope statement binds on SQLite (its limit is 32,766):
/// few statements, each still a modest size.
const SQLITE_LOOKUP_PARAMS: usize = 4_000;

/// A pull's read transaction on SQLite.
pub struct SqlitePullTx<'c> {
    tx: SqliteTx<'c>,
}

impl PullTx for SqlitePullTx<'_> {
    async fn group_owner(&mut self, group: &str) -> Result<Option<String>, ServerError> {
        bookkeeping::group_owner(self.tx.connection(), group)
    }

    async fn head_seq(&mut self) -> Result<i64, ServerError> {
        bookkeeping::head_seq(&self.tx)
    }

    async fn meta_i64(&mut self, key: &str) -> Result<i64, ServerError> {
        bookkeeping::meta_i64(&self.tx, key)
    }

    async fn database_id(&mut self) -> Result<String, ServerError> {
        bookkeeping::database_id(&self.tx)
    }

    async fn group_forgotten_at(&mut self, group: &str) -> Result<i64, ServerError> {
        bookkeeping::group_forgotten_at(&self.tx, group)
    }

    async fn group_lmids(&mut self, group: &str) -> Result<BTreeMap<String, u64>, ServerError> {
        bookkeeping::group_lmids(&self.tx, group)
    }

    async fn lmid_in_group(&mut self, group: &str, client: &str) -> Result<Option<u64>, ServerError> {
        bookkeeping::lmid_in_group(&self.tx, group, client)
    }

    async fn errors_between(
        &mut self,
        group: &str,
        after: i64,
        through: i64,
    ) -> Result<Vec<MutationError>, ServerError> {
        bookkeeping::errors_between(&self.tx, group, after, through)
    }

    async fn changed_keys(&mut self, since: i64, fetch: usize) -> Result<Vec<(String, String, i64)>, ServerError> {
        let mut stmt = self.tx.connection().prepare_cached(&statements::changed_keys())?;
        let fetch = i64::try_from(fetch).unwrap_or(i64::MAX);
        Ok(stmt
            .query_map(rusqlite::params![since, fetch], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?)
    }

    async fn row_by_id(&mut self, table: &'static TableDef, id: &str) -> Result<Option<Row>, ServerError> {
        Ok(self.tx.select_sync(&SelectQuery::by_id(table, id))?.pop())
    }

    async fn rows_after(
        &mut self,
        table: &'static TableDef,
        filter: Option<&Expr>,
        after_id: Option<&str>,
        take: &mut TakeRow<'_>,
    ) -> Result<bool, ServerError> {
        let width = table.columns.len();
        let pk_index = table.columns.iter().position(|c| c.name == table.pk().name).unwrap_or(0);
        let (sql, mut params) = statements::rows_after(table, filter);
        params.push(after_id.map_or(Value::Null, |id| Value::Text(id.to_owned())));
        params.push(Value::Integer(-1));
        let mut stmt = self.tx.connection().prepare_cached(&sql)?;
        // Read one at a time from the cursor: a page never holds more than its budget plus one row.
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(width);
            for i in 0..width {
                cells.push(value_from_ref(row.get_ref(i)?));
            }
            let row = Row(cells);
            let id = match row.0.get(pk_index) {
                Some(Value::Text(id)) => id.clone(),
                other => {
                    return Err(ServerError::new(
                        ErrorCode::Internal,
                        format!("table `{}` holds a row whose id is not text: {other:?}", table.name),
                    ));
                }
            };
            if !take(id, row_to_json_text(table, &row)?)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn lookup_params(&self) -> usize {
        SQLITE_LOOKUP_PARAMS
    }

    async fn query_values(&mut self, sql: &str, params: Vec<Value>) -> Result<Vec<Vec<Value>>, ServerError> {
        let mut stmt = self.tx.connection().prepare_cached(sql)?;
        let width = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(width);
            for i in 0..width {
                cells.push(value_from_ref(row.get_ref(i)?));
            }
            out.push(cells);
        }
        Ok(out)
    }
}

impl PullStorage for SqliteExecutor {
    type Tx<'a> = SqlitePullTx<'a>;

    async fn write_synced(&self, statements: Vec<(String, Vec<Value>)>) -> Result<(), ServerError> {
        // Deferred: it locks only the database it writes, the side file
        // when the server attached one (an immediate begin would lock all).
        let tx = self.begin_sync()?;
        for (sql, params) in &statements {
            tx.connection().prepare_cached(sql)?.execute(rusqlite::params_from_iter(params.iter()))?;
        }
        tx.commit_sync()?;
        Ok(())
    }

    async fn begin_pull(&self) -> Result<SqlitePullTx<'_>, ServerError> {
        Ok(SqlitePullTx { tx: self.begin_sync()? })
    }

    async fn end_pull<'a>(tx: SqlitePullTx<'a>) -> Result<(), ServerError>
    where
        Self: 'a,
    {
        // Read-only: nothing to commit; dropping ends the read transaction.
        drop(tx);
        Ok(())
    }
}

/// A maintenance transaction on SQLite.
pub struct SqliteMaintenanceTx<'c> {
    tx: SqliteTx<'c>,
}

impl MaintenanceTx for SqliteMaintenanceTx<'_> {
    async fn head_seq(&mut self) -> Result<i64, ServerError> {
        bookkeeping::head_seq(&self.tx)
    }

    async fn delete_changes_through(&mut self, through: i64) -> Result<usize, ServerError> {
        bookkeeping::delete_changes_through(&self.tx, through)
    }

    async fn raise_meta_i64(&mut self, key: &str, value: i64) -> Result<(), ServerError> {
        bookkeeping::raise_meta_i64(&self.tx, key, value)
    }

    async fn groups_idle_since(&mut self, before_ms: i64) -> Result<Vec<String>, ServerError> {
        bookkeeping::groups_idle_since(&self.tx, before_ms)
    }

    async fn group_clients(&mut self, group: &str) -> Result<Vec<String>, ServerError> {
        bookkeeping::group_clients(&self.tx, group)
    }

    async fn drop_group_errors(&mut self, group: &str) -> Result<(), ServerError> {
        bookkeeping::drop_group_errors(&self.tx, group)
    }

    async fn delete_group_clients(&mut self, group: &str) -> Result<(), ServerError> {
        bookkeeping::delete_group_clients(&self.tx, group)
    }

    async fn delete_group_row(&mut self, group: &str) -> Result<bool, ServerError> {
        bookkeeping::delete_group_row(&self.tx, group)
    }

    async fn bury(&mut self, group: Option<&str>, clients: &[String]) -> Result<(), ServerError> {
        bookkeeping::bury(&self.tx, group, clients)
    }

    async fn append_forget_entry(&mut self, group: &str) -> Result<i64, ServerError> {
        bookkeeping::append_forget_entry(&self.tx, group)
    }

    async fn stamp_tombstones(&mut self, at: i64) -> Result<(), ServerError> {
        bookkeeping::stamp_tombstones(&self.tx, at)
    }
}

impl MaintenanceStorage for SqliteExecutor {
    type Tx<'a> = SqliteMaintenanceTx<'a>;

    async fn begin_maintenance(&self) -> Result<SqliteMaintenanceTx<'_>, ServerError> {
        Ok(SqliteMaintenanceTx { tx: self.begin_immediate_sync()? })
    }

    async fn commit_maintenance<'a>(tx: SqliteMaintenanceTx<'a>) -> Result<(), ServerError>
    where
        Self: 'a,
    {
        tx.tx.commit_sync()?;
        Ok(())
    }
}
