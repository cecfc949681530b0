//! [`MemoryStore`]: a store that lives as long as the process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::client::platform::BoxFuture;
use crate::client::store::{Change, ClientMeta, Persisted, PullCommit, Store, StoreError};
use crate::protocol::MutationRecord;
use crate::schema::{Schema, TableDef};
use crate::table::Row;

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
