//! Fixtures shared by plasma's integration tests: a table with every column
//! type, and helpers to run one scenario on every executor.

#![deny(missing_docs)]

pub mod bad_input;
pub mod clients;
pub mod harness;
pub mod overlay;

use plasma::exec::run_ready;
use plasma::{ExecError, Executor, MemoryExecutor, SqliteExecutor};
/// The fixture tables live in `plasma-conformance`, shared with the browser suite.
pub use plasma_conformance::fixtures::{Kitchen, Meta, SCHEMA, Shelf, kitchen};

/// A fresh SQLite database (in memory) with the schema applied.
pub fn sqlite() -> SqliteExecutor {
    let db = SqliteExecutor::open_in_memory().expect("open in-memory SQLite");
    db.ensure_schema(&SCHEMA).expect("ensure_schema");
    db
}

/// A fresh SQLite database in a temporary file with the schema applied; the
/// file goes with the returned directory.
pub fn sqlite_file() -> (tempfile::TempDir, SqliteExecutor) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = SqliteExecutor::open(dir.path().join("kitchen.db")).expect("open SQLite file");
    db.ensure_schema(&SCHEMA).expect("ensure_schema");
    (dir, db)
}

/// A fresh in-memory executor for the schema.
pub fn memory() -> MemoryExecutor {
    MemoryExecutor::new(&SCHEMA)
}

/// Runs `body` in one transaction on `exec` and commits it if it succeeds.
pub fn in_tx<E, T>(exec: &E, body: impl AsyncFnOnce(&mut E::Tx<'_>) -> Result<T, ExecError>) -> Result<T, ExecError>
where
    E: Executor,
{
    run_ready(async {
        let mut tx = exec.begin().await?;
        let out = body(&mut tx).await?;
        E::commit(tx).await?;
        Ok(out)
    })?
}

/// The README's Rust examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
