//! Reading a client group's database back: the shared snapshot, and the meta
//! and pending queue of the client this store will write for. A database
//! written by another group or schema version is wiped if it holds nothing
//! unpushed, and refused (nothing deleted) otherwise.

use std::collections::BTreeMap;

use js_sys::Array;
use serde_json::value::RawValue;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbDatabase, IdbTransactionMode};

use super::error::IdbError;
use super::layout::{
    ALL, GROUP, META, PENDING, ROWS, SNAPSHOT, STAGE_PREFIX, SnapshotMeta, VERSION, slot_range, stage_key,
};
use super::lock::{HeldLock, client_lock, try_take};
use super::request::{committed, request, wait_committed};
use crate::client::store::{ClientMeta, Persisted, StoreError};
use crate::protocol::MutationRecord;
use crate::schema::Schema;
use crate::wire::row_from_json_text;

/// Everything in `meta` and `pending`, decoded.
struct Stored {
    group: Option<String>,
    version: Option<String>,
    snapshot: Option<SnapshotMeta>,
    clients: Vec<ClientMeta>,
    pending: Vec<MutationRecord>,
    rows: Array,
    /// Reset stages under way: (slot, staging client).
    stages: Vec<(String, String)>,
}

fn strings(value: JsValue, context: &str) -> Result<Vec<String>, StoreError> {
    let array: Array = value.dyn_into().map_err(|v| IdbError::from_js(context, &v))?;
    Ok(array.iter().map(|v| v.as_string().unwrap_or_default()).collect())
}

async fn read(db: &IdbDatabase, name: &str) -> Result<Stored, StoreError> {
    let context = format!("loading database {name}");
    let js = |e: JsValue| IdbError::from_js(&context, &e);
    let names: Array = ALL.iter().map(|s| JsValue::from_str(s)).collect();
    let tx = db.transaction_with_str_sequence_and_mode(&names, IdbTransactionMode::Readonly).map_err(js)?;
    let meta = tx.object_store(META).map_err(js)?;
    let keys = request(&context, &meta.get_all_keys().map_err(js)?);
    let values = request(&context, &meta.get_all().map_err(js)?);
    let pending = request(&context, &tx.object_store(PENDING).map_err(js)?.get_all().map_err(js)?);
    let keys = strings(keys.await?, &context)?;
    let values = strings(values.await?, &context)?;
    let pending = strings(pending.await?, &context)?;
    let mut stored = Stored {
        group: None,
        version: None,
        snapshot: None,
        clients: Vec::new(),
        pending: Vec::new(),
        rows: Array::new(),
        stages: Vec::new(),
    };
    for (key, value) in keys.into_iter().zip(values) {
        match key.as_str() {
            GROUP => stored.group = Some(value),
            VERSION => stored.version = Some(value),
            SNAPSHOT => stored.snapshot = Some(serde_json::from_str(&value).map_err(StoreError::corrupt_from)?),
            other if other.starts_with(STAGE_PREFIX) => {
                stored.stages.push((other[STAGE_PREFIX.len()..].to_owned(), value));
            }
            other if super::is_client_key(other).is_some() => {
                stored.clients.push(serde_json::from_str(&value).map_err(StoreError::corrupt_from)?);
            }
            _ => {}
        }
    }
    for value in pending {
        stored.pending.extend(super::decode_pending(&value).map_err(StoreError::corrupt_from)?);
    }
    // Still the same transaction: the rows are those of the snapshot just read.
    let slot = stored.snapshot.clone().unwrap_or_default().slot;
    let rows = tx.object_store(ROWS).map_err(js)?.get_all_with_key(&slot_range(&slot).map_err(js)?).map_err(js)?;
    stored.rows = request(&context, &rows).await?.dyn_into().map_err(js)?;
    Ok(stored)
}

/// Empties every object store.
async fn wipe(db: &IdbDatabase, name: &str) -> Result<(), StoreError> {
    let context = format!("wiping database {name}");
    let js = |e: JsValue| IdbError::from_js(&context, &e);
    let names: Array = ALL.iter().map(|s| JsValue::from_str(s)).collect();
    let tx = db.transaction_with_str_sequence_and_mode(&names, IdbTransactionMode::Readwrite).map_err(js)?;
    let done = committed(&tx);
    for store in ALL {
        tx.object_store(store).map_err(js)?.clear().map_err(js)?;
    }
    wait_committed(&context, done).await?;
    Ok(())
}

/// The clients to try resuming, best first: the most unpushed mutations
/// (so none is stranded), then by id.
fn candidates(clients: Vec<ClientMeta>, pending: &[MutationRecord], lmids: &BTreeMap<String, u64>) -> Vec<ClientMeta> {
    let unpushed = |c: &ClientMeta| {
        let lmid = c.last_mutation_id.max(lmids.get(&c.client_id).copied().unwrap_or(0));
        pending.iter().filter(|r| r.client_id == c.client_id && r.id > lmid).count()
    };
    let mut clients = clients;
    clients.sort_by(|a, b| unpushed(b).cmp(&unpushed(a)).then_with(|| a.client_id.cmp(&b.client_id)));
    clients
}

/// A client id for a tab that found every stored client taken.
fn mint_client_id() -> String {
    let random = (js_sys::Math::random() * 2f64.powi(52)) as u64;
    format!("{:011x}{random:013x}", js_sys::Date::now() as u64)
}

/// Deletes the rows of reset stages no live tab is writing: those of the
/// client this tab now owns (its earlier tab closed mid-reset) and of
/// clients whose lock is free (their tab is gone). A stage whose client is
/// held by an open tab is left to it.
async fn drop_abandoned_stages(
    db: &IdbDatabase,
    name: &str,
    stages: &[(String, String)],
    own: &str,
    snapshot_slot: &str,
) -> Result<(), StoreError> {
    let mut abandoned = Vec::new();
    for (slot, client) in stages {
        if slot == snapshot_slot {
            continue; // swapped in: never delete the snapshot
        }
        // A lock taken here is released at once: its client is free anyway.
        if client == own || try_take(&client_lock(name, client)).await?.is_some() {
            abandoned.push(slot.clone());
        }
    }
    if abandoned.is_empty() {
        return Ok(());
    }
    let context = format!("dropping abandoned reset stages of database {name}");
    let js = |e: JsValue| IdbError::from_js(&context, &e);
    let names: Array = ALL.iter().map(|s| JsValue::from_str(s)).collect();
    let tx = db.transaction_with_str_sequence_and_mode(&names, IdbTransactionMode::Readwrite).map_err(js)?;
    let done = committed(&tx);
    for slot in &abandoned {
        tx.object_store(ROWS).map_err(js)?.delete(&slot_range(slot).map_err(js)?).map_err(js)?;
        tx.object_store(META).map_err(js)?.delete(&JsValue::from_str(&stage_key(slot))).map_err(js)?;
    }
    wait_committed(&context, done).await?;
    Ok(())
}

/// What [`load`] found, and the lock on the client it resumes.
pub(super) struct Loaded {
    /// The state, `None` for a fresh (or wiped) database.
    pub persisted: Option<Persisted>,
    /// The lock on `persisted`'s client.
    pub lock: Option<HeldLock>,
}

/// Loads the state of `group` at `version` (see [`Store::load`](crate::client::Store::load)).
pub(super) async fn load(
    db: &IdbDatabase,
    name: &str,
    schema: &'static Schema,
    group: &str,
    version: &str,
) -> Result<Loaded, StoreError> {
    let stored = read(db, name).await?;
    let matches = stored.group.as_deref() == Some(group) && stored.version.as_deref() == Some(version);
    if !matches {
        if !stored.pending.is_empty() {
            return Err(StoreError::Incompatible {
                stored_group: stored.group.unwrap_or_default(),
                stored_version: stored.version.unwrap_or_default(),
                pending: stored.pending.len(),
            });
        }
        wipe(db, name).await?;
        return Ok(Loaded { persisted: None, lock: None });
    }
    let snapshot = stored.snapshot.unwrap_or_default();
    // Resume a client no open tab holds; if every one is held, start a new
    // client on the shared snapshot.
    let mut chosen = None;
    for client in candidates(stored.clients, &stored.pending, &snapshot.lmids) {
        if let Some(lock) = try_take(&client_lock(name, &client.client_id)).await? {
            chosen = Some((client, lock));
            break;
        }
    }
    let (mut meta, lock) = match chosen {
        Some(chosen) => chosen,
        None => {
            let client_id = mint_client_id();
            let lock = try_take(&client_lock(name, &client_id))
                .await?
                .ok_or_else(|| StoreError::io(format!("the lock of new client {client_id} is taken")))?;
            (ClientMeta { client_id, next_mutation_id: 1, last_mutation_id: 0, cookie: None }, lock)
        }
    };
    drop_abandoned_stages(db, name, &stored.stages, &meta.client_id, &snapshot.slot).await?;
    meta.last_mutation_id = meta.last_mutation_id.max(snapshot.lmids.get(&meta.client_id).copied().unwrap_or(0));
    meta.next_mutation_id = meta.next_mutation_id.max(meta.last_mutation_id + 1);
    meta.cookie = snapshot.cookie.clone();
    let mut pending: Vec<MutationRecord> =
        stored.pending.into_iter().filter(|r| r.client_id == meta.client_id && r.id > meta.last_mutation_id).collect();
    pending.sort_by_key(|r| r.id);
    // A queued record commits in its own transaction ahead of the counter
    // (see `append_pending`): the queue, not the meta, says which ids are taken.
    meta.next_mutation_id = meta.next_mutation_id.max(pending.last().map_or(0, |r| r.id + 1));
    let mut rows = Vec::with_capacity(stored.rows.length() as usize);
    for value in stored.rows.iter() {
        let pair: Array = value.dyn_into().map_err(|v| IdbError::from_js("decoding a stored row", &v))?;
        let (Some(table), Some(json)) = (pair.get(0).as_string(), pair.get(1).as_string()) else {
            return Err(StoreError::Corrupt { message: "a stored row is not [table, json]".into(), source: None });
        };
        // Tables this schema no longer has are skipped.
        let Some(def) = schema.table(&table) else { continue };
        let raw = RawValue::from_string(json).map_err(StoreError::corrupt_from)?;
        rows.push((def, row_from_json_text(def, &raw).map_err(StoreError::corrupt_from)?));
    }
    let persisted =
        Persisted { client_group_id: group.to_owned(), schema_version: version.to_owned(), meta, rows, pending };
    Ok(Loaded { persisted: Some(persisted), lock: Some(lock) })
}
