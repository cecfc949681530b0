//! Databases without interactive transactions (Cloudflare D1): single
//! statements, and *batches* that run a list of statements in one
//! transaction, all or nothing. [`BatchDb`] is that interface; the guarded
//! commit below is how a push attempt that read as it went still commits
//! atomically and serializably on it (see ARCHITECTURE.md, "Server backends
//! without interactive transactions").
//!
//! The guard: every commit bumps one version row, but only if it still holds
//! the value the attempt saw before its first read; a statement inserting
//! `changes()` into a table whose `CHECK` demands 1 fails the whole batch
//! otherwise. So a batch commits only if no other guarded commit landed since
//! the attempt began reading: first committer wins, the loser retries.

use crate::server::error::ServerError;
use crate::sql::ddl::META_TABLE;
use crate::value::Value;

/// The guard's table: a row may only ever say `ok = 1`.
pub const GUARD_TABLE: &str = "_plasma_guard";

/// The name of the guard's constraint: its failure is a conflict, not an error.
pub const CONFLICT_CONSTRAINT: &str = "plasma_write_conflict";

/// The meta key of the write version every guarded commit bumps.
pub const WRITE_VERSION: &str = "write_version";

/// One SQL statement and its bound values.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The SQL, with `?` placeholders.
    pub sql: String,
    /// One value per placeholder.
    pub params: Vec<Value>,
}

impl Statement {
    /// A statement binding `params`.
    pub fn new(sql: impl Into<String>, params: Vec<Value>) -> Self {
        Statement { sql: sql.into(), params }
    }
}

/// A failure the database reported, with its own message (kept here, and
/// logged, but never sent to clients: [`ServerError`] says `internal`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct DbError {
    /// The database's message.
    pub message: String,
    /// Whether trying again later may succeed (busy, overloaded).
    pub transient: bool,
}

impl From<DbError> for ServerError {
    fn from(e: DbError) -> Self {
        if e.transient {
            return ServerError::new(crate::protocol::ErrorCode::Busy, format!("database busy: {e}"));
        }
        tracing::error!(error = %e, "storage failure");
        ServerError::new(crate::protocol::ErrorCode::Internal, "internal storage error")
    }
}

/// A database of single statements and atomic batches.
#[allow(async_fn_in_trait)] // deliberately not Send: D1 runs on single-threaded wasm32
pub trait BatchDb {
    /// Runs one statement on its own (autocommit) and returns its rows.
    async fn query(&self, statement: &Statement) -> Result<Vec<Vec<Value>>, DbError>;

    /// Runs `statements` in one transaction: all of them, or none and the
    /// first failure.
    async fn batch(&self, statements: &[Statement]) -> Result<(), DbError>;
}

/// Why a guarded commit did not commit.
#[derive(Debug)]
pub enum CommitError {
    /// Another commit landed since the attempt read the version: nothing
    /// was written; run the attempt again from the start.
    Conflict,
    /// The batch failed for another reason; nothing was written.
    Failed(DbError),
}

/// Statements creating the guard's table and version row (idempotent).
pub fn guard_tables() -> Vec<Statement> {
    vec![
        Statement::new(
            format!(
                "CREATE TABLE IF NOT EXISTS \"{GUARD_TABLE}\" (\"ok\" INTEGER NOT NULL \
                 CONSTRAINT {CONFLICT_CONSTRAINT} CHECK (\"ok\" = 1))"
            ),
            Vec::new(),
        ),
        Statement::new(
            format!("INSERT OR IGNORE INTO \"{META_TABLE}\" (\"key\", \"value\") VALUES (?, '0')"),
            vec![Value::Text(WRITE_VERSION.to_owned())],
        ),
    ]
}

/// The current write version: read before an attempt's first read.
pub async fn read_version(db: &impl BatchDb) -> Result<i64, ServerError> {
    let rows = db
        .query(&Statement::new(
            format!("SELECT CAST(\"value\" AS INTEGER) FROM \"{META_TABLE}\" WHERE \"key\" = ?"),
            vec![Value::Text(WRITE_VERSION.to_owned())],
        ))
        .await
        .map_err(ServerError::from)?;
    match rows.first().and_then(|r| r.first()) {
        Some(Value::Integer(v)) => Ok(*v),
        _ => Err(ServerError::new(
            crate::protocol::ErrorCode::Internal,
            "the write version is missing: run ensure_schema on this database",
        )),
    }
}

/// `body` preceded by the guard for version `seen`.
pub fn guarded(seen: i64, body: Vec<Statement>) -> Vec<Statement> {
    let mut statements = Vec::with_capacity(body.len() + 3);
    statements.push(Statement::new(
        format!(
            "UPDATE \"{META_TABLE}\" SET \"value\" = CAST(CAST(\"value\" AS INTEGER) + 1 AS TEXT) \
             WHERE \"key\" = ? AND CAST(\"value\" AS INTEGER) = ?"
        ),
        vec![Value::Text(WRITE_VERSION.to_owned()), Value::Integer(seen)],
    ));
    // `changes()` is the row count of the update just before, on this connection.
    statements.push(Statement::new(format!("INSERT INTO \"{GUARD_TABLE}\" (\"ok\") VALUES (changes())"), Vec::new()));
    statements.push(Statement::new(format!("DELETE FROM \"{GUARD_TABLE}\""), Vec::new()));
    statements.extend(body);
    statements
}

/// Commits `body` if the write version is still `seen`.
pub async fn commit_guarded(db: &impl BatchDb, seen: i64, body: Vec<Statement>) -> Result<(), CommitError> {
    match db.batch(&guarded(seen, body)).await {
        Ok(()) => Ok(()),
        Err(e) if e.message.contains(CONFLICT_CONSTRAINT) => Err(CommitError::Conflict),
        Err(e) => Err(CommitError::Failed(e)),
    }
}

#[cfg(feature = "sqlite")]
pub use model::SqliteBatchDb;

#[cfg(feature = "sqlite")]
mod model {
    //! [`BatchDb`] over a SQLite connection with D1's rules: every statement
    //! autocommits, a batch is one transaction. Lets the batch backend's
    //! logic (and its concurrency) be tested natively, beside the real D1
    //! under `wrangler dev`.

    use std::sync::Mutex;

    use rusqlite::Connection;

    use super::{BatchDb, DbError, Statement};
    use crate::exec::sqlite::value_from_ref;
    use crate::value::Value;

    /// A SQLite connection used as D1 is.
    pub struct SqliteBatchDb {
        conn: Mutex<Connection>,
    }

    impl SqliteBatchDb {
        /// Wraps an open connection.
        pub fn new(conn: Connection) -> Self {
            SqliteBatchDb { conn: Mutex::new(conn) }
        }

        fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
            // A panic mid-batch rolled its transaction back while unwinding.
            self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
        }
    }

    fn db_error(e: rusqlite::Error) -> DbError {
        let transient = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        DbError { message: e.to_string(), transient }
    }

    fn run(conn: &Connection, statement: &Statement) -> Result<Vec<Vec<Value>>, DbError> {
        run_raw(conn, statement).map_err(db_error)
    }

    fn run_raw(conn: &Connection, statement: &Statement) -> rusqlite::Result<Vec<Vec<Value>>> {
        let mut stmt = conn.prepare_cached(&statement.sql)?;
        let width = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(statement.params.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push((0..width).map(|i| row.get_ref(i).map(value_from_ref)).collect::<Result<_, _>>()?);
        }
        Ok(out)
    }

    impl BatchDb for SqliteBatchDb {
        async fn query(&self, statement: &Statement) -> Result<Vec<Vec<Value>>, DbError> {
            run(&self.conn(), statement)
        }

        async fn batch(&self, statements: &[Statement]) -> Result<(), DbError> {
            let mut conn = self.conn();
            let tx = conn.transaction().map_err(db_error)?;
            for statement in statements {
                run(&tx, statement)?;
            }
            tx.commit().map_err(db_error)
        }
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;
    use crate::exec::run_ready;

    fn db() -> SqliteBatchDb {
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        for sql in crate::sql::ddl::internal_tables() {
            conn.execute_batch(&sql).expect("ddl");
        }
        conn.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL)").expect("table");
        let db = SqliteBatchDb::new(conn);
        for statement in guard_tables() {
            run_ready(db.batch(&[statement])).expect("ready").expect("guard ddl");
        }
        db
    }

    fn ready<T>(f: impl std::future::Future<Output = T>) -> T {
        run_ready(f).expect("SQLite never waits")
    }

    fn count(db: &SqliteBatchDb) -> i64 {
        let rows = ready(db.query(&Statement::new("SELECT n FROM t WHERE id = 'x'", Vec::new()))).expect("read");
        match rows.first().and_then(|r| r.first()) {
            Some(Value::Integer(n)) => *n,
            _ => 0,
        }
    }

    /// The lost update a batch backend must never allow: two attempts read
    /// the same counter, both add one. With the guard the second conflicts,
    /// reads again and the counter ends at 2.
    #[test]
    fn of_two_attempts_that_read_the_same_state_only_the_first_commits() {
        let db = db();
        ready(db.batch(&[Statement::new("INSERT INTO t VALUES ('x', 0)", Vec::new())])).expect("seed");
        let write = |n: i64| vec![Statement::new("UPDATE t SET n = ? WHERE id = 'x'", vec![Value::Integer(n)])];

        // Both attempts read before either commits.
        let (seen_a, read_a) = (ready(read_version(&db)).expect("version"), count(&db));
        let (seen_b, read_b) = (ready(read_version(&db)).expect("version"), count(&db));
        assert!(ready(commit_guarded(&db, seen_a, write(read_a + 1))).is_ok(), "the first commits");
        let second = ready(commit_guarded(&db, seen_b, write(read_b + 1)));
        assert!(matches!(second, Err(CommitError::Conflict)), "the second conflicts: {second:?}");
        assert_eq!(count(&db), 1, "the conflicting batch wrote nothing");

        // Retried from the start, it sees the first one's result.
        let (seen, read) = (ready(read_version(&db)).expect("version"), count(&db));
        ready(commit_guarded(&db, seen, write(read + 1))).expect("the retry commits");
        assert_eq!(count(&db), 2, "no update was lost");
        assert_eq!(ready(read_version(&db)).expect("version"), seen_a + 2, "one bump per commit");
    }

    #[test]
    fn a_failing_statement_fails_the_batch_without_a_conflict_and_writes_nothing() {
        let db = db();
        let seen = ready(read_version(&db)).expect("version");
        let body = vec![
            Statement::new("INSERT INTO t VALUES ('y', 1)", Vec::new()),
            Statement::new("INSERT INTO t VALUES ('y', 2)", Vec::new()), // duplicate key
        ];
        let failed = ready(commit_guarded(&db, seen, body));
        assert!(matches!(failed, Err(CommitError::Failed(_))), "{failed:?}");
        let rows = ready(db.query(&Statement::new("SELECT count(*) FROM t", Vec::new()))).expect("read");
        assert_eq!(rows, vec![vec![Value::Integer(0)]]);
        assert_eq!(ready(read_version(&db)).expect("version"), seen, "the version did not move");
    }
}
