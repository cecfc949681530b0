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
pub(crate) mod rows;
#[cfg(feature = "sqlite")]
pub mod sqlite;

/// The rusqlite crate plasma's SQLite executor is built on, for direct access to its connection.
#[cfg(feature = "sqlite")]
pub use rusqlite;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::error::ExecError;
use crate::query::tree::{Expr, SelectQuery, WriteQuery};
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

    /// Runs a write that the server does not hold to the writer's read
    /// scope (see `server::scoped_tx`): for the mutator that must, say,
    /// create a list's first membership. Everywhere else it is
    /// [`write`](Self::write). Reach it through the builders'
    /// `run_outside_scope`, so the exception stands out in review.
    async fn write_outside_scope(&mut self, query: WriteQuery) -> Result<u64, ExecError> {
        self.write(query).await
    }
}

/// `filter` with every inner select ([`Expr::InSelect`]) run on `tx` and
/// replaced by the `IN` list of its values, for executors that evaluate rows
/// in memory. Inner selects never nest, so the reads here hold none.
pub(crate) async fn resolve_sub_selects<T: Transaction + ?Sized>(
    tx: &mut T,
    filter: &Expr,
) -> Result<Expr, ExecError> {
    let mut subs = Vec::new();
    filter.sub_selects(&mut subs);
    let mut answers = Vec::with_capacity(subs.len());
    for sub in subs {
        // Boxed: this runs inside executors' own `select`.
        let rows = Box::pin(tx.select(&sub.query())).await?;
        answers.push(rows.into_iter().map(|row| row.get(sub.out).clone()).collect::<Vec<_>>());
    }
    let mut answers = answers.into_iter();
    filter.resolve_sub_selects(&mut |_| {
        answers.next().ok_or_else(|| ExecError::storage("inner selects changed while resolving".to_owned()))
    })
}

/// [`resolve_sub_selects`] on an optional filter, when it holds any.
pub(crate) async fn resolve_filter<T: Transaction + ?Sized>(
    tx: &mut T,
    filter: &mut Option<Expr>,
) -> Result<(), ExecError> {
    if let Some(f) = filter.as_ref().filter(|f| f.has_sub_select()) {
        *filter = Some(resolve_sub_selects(tx, f).await?);
    }
    Ok(())
}

/// [`resolve_filter`] on a write's filter (inserts have none).
pub(crate) async fn resolve_write<T: Transaction + ?Sized>(tx: &mut T, query: &mut WriteQuery) -> Result<(), ExecError> {
    match query {
        WriteQuery::Insert(_) => Ok(()),
        WriteQuery::Update(q) => resolve_filter(tx, &mut q.filter).await,
        WriteQuery::Delete(q) => resolve_filter(tx, &mut q.filter).await,
    }
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
