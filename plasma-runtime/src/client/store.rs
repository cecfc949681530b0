//! Where a client keeps what must survive a restart: its identity and
//! counters, the pending queue, and the server snapshot.
//!
//! Writes are *issued* synchronously, in call order, and become durable by the
//! time [`Store::flush`] completes. SQLite and memory finish the write inside
//! the call; IndexedDB queues it in a transaction. The client flushes before
//! every push, so the server never holds a mutation the client could forget
//! (which would let the client reuse its id for another mutation).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::client::core::{Change, ClientMeta, PageChanges};
use crate::client::platform::{BoxFuture, MaybeSend};
use crate::error::ErrorSource;
use crate::protocol::MutationRecord;
use crate::schema::{Schema, TableDef};
use crate::table::Row;

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
}

/// A store in memory: nothing survives the process, but clones share one
/// state, so a test can "restart" a client on the same store.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<Option<Saved>>>,
}

#[derive(Debug)]
struct Saved {
    client_group_id: String,
    schema_version: String,
    meta: ClientMeta,
    rows: BTreeMap<(&'static str, String), (&'static TableDef, Row)>,
    pending: Vec<MutationRecord>,
}

impl Saved {
    fn snapshot(&self) -> Persisted {
        Persisted {
            client_group_id: self.client_group_id.clone(),
            schema_version: self.schema_version.clone(),
            meta: self.meta.clone(),
            rows: self.rows.values().cloned().collect(),
            pending: self.pending.clone(),
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Option<Saved>) -> T) -> Result<T, StoreError> {
        let mut state = self.state.lock().map_err(|_| StoreError::io("memory store poisoned"))?;
        Ok(f(&mut state))
    }
}

fn not_initialised() -> StoreError {
    StoreError::io("write to a store that was not initialised")
}

impl Store for MemoryStore {
    fn load(
        &self,
        _schema: &'static Schema,
        client_group_id: &str,
        schema_version: &str,
    ) -> BoxFuture<'_, Result<Option<Persisted>, StoreError>> {
        let result = self.with(|state| match state {
            Some(p) if p.client_group_id == client_group_id && p.schema_version == schema_version => {
                Ok(Some(p.snapshot()))
            }
            Some(p) if !p.pending.is_empty() => Err(StoreError::Incompatible {
                stored_group: p.client_group_id.clone(),
                stored_version: p.schema_version.clone(),
                pending: p.pending.len(),
            }),
            _ => {
                *state = None;
                Ok(None)
            }
        });
        Box::pin(async move { result? })
    }

    fn init(&self, client_group_id: &str, schema_version: &str, meta: &ClientMeta) -> Result<(), StoreError> {
        self.with(|state| {
            *state = Some(Saved {
                client_group_id: client_group_id.to_owned(),
                schema_version: schema_version.to_owned(),
                meta: meta.clone(),
                rows: BTreeMap::new(),
                pending: Vec::new(),
            });
        })
    }

    fn append_pending(&self, meta: &ClientMeta, record: &MutationRecord) -> Result<(), StoreError> {
        self.with(|state| {
            let p = state.as_mut().ok_or_else(not_initialised)?;
            p.meta = meta.clone();
            p.pending.push(record.clone());
            Ok(())
        })?
    }

    fn replace_pending(&self, record: &MutationRecord) -> Result<(), StoreError> {
        self.with(|state| {
            let p = state.as_mut().ok_or_else(not_initialised)?;
            if let Some(old) = p.pending.iter_mut().find(|m| m.client_id == record.client_id && m.id == record.id) {
                *old = record.clone();
            }
            Ok(())
        })?
    }

    fn commit_pull(&self, commit: PullCommit<'_>) -> Result<(), StoreError> {
        self.with(|state| {
            let p = state.as_mut().ok_or_else(not_initialised)?;
            for change in commit.changes.iter().flat_map(|c| c.iter()) {
                match change {
                    Change::Clear => p.rows.clear(),
                    Change::Put(table, row) => {
                        let id = row.pk(table).unwrap_or_default().to_owned();
                        p.rows.insert((table.name, id), (*table, row.clone()));
                    }
                    Change::Del(table, id) => {
                        p.rows.remove(&(table.name, id.clone()));
                    }
                }
            }
            let meta = commit.meta;
            p.pending.retain(|m| m.client_id == meta.client_id && m.id > meta.last_mutation_id);
            p.meta = meta.clone();
            Ok(())
        })?
    }
}
