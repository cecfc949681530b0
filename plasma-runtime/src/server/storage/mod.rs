//! What the server core needs from its database, so push (and, next, pull,
//! compaction and forgetting) are written once over every backend: the
//! embedded SQLite file here, Cloudflare D1 and PostgreSQL next.
//!
//! The traits are `async` without `Send` bounds, like [`Transaction`]: D1
//! answers asynchronously on a single-threaded wasm32 Worker, while SQLite
//! answers at once (its futures are ready, so the axum server drives them
//! with [`run_ready`](crate::exec::run_ready) on a blocking thread).
//!
//! A backend without interactive transactions (D1) implements [`PushTx`] by
//! buffering writes and committing them in one atomic batch guarded by an
//! optimistic version check; [`PushStorage::commit_push`] then reports a
//! conflict as [`ErrorCode::Busy`](crate::protocol::ErrorCode::Busy) and the
//! push is retried from the start, so two pushes can never interleave.

pub mod batch;
pub mod batch_schema;
pub mod batched;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteMaintenanceTx, SqlitePullTx, SqlitePushTx};

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::exec::Transaction;
use crate::protocol::MutationError;
use crate::query::tree::Expr;
use crate::value::Value;
use crate::schema::TableDef;
use crate::server::error::ServerError;
use crate::table::Row;

/// One push attempt's transaction: the mutators' reads and writes
/// ([`Transaction`]) and the bookkeeping a push reads and writes with them.
/// Everything commits together or not at all.
#[allow(async_fn_in_trait)] // deliberately not Send: D1 runs on single-threaded wasm32
pub trait PushTx: Transaction {
    /// The user owning `group`, if it exists.
    async fn group_owner(&mut self, group: &str) -> Result<Option<String>, ServerError>;

    /// Creates `group`, owned by `user_id`, first and last seen at `now_ms`.
    async fn create_group(&mut self, group: &str, user_id: &str, now_ms: i64) -> Result<(), ServerError>;

    /// Records that `group` pushed at `now_ms`.
    async fn touch_group(&mut self, group: &str, now_ms: i64) -> Result<(), ServerError>;

    /// The group and last mutation id of `client`, if it exists.
    async fn client(&mut self, client: &str) -> Result<Option<(String, u64)>, ServerError>;

    /// Whether `client` was forgotten (its pushes are refused for good).
    async fn client_forgotten(&mut self, client: &str) -> Result<bool, ServerError>;

    /// Creates `client` in `group` with last mutation id 0.
    async fn create_client(&mut self, client: &str, group: &str, now_ms: i64) -> Result<(), ServerError>;

    /// Drops the recorded errors of `client` through mutation `through`, if
    /// `client` belongs to `group`.
    async fn drop_errors_through(&mut self, group: &str, client: &str, through: u64) -> Result<(), ServerError>;

    /// Records why mutation `id` of `client` failed, at a new change-log position.
    async fn record_error(&mut self, client: &str, id: u64, message: &str) -> Result<(), ServerError>;

    /// Sets the last mutation id of `client` (and logs it for pulls).
    async fn set_lmid(&mut self, client: &str, lmid: u64, now_ms: i64) -> Result<(), ServerError>;

    /// Opens a savepoint: [`rollback_to_savepoint`](Self::rollback_to_savepoint)
    /// then undoes exactly what was written after it. Not nested.
    async fn savepoint(&mut self) -> Result<(), ServerError>;

    /// Keeps what was written since the savepoint and closes it.
    async fn release_savepoint(&mut self) -> Result<(), ServerError>;

    /// Undoes what was written since the savepoint and closes it.
    async fn rollback_to_savepoint(&mut self) -> Result<(), ServerError>;

    /// Whether this transaction changed a row of an app table so far (then
    /// every client group must pull, not only the pushing one).
    async fn changed_user_rows(&mut self) -> Result<bool, ServerError>;
}

/// A database a push runs on.
#[allow(async_fn_in_trait)]
pub trait PushStorage {
    /// A push attempt's transaction.
    type Tx<'a>: PushTx
    where
        Self: 'a;

    /// How many times a push whose attempt ends [`Busy`](crate::protocol::ErrorCode::Busy)
    /// is run again at once before the client is told to retry (a batch
    /// backend's conflicting attempts; SQLite's attempts never overlap).
    const RETRIES: usize = 0;

    /// Starts a push attempt (SQLite: `BEGIN IMMEDIATE`, so attempts never
    /// overlap).
    async fn begin_push(&self) -> Result<Self::Tx<'_>, ServerError>;

    /// Commits a push attempt: all of it, or nothing and an error (a
    /// conflicting concurrent push is [`Busy`](crate::protocol::ErrorCode::Busy): retry).
    async fn commit_push<'a>(tx: Self::Tx<'a>) -> Result<(), ServerError>
    where
        Self: 'a;
}

/// Takes one row (its id and wire JSON) of a streamed table; `Ok(false)`
/// refuses it: the page is full.
pub type TakeRow<'a> = dyn FnMut(String, Box<RawValue>) -> Result<bool, ServerError> + 'a;

/// One pull's reads, all of one consistent moment of the database (SQLite:
/// one read transaction; a backend without read transactions checks at
/// [`PullStorage::end_pull`] that the change log did not move meanwhile).
#[allow(async_fn_in_trait)]
pub trait PullTx {
    /// The user owning `group`, if it exists.
    async fn group_owner(&mut self, group: &str) -> Result<Option<String>, ServerError>;

    /// The newest change-log position ever handed out.
    async fn head_seq(&mut self) -> Result<i64, ServerError>;

    /// An integer of the meta table (0 when absent).
    async fn meta_i64(&mut self, key: &str) -> Result<i64, ServerError>;

    /// The database's identity (cookies of another database reset).
    async fn database_id(&mut self) -> Result<String, ServerError>;

    /// Where `group` was last forgotten (0 if never).
    async fn group_forgotten_at(&mut self, group: &str) -> Result<i64, ServerError>;

    /// The last mutation id of every client of `group`.
    async fn group_lmids(&mut self, group: &str) -> Result<BTreeMap<String, u64>, ServerError>;

    /// The last mutation id of `client` if it belongs to `group`.
    async fn lmid_in_group(&mut self, group: &str, client: &str) -> Result<Option<u64>, ServerError>;

    /// For each of `clients`, its last mutation id if it belongs to `group`,
    /// in the order of `clients`. Read together on a backend whose every
    /// statement is a round trip.
    async fn lmids_in_group(&mut self, group: &str, clients: &[&str]) -> Result<Vec<Option<u64>>, ServerError> {
        let mut lmids = Vec::with_capacity(clients.len());
        for client in clients {
            lmids.push(self.lmid_in_group(group, client).await?);
        }
        Ok(lmids)
    }

    /// The errors of `group`'s clients recorded at positions in `(after, through]`, oldest first.
    async fn errors_between(
        &mut self,
        group: &str,
        after: i64,
        through: i64,
    ) -> Result<Vec<MutationError>, ServerError>;

    /// Up to `fetch` change-log keys `(table, id, latest position)` changed
    /// after `since`, except recorded errors, in order of their latest position.
    async fn changed_keys(&mut self, since: i64, fetch: usize) -> Result<Vec<(String, String, i64)>, ServerError>;

    /// The row of `table` with this id.
    async fn row_by_id(&mut self, table: &'static TableDef, id: &str) -> Result<Option<Row>, ServerError>;

    /// The row of `table` for each id, in the order of `ids` (`None`: no
    /// such row). A backend whose every statement is a round trip (D1, where
    /// a Worker invocation may also run only so many) reads them together.
    async fn rows_by_ids(&mut self, table: &'static TableDef, ids: &[&str]) -> Result<Vec<Option<Row>>, ServerError> {
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            rows.push(self.row_by_id(table, id).await?);
        }
        Ok(rows)
    }

    /// Streams the rows of `table` matching `filter` after `after_id` in id
    /// order into `take` until it refuses one. Returns whether it refused
    /// (rows remain).
    async fn rows_after(
        &mut self,
        table: &'static TableDef,
        filter: Option<&Expr>,
        after_id: Option<&str>,
        take: &mut TakeRow<'_>,
    ) -> Result<bool, ServerError>;

    /// Most values one of plasma's read-scope statements may bind here
    /// ([`SCOPE_LOOKUP_PARAMS`] unless the backend binds more).
    fn lookup_params(&self) -> usize {
        SCOPE_LOOKUP_PARAMS
    }

    /// Runs one read statement plasma assembled (read scopes' lookups) and
    /// returns its rows, binding at most [`lookup_params`](Self::lookup_params) values.
    async fn query_values(&mut self, sql: &str, params: Vec<Value>) -> Result<Vec<Vec<Value>>, ServerError>;
}

/// Most values a read-scope lookup binds in one statement (D1 binds at
/// most 100): long id lists are read in windows under it.
pub const SCOPE_LOOKUP_PARAMS: usize = 90;

/// A database pulls read from.
#[allow(async_fn_in_trait)]
pub trait PullStorage {
    /// A pull's reads.
    type Tx<'a>: PullTx
    where
        Self: 'a;

    /// How many times a pull that ends [`Busy`](crate::protocol::ErrorCode::Busy)
    /// is read again at once (a backend whose reads are not one transaction).
    const RETRIES: usize = 0;

    /// Starts a pull's reads.
    async fn begin_pull(&self) -> Result<Self::Tx<'_>, ServerError>;

    /// Ends a pull's reads: an error if they were not of one moment
    /// ([`Busy`](crate::protocol::ErrorCode::Busy): the client retries).
    async fn end_pull<'a>(tx: Self::Tx<'a>) -> Result<(), ServerError>
    where
        Self: 'a;

    /// Runs `statements` (the record of what a group was sent) in one write
    /// transaction, all or none. Called on the writing connection after the
    /// pull's reads and before its response leaves.
    async fn write_synced(&self, statements: Vec<(String, Vec<Value>)>) -> Result<(), ServerError>;
}

/// One maintenance transaction (compaction, forgetting client groups): all
/// of it commits or none.
#[allow(async_fn_in_trait)]
pub trait MaintenanceTx {
    /// The newest change-log position ever handed out.
    async fn head_seq(&mut self) -> Result<i64, ServerError>;

    /// Deletes change-log entries at or below `through`; returns how many.
    async fn delete_changes_through(&mut self, through: i64) -> Result<usize, ServerError>;

    /// Raises a meta integer to at least `value`.
    async fn raise_meta_i64(&mut self, key: &str, value: i64) -> Result<(), ServerError>;

    /// The groups that have not pushed since `before_ms`.
    async fn groups_idle_since(&mut self, before_ms: i64) -> Result<Vec<String>, ServerError>;

    /// The clients of `group`.
    async fn group_clients(&mut self, group: &str) -> Result<Vec<String>, ServerError>;

    /// Drops every recorded error of the clients of `group`, and the
    /// record of rows sent to it.
    async fn drop_group_errors(&mut self, group: &str) -> Result<(), ServerError>;

    /// Deletes every client of `group`.
    async fn delete_group_clients(&mut self, group: &str) -> Result<(), ServerError>;

    /// Deletes the row of `group`; returns whether it existed.
    async fn delete_group_row(&mut self, group: &str) -> Result<bool, ServerError>;

    /// Leaves unstamped tombstones for a forgotten group and its clients.
    async fn bury(&mut self, group: Option<&str>, clients: &[String]) -> Result<(), ServerError>;

    /// Appends a `forget` entry for `group` to the change log; returns its position.
    async fn append_forget_entry(&mut self, group: &str) -> Result<i64, ServerError>;

    /// Stamps every unstamped tombstone with change-log position `at`.
    async fn stamp_tombstones(&mut self, at: i64) -> Result<(), ServerError>;
}

/// A database maintenance runs on.
#[allow(async_fn_in_trait)]
pub trait MaintenanceStorage {
    /// A maintenance transaction.
    type Tx<'a>: MaintenanceTx
    where
        Self: 'a;

    /// Starts a maintenance transaction (it writes: SQLite `BEGIN IMMEDIATE`).
    async fn begin_maintenance(&self) -> Result<Self::Tx<'_>, ServerError>;

    /// Commits it.
    async fn commit_maintenance<'a>(tx: Self::Tx<'a>) -> Result<(), ServerError>
    where
        Self: 'a;
}
