//! Executors run the query tree against a store.
//!
//! The traits are `async` and carry no `Send` bound on purpose: IndexedDB and
//! D1 on wasm32 are asynchronous and single-threaded, while SQLite and memory
//! answer at once. App code (typed builders, mutators) is generic over
//! [`Transaction`], so the same function runs on every backend.

#[cfg(all(feature = "web", target_arch = "wasm32"))]
pub mod indexeddb;
pub mod memory;
pub mod overlay;
mod rows;
#[cfg(feature = "sqlite")]
pub mod sqlite;

/// The rusqlite crate plasma's SQLite executor is built on, for direct access to its connection.
#[cfg(feature = "sqlite")]
pub use rusqlite;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::error::ExecError;
use crate::query::tree::{SelectQuery, WriteQuery};
use crate::table::Row;

/// An open transaction: reads see its own writes; dropping it without
/// [`Executor::commit`] rolls every write back.
#[allow(async_fn_in_trait)] // deliberately not Send: wasm32 stores are single-threaded
pub trait Transaction {
    /// Runs a select; rows come in the query's total order.
    async fn select(&mut self, query: &SelectQuery) -> Result<Vec<Row>, ExecError>;

    /// Validates and runs a write; returns the number of rows it changed.
    /// A failing write changes nothing (statement-level atomicity).
    async fn write(&mut self, query: WriteQuery) -> Result<u64, ExecError>;
}

/// A store that hands out transactions.
#[allow(async_fn_in_trait)]
pub trait Executor {
    /// The transaction type.
    type Tx<'a>: Transaction
    where
        Self: 'a;

    /// Opens a transaction.
    async fn begin(&self) -> Result<Self::Tx<'_>, ExecError>;

    /// Commits a transaction.
    async fn commit<'a>(tx: Self::Tx<'a>) -> Result<(), ExecError>
    where
        Self: 'a;
}

/// Drives a future that completes without waiting, as every operation of a
/// synchronous executor (SQLite, memory) does. Lets synchronous callers such as
/// a server thread or a benchmark use the async API with no runtime.
///
/// Returns `ExecError::Storage` if the future would actually wait.
pub fn run_ready<F: Future>(future: F) -> Result<F::Output, ExecError> {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Ok(out),
        Poll::Pending => {
            Err(ExecError::storage("run_ready was given a future that waits; use an async runtime for this executor"))
        }
    }
}
