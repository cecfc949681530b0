//! The SQLite executor (rusqlite, bundled SQLite): the server's store and the
//! native client's durable store.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, params_from_iter};

use crate::error::{ErrorSource, ExecError, SchemaError};
use crate::exec::{Executor, Transaction};
use crate::query::tree::{SelectQuery, WriteQuery};
use crate::schema::Schema;
use crate::sql::ddl::{self, COLUMNS_TABLE, META_TABLE};
use crate::sql::migrate::{self, CatalogColumn, SchemaChange};
use crate::sql::render;
use crate::table::Row;
use crate::value::Value;

/// Prepared statements kept per connection; one per query shape in use.
const STATEMENT_CACHE: usize = 256;

/// A SQLite database, on a file or in memory.
#[derive(Debug)]
pub struct SqliteExecutor {
    conn: Connection,
}

impl SqliteExecutor {
    /// Opens (creating if needed) a database file in WAL mode.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ExecError> {
        let conn = Connection::open(path).map_err(map_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(map_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(map_err)?;
        Self::configure(conn)
    }

    /// Opens a read-only connection to an existing database file, for readers
    /// beside a writer: in WAL mode they see consistent snapshots and never
    /// block it, nor it them.
    pub fn open_reader(path: impl AsRef<Path>) -> Result<Self, ExecError> {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
            | rusqlite::OpenFlags::SQLITE_OPEN_URI;
        Self::configure(Connection::open_with_flags(path, flags).map_err(map_err)?)
    }

    /// The database file, or `None` for an in-memory database.
    pub fn path(&self) -> Option<&Path> {
        self.conn.path().filter(|p| !p.is_empty()).map(Path::new)
    }

    /// A private in-memory database.
    pub fn open_in_memory() -> Result<Self, ExecError> {
        Self::configure(Connection::open_in_memory().map_err(map_err)?)
    }

    fn configure(conn: Connection) -> Result<Self, ExecError> {
        conn.busy_timeout(Duration::from_secs(5)).map_err(map_err)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteExecutor { conn })
    }

    /// Attaches (creating, on a writable connection, in WAL mode) the
    /// database file `path` as `name`; a reader's attachment is read-only
    /// like the reader. The SQLite sync server keeps its record of rows sent
    /// there, so pulls write it without waiting for pushes.
    pub fn attach(&self, path: &Path, name: &str, writable: bool) -> Result<(), ExecError> {
        let path = path.to_str().ok_or_else(|| ExecError::storage("database path is not UTF-8".to_owned()))?;
        let name = render::ident(name);
        self.conn.execute(&format!("ATTACH DATABASE ?1 AS {name}"), [path]).map_err(map_err)?;
        if writable {
            self.conn.query_row(&format!("PRAGMA {name}.journal_mode = WAL"), [], |_| Ok(())).map_err(map_err)?;
            self.conn.execute_batch(&format!("PRAGMA {name}.synchronous = NORMAL")).map_err(map_err)?;
        }
        Ok(())
    }

    /// Detaches the database attached as `name`.
    pub fn detach(&self, name: &str) -> Result<(), ExecError> {
        self.conn.execute(&format!("DETACH DATABASE {}", render::ident(name)), []).map_err(map_err)?;
        Ok(())
    }

    /// Whether a database is attached as `name`.
    fn has_attached(&self, name: &str) -> Result<bool, ExecError> {
        let mut stmt = self.conn.prepare("SELECT 1 FROM pragma_database_list WHERE name = ?1").map_err(map_err)?;
        stmt.exists([name]).map_err(map_err)
    }

    /// How long a statement waits for another connection's lock before failing
    /// with [`ExecError::Busy`] (default 5 s).
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<(), ExecError> {
        self.conn.busy_timeout(timeout).map_err(map_err)
    }

    /// The underlying connection, for plasma's server internals and tests.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Creates or additively upgrades the tables, indexes, change-log triggers
    /// and plasma's bookkeeping tables for `schema`, in one transaction.
    /// Idempotent. Refuses (changing nothing) anything that would drop or
    /// reinterpret data; see [`migrate::plan`].
    pub fn ensure_schema(&self, schema: &Schema) -> Result<Vec<SchemaChange>, ExecError> {
        let tx = self.conn.unchecked_transaction().map_err(map_err)?;
        // The record of rows sent lives in the attached side file if there is one.
        let synced = if self.has_attached(ddl::SYNCED_SCHEMA)? { ddl::SYNCED_SCHEMA } else { "main" };
        for sql in ddl::internal_tables().into_iter().chain(ddl::synced_tables(synced)) {
            tx.execute(&sql, []).map_err(map_err)?;
        }
        let stored = read_catalog(&tx)?;
        let plan = migrate::plan(schema, &stored)?;
        for sql in &plan.statements {
            tx.execute(sql, []).map_err(map_err)?;
        }
        {
            let mut upsert = tx
                .prepare_cached(&format!(
                    "INSERT OR REPLACE INTO \"{COLUMNS_TABLE}\" \
                     (\"tbl\", \"col\", \"position\", \"kind\", \"nullable\", \"pk\", \"indexed\") \
                     VALUES (?, ?, ?, ?, ?, ?, ?)"
                ))
                .map_err(map_err)?;
            for c in &plan.catalog {
                upsert
                    .execute(rusqlite::params![c.table, c.column, c.position, c.kind, c.nullable, c.pk, c.indexed])
                    .map_err(map_err)?;
            }
        }
        tx.execute(
            &format!(
                "INSERT OR REPLACE INTO \"{META_TABLE}\" (\"key\", \"value\") VALUES ('internal_schema_version', ?)"
            ),
            [ddl::INTERNAL_SCHEMA_VERSION.to_string()],
        )
        .map_err(map_err)?;
        tx.commit().map_err(map_err)?;
        Ok(plan.changes)
    }

    /// Opens a write transaction that takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so it cannot fail to upgrade halfway through.
    pub fn begin_immediate_sync(&self) -> Result<SqliteTx<'_>, ExecError> {
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Immediate)
            .map_err(map_err)?;
        Ok(SqliteTx { tx })
    }

    /// Opens a transaction synchronously (the async [`Executor::begin`] wraps this).
    pub fn begin_sync(&self) -> Result<SqliteTx<'_>, ExecError> {
        let tx = self.conn.unchecked_transaction().map_err(map_err)?;
        Ok(SqliteTx { tx })
    }
}

fn read_catalog(conn: &Connection) -> Result<Vec<CatalogColumn>, ExecError> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT \"tbl\", \"col\", \"position\", \"kind\", \"nullable\", \"pk\", \"indexed\" FROM \"{COLUMNS_TABLE}\" \
             ORDER BY \"tbl\", \"position\""
        ))
        .map_err(map_err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(CatalogColumn {
                table: r.get(0)?,
                column: r.get(1)?,
                position: r.get(2)?,
                kind: r.get(3)?,
                nullable: r.get(4)?,
                pk: r.get(5)?,
                indexed: r.get(6)?,
            })
        })
        .map_err(map_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(|e| SchemaError::CorruptMetadata(e.to_string()).into())
}

/// A transaction on a [`SqliteExecutor`]; rolls back on drop unless committed.
#[derive(Debug)]
pub struct SqliteTx<'c> {
    tx: rusqlite::Transaction<'c>,
}

impl SqliteTx<'_> {
    /// The connection inside the transaction, for plasma's bookkeeping statements.
    pub fn connection(&self) -> &Connection {
        &self.tx
    }

    /// Runs a select synchronously.
    pub fn select_sync(&self, query: &SelectQuery) -> Result<Vec<Row>, ExecError> {
        query.validate()?;
        let rendered = render::select(query);
        let width = query.table.columns.len();
        let mut stmt = self.tx.prepare_cached(&rendered.sql).map_err(map_err)?;
        let mut rows = stmt.query(params_from_iter(rendered.params.iter())).map_err(map_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(map_err)? {
            let mut cells = Vec::with_capacity(width);
            for i in 0..width {
                cells.push(value_from_ref(row.get_ref(i).map_err(map_err)?));
            }
            out.push(Row(cells));
        }
        Ok(out)
    }

    /// Validates and runs a write synchronously.
    pub fn write_sync(&self, mut query: WriteQuery) -> Result<u64, ExecError> {
        query.validate()?;
        let rendered = render::write(&query);
        let mut stmt = self.tx.prepare_cached(&rendered.sql).map_err(map_err)?;
        let n = stmt.execute(params_from_iter(rendered.params.iter())).map_err(map_err)?;
        Ok(n as u64)
    }

    /// Commits synchronously.
    pub fn commit_sync(self) -> Result<(), ExecError> {
        self.tx.commit().map_err(map_err)
    }
}

impl Transaction for SqliteTx<'_> {
    async fn select(&mut self, query: &SelectQuery) -> Result<Vec<Row>, ExecError> {
        self.select_sync(query)
    }

    async fn write(&mut self, query: WriteQuery) -> Result<u64, ExecError> {
        self.write_sync(query)
    }
}

impl Executor for SqliteExecutor {
    type Tx<'a> = SqliteTx<'a>;

    async fn begin(&self) -> Result<SqliteTx<'_>, ExecError> {
        self.begin_sync()
    }

    async fn commit<'a>(tx: SqliteTx<'a>) -> Result<(), ExecError>
    where
        Self: 'a,
    {
        tx.commit_sync()
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// Converts a SQLite cell; invalid UTF-8 in text is replaced, never a panic.
pub fn value_from_ref(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// Maps rusqlite errors onto the executor's error kinds.
pub fn map_err(e: rusqlite::Error) -> ExecError {
    let message = e.to_string();
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    };
    let source = Some(ErrorSource::new(e));
    match code {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => ExecError::Busy { message, source },
        Some(ErrorCode::ConstraintViolation) => ExecError::Constraint { message, source },
        _ => ExecError::Storage { message, source },
    }
}
