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

/// The table a push's blind-insert checks write to, and the name of its
/// constraint: a failure means an id assumed new exists (run the push again
/// with lookups), not a write conflict.
pub const ASSUMED_NEW_TABLE: &str = "_plasma_assumed_new";
/// See [`ASSUMED_NEW_TABLE`].
pub const ASSUMED_NEW_CONSTRAINT: &str = "plasma_assumed_new";

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

/// What one statement may bind, say and return on a batch database. The
/// batch backend keeps every statement it builds within these: it splits
/// long `IN` lists, bounds how many bytes a table read returns, looks rows up
/// a page at a time, and refuses (as the mutation's error) a row the
/// database could not store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most bound parameters in one statement.
    pub max_params: usize,
    /// Longest SQL text of one statement, in bytes.
    pub max_sql_bytes: usize,
    /// Largest string, blob or row stored, in bytes.
    pub max_value_bytes: usize,
    /// Largest result of one statement, in bytes.
    pub max_result_bytes: usize,
    /// Largest integer (in magnitude) bound exactly: D1 binds JS numbers.
    pub max_exact_integer: u64,
}

impl BatchLimits {
    /// Cloudflare D1's (developers.cloudflare.com/d1/platform/limits).
    pub const D1: BatchLimits = BatchLimits {
        max_params: 100,
        max_sql_bytes: 100_000,
        max_value_bytes: 2_000_000,
        max_result_bytes: 50_000_000,
        max_exact_integer: (1 << 53) - 1,
    };

    /// No limits beyond SQLite's own.
    pub const NONE: BatchLimits = BatchLimits {
        max_params: 32_766,
        max_sql_bytes: 1_000_000_000,
        max_value_bytes: 1_000_000_000,
        max_result_bytes: usize::MAX,
        max_exact_integer: u64::MAX,
    };
}

/// The bytes a value takes in a result or a row (as D1 counts them, about).
pub fn value_bytes(value: &Value) -> usize {
    match value {
        Value::Null => 1,
        Value::Integer(_) | Value::Real(_) => 8,
        Value::Text(s) => s.len(),
        Value::Blob(b) => b.len(),
    }
}

/// A database of single statements and atomic batches.
#[allow(async_fn_in_trait)] // deliberately not Send: D1 runs on single-threaded wasm32
pub trait BatchDb {
    /// What one statement may bind, say and return (none by default).
    fn limits(&self) -> BatchLimits {
        BatchLimits::NONE
    }

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
            format!(
                "CREATE TABLE IF NOT EXISTS \"{ASSUMED_NEW_TABLE}\" (\"ok\" INTEGER NOT NULL \
                 CONSTRAINT {ASSUMED_NEW_CONSTRAINT} CHECK (\"ok\" = 1))"
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
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rusqlite::Connection;

    use super::{BatchDb, BatchLimits, DbError, Statement, value_bytes};
    use crate::exec::sqlite::value_from_ref;
    use crate::value::Value;

    /// A SQLite connection used as D1 is: with D1's limits (optionally)
    /// enforced as D1 enforces them, by failing the statement.
    pub struct SqliteBatchDb {
        conn: Mutex<Connection>,
        limits: BatchLimits,
        statements: AtomicUsize,
        round_trips: AtomicUsize,
    }

    impl SqliteBatchDb {
        /// Wraps an open connection, without limits.
        pub fn new(conn: Connection) -> Self {
            Self::with_limits(conn, BatchLimits::NONE)
        }

        /// Wraps an open connection; statements past `limits` fail.
        pub fn with_limits(conn: Connection, limits: BatchLimits) -> Self {
            SqliteBatchDb {
                conn: Mutex::new(conn),
                limits,
                statements: AtomicUsize::new(0),
                round_trips: AtomicUsize::new(0),
            }
        }

        /// How many calls reached the database (a query or a whole batch
        /// each): what a remote database's latency is paid on.
        pub fn round_trips(&self) -> usize {
            self.round_trips.load(Ordering::Relaxed)
        }

        /// How many statements ran so far (batches count each of theirs):
        /// what a Worker invocation's query budget is spent on.
        pub fn statements_run(&self) -> usize {
            self.statements.load(Ordering::Relaxed)
        }

        /// Refuses a statement D1 would refuse.
        fn check(&self, statement: &Statement) -> Result<(), DbError> {
            let limits = &self.limits;
            let refuse = |message: String| Err(DbError { message, transient: false });
            if statement.params.len() > limits.max_params {
                return refuse(format!(
                    "too many SQL variables: {} bound, at most {}",
                    statement.params.len(),
                    limits.max_params
                ));
            }
            if statement.sql.len() > limits.max_sql_bytes {
                return refuse(format!(
                    "statement too long: {} bytes, at most {}",
                    statement.sql.len(),
                    limits.max_sql_bytes
                ));
            }
            if let Some(Value::Integer(i)) = statement
                .params
                .iter()
                .find(|v| matches!(v, Value::Integer(i) if i.unsigned_abs() > limits.max_exact_integer))
            {
                return refuse(format!("integer {i} is beyond what this database binds exactly"));
            }
            if let Some(big) = statement.params.iter().map(value_bytes).find(|n| *n > limits.max_value_bytes) {
                return refuse(format!("string or blob too big: {big} bytes, at most {}", limits.max_value_bytes));
            }
            self.statements.fetch_add(1, Ordering::Relaxed);
            Ok(())
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
        fn limits(&self) -> BatchLimits {
            self.limits
        }

        async fn query(&self, statement: &Statement) -> Result<Vec<Vec<Value>>, DbError> {
            self.round_trips.fetch_add(1, Ordering::Relaxed);
            self.check(statement)?;
            let rows = run(&self.conn(), statement)?;
            let bytes: usize = rows.iter().flatten().map(value_bytes).sum();
            if bytes > self.limits.max_result_bytes {
                return Err(DbError {
                    message: format!("result too large: {bytes} bytes, at most {}", self.limits.max_result_bytes),
                    transient: false,
                });
            }
            Ok(rows)
        }

        async fn batch(&self, statements: &[Statement]) -> Result<(), DbError> {
            self.round_trips.fetch_add(1, Ordering::Relaxed);
            for statement in statements {
                self.check(statement)?;
            }
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
