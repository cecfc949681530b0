//! Where a client keeps what must survive a restart: its identity and
//! counters, the pending queue, and the server snapshot.
//!
//! Writes are *issued* synchronously, in call order, and become durable by the
//! time [`Store::flush`] completes. SQLite and memory finish the write inside
//! the call; IndexedDB queues it in a transaction. The client flushes before
//! every push, so the server never holds a mutation the client could forget
//! (which would let the client reuse its id for another mutation).

use crate::client::platform::{BoxFuture, MaybeSend};
use crate::client::tabs::TabChannel;
use crate::error::ErrorSource;
use crate::protocol::{Cookie, MutationRecord};
use crate::schema::{Schema, TableDef};
use crate::table::Row;

#[cfg(all(feature = "web", target_arch = "wasm32"))]
mod indexeddb;
mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(all(feature = "web", target_arch = "wasm32"))]
pub use indexeddb::{IdbError, IndexedDbStore};
pub use memory::MemoryStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// Everything a client persisted.
#[derive(Debug, Clone)]
pub struct Persisted {
    /// The client group the store belongs to.
    pub client_group_id: String,
    /// The app schema version the rows were written with.
    pub schema_version: String,
    /// Identity, counters, cookie.
    pub meta: ClientMeta,
    /// The server snapshot (confirmed rows, without pending effects).
    pub rows: Vec<(&'static TableDef, Row)>,
    /// Mutations not yet confirmed, oldest first.
    pub pending: Vec<MutationRecord>,
}

/// What a pull changed, to persist in one atomic write.
#[derive(Debug)]
pub struct PullCommit<'a> {
    /// The app schema (a `Change::Clear` empties all of its tables).
    pub schema: &'static Schema,
    /// New meta (cookie, last mutation id, possibly a new client id after a reset).
    pub meta: &'a ClientMeta,
    /// The last mutation ids the pull reported for every client of the group
    /// (this one's is also in `meta`). A store shared by several clients (the
    /// tabs of a browser) drops their confirmed mutations too.
    pub last_mutation_ids: &'a std::collections::BTreeMap<String, u64>,
    /// Snapshot changes, page by page, in order. Pending mutations of another
    /// client id than `meta.client_id` (a reset) or with id up to
    /// `meta.last_mutation_id` are gone.
    pub changes: &'a [PageChanges],
    /// The pull is a reset whose changes (everything from its first `Clear`)
    /// were all given to [`Store::stage`] after [`Store::begin_stage`]
    /// returned `true`: the commit puts the staged tables in place of the
    /// snapshot instead of writing `changes`.
    pub staged: bool,
}

/// A local store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage engine reported an error.
    #[error("local store I/O: {message}")]
    Io {
        /// What failed.
        message: String,
        /// The storage engine's error (SQLite's, IndexedDB's), if one reported it.
        #[source]
        source: Option<ErrorSource>,
    },
    /// Stored data does not decode.
    #[error("local store holds data this build cannot read: {message}")]
    Corrupt {
        /// What does not decode.
        message: String,
        /// The decoder's error, if one reported it.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The store was written by another schema version or client group and
    /// still holds mutations that were never pushed; nothing was deleted.
    #[error(
        "the local store belongs to client group `{stored_group}` at schema `{stored_version}` and holds {pending} unpushed mutations; open it with that version, or delete it to discard them"
    )]
    Incompatible {
        /// Group the store belongs to.
        stored_group: String,
        /// Schema version it was written with.
        stored_version: String,
        /// Mutations it still holds.
        pending: usize,
    },
}

impl StoreError {
    /// An I/O failure found by plasma itself (no underlying error).
    pub fn io(message: impl Into<String>) -> Self {
        StoreError::Io { message: message.into(), source: None }
    }

    /// An I/O failure reported by the storage engine: `error` is kept as the source.
    pub fn io_from(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Io { message: error.to_string(), source: Some(ErrorSource::new(error)) }
    }

    /// Undecodable data reported by a decoder: `error` is kept as the source.
    pub fn corrupt_from(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Corrupt { message: error.to_string(), source: Some(ErrorSource::new(error)) }
    }
}

/// Durable storage for one client.
pub trait Store: MaybeSend + 'static {
    /// Loads the persisted state for `client_group_id` at `schema_version`.
    /// `None` for a fresh store, or for one written by another group or version
    /// that had nothing left to push (it is wiped; the client re-syncs).
    fn load(
        &self,
        schema: &'static Schema,
        client_group_id: &str,
        schema_version: &str,
    ) -> BoxFuture<'_, Result<Option<Persisted>, StoreError>>;

    /// Records a new client's identity (before anything else is written).
    fn init(&self, client_group_id: &str, schema_version: &str, meta: &ClientMeta) -> Result<(), StoreError>;

    /// Appends a pending mutation and the meta that counts it.
    fn append_pending(&self, meta: &ClientMeta, record: &MutationRecord) -> Result<(), StoreError>;

    /// Replaces a pending mutation's record (same client and id), as when
    /// the client abandons it; does nothing if it is no longer pending.
    fn replace_pending(&self, record: &MutationRecord) -> Result<(), StoreError>;

    /// Applies a pull atomically.
    fn commit_pull(&self, commit: PullCommit<'_>) -> Result<(), StoreError>;

    /// Starts staging a reset beside the snapshot, discarding any earlier
    /// stage, so its rows can be written while later pages still arrive.
    /// Staged rows are invisible (to [`load`](Store::load) too) until a
    /// [`commit_pull`](Store::commit_pull) with `staged` puts them in place.
    /// Returns `false` if this store does not stage (the default): the pull
    /// is then written whole by `commit_pull`.
    fn begin_stage(&self, _schema: &'static Schema) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// Writes changes of the reset being staged, in order (a `Clear` empties
    /// the stage). Each call is its own short write, so mutations queued
    /// meanwhile are never held up for the whole pull.
    fn stage(&self, _schema: &'static Schema, _changes: &[Change]) -> Result<(), StoreError> {
        Err(StoreError::io("this store does not stage pulls"))
    }

    /// Completes when every write issued so far is durable.
    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    /// The channel to the other clients sharing this store (browser tabs on
    /// one IndexedDB database), which a client built on it uses unless told
    /// otherwise ([`ClientBuilder::tabs`](crate::client::ClientBuilder::tabs)).
    /// `None` (the default) for a store no other client shares.
    fn tab_channel(&self) -> Option<Box<dyn TabChannel>> {
        None
    }
}

/// One change to the server snapshot, decoded, as a durable store applies it.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Every row of every table goes (the start of a reset).
    Clear,
    /// Insert or replace a row.
    Put(&'static TableDef, Row),
    /// Delete a row by id.
    Del(&'static TableDef, String),
}

/// One page's decoded snapshot changes.
pub type PageChanges = std::sync::Arc<Vec<Change>>;

/// Durable facts about a client, as persisted between runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientMeta {
    /// This client's id.
    pub client_id: String,
    /// The next mutation id to hand out.
    pub next_mutation_id: u64,
    /// The last mutation id the server confirmed.
    pub last_mutation_id: u64,
    /// The cookie of the last pull applied.
    pub cookie: Option<Cookie>,
}
