//! [`IndexedDbStore`]: the browser client's durable store, one IndexedDB
//! database per client group (see [`layout`] for what it holds).
//!
//! Writes are issued at once into batched transactions ([`writer`]); `flush`
//! resolves once they have committed. Several tabs (clients of one group)
//! may open the same database: each owns its meta and pending queue (keyed by
//! client id), and the shared snapshot only moves forward (a pull's cookie is
//! compared with the stored one inside the committing transaction).

mod error;
mod layout;
mod load;
mod lock;
mod request;
mod writer;

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbDatabase, IdbFactory, IdbOpenDbRequest, IdbTransaction, IdbVersionChangeEvent};

pub use error::IdbError;
use layout::{
    CLIENT_PREFIX, DB_VERSION, GROUP, META, PENDING, ROWS, SNAPSHOT, SnapshotMeta, VERSION, client_key, encode_meta,
    moves_forward, pending_key, pending_of, pending_through, row_key, row_value, slot_range, stage_key,
};
use request::request;
use writer::Writer;

use crate::client::platform::BoxFuture;
use crate::client::platform::web::BroadcastTabs;
use crate::client::store::{Change, ClientMeta, Persisted, PullCommit, Store, StoreError};
use crate::client::tabs::TabChannel;
use crate::protocol::MutationRecord;
use crate::schema::Schema;
use crate::wire::row_to_json_text;

/// A client store in IndexedDB, shared by the tabs of one app.
pub struct IndexedDbStore {
    name: String,
    writer: Rc<Writer>,
    /// The client this store writes for, once loaded or initialised.
    client_id: RefCell<Option<String>>,
    /// The Web Lock on `client_id`: no other tab writes as this client.
    lock: RefCell<Option<lock::HeldLock>>,
    /// The slot a reset is being staged in.
    stage_slot: RefCell<Option<String>>,
    /// Queued mutations not yet issued, as (client id, id, JSON), in order:
    /// written as chunks (see [`chunks`]) by one deferred put batch.
    queued: Rc<RefCell<Vec<(String, u64, String)>>>,
    /// Closes the connection when another one wants to delete or upgrade the database.
    _on_version_change: Closure<dyn FnMut(JsValue)>,
}

impl std::fmt::Debug for IndexedDbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexedDbStore").field("name", &self.name).field("client_id", &self.client_id).finish()
    }
}

/// One snapshot change, encoded before the transaction needs it.
enum Op {
    Clear,
    Put { table: &'static str, id: String, json: String },
    Del { table: &'static str, id: String },
}

fn encode_changes<'a>(changes: impl Iterator<Item = &'a Change>) -> Result<Vec<Op>, StoreError> {
    changes
        .map(|change| {
            Ok(match change {
                Change::Clear => Op::Clear,
                Change::Put(table, row) => {
                    let id = row
                        .pk(table)
                        .ok_or_else(|| StoreError::io(format!("a row of `{}` has no text id", table.name)))?
                        .to_owned();
                    let json = row_to_json_text(table, row).map_err(StoreError::corrupt_from)?;
                    Op::Put { table: table.name, id, json: json.get().to_owned() }
                }
                Change::Del(table, id) => Op::Del { table: table.name, id: id.clone() },
            })
        })
        .collect()
}

fn write_ops(tx: &IdbTransaction, slot: &str, ops: &[Op]) -> Result<(), JsValue> {
    let rows = tx.object_store(ROWS)?;
    for op in ops {
        match op {
            Op::Clear => drop(rows.delete(&slot_range(slot)?)?),
            Op::Put { table, id, json } => drop(rows.put_with_key(&row_value(table, json), &row_key(slot, table, id))?),
            Op::Del { table, id } => drop(rows.delete(&row_key(slot, table, id))?),
        }
    }
    Ok(())
}

/// The browser's IndexedDB factory (a window's or a worker's).
fn factory() -> Result<IdbFactory, IdbError> {
    let global = js_sys::global();
    let value = js_sys::Reflect::get(&global, &JsValue::from_str("indexedDB"))
        .map_err(|e| IdbError::from_js("finding indexedDB", &e))?;
    value
        .dyn_into::<IdbFactory>()
        .map_err(|v| IdbError::from_js("finding indexedDB", &JsValue::from_str(&format!("not an IDBFactory: {v:?}"))))
}

/// A name unlikely to be chosen twice (for stage slots).
fn unique(prefix: &str) -> String {
    let random = (js_sys::Math::random() * 1e12) as u64;
    format!("{prefix}{}-{random:x}", js_sys::Date::now() as u64)
}

impl IndexedDbStore {
    /// The database name of client group `client_group_id` for an app that
    /// chose `prefix` (so two apps on one origin never share a database).
    pub fn database_name(prefix: &str, client_group_id: &str) -> String {
        format!("{prefix}/{client_group_id}")
    }

    /// Opens (creating) the database of `client_group_id` under `prefix`.
    pub async fn open(prefix: &str, client_group_id: &str) -> Result<Self, StoreError> {
        Self::open_named(&Self::database_name(prefix, client_group_id)).await
    }

    /// Opens (creating) the database called `name`.
    pub async fn open_named(name: &str) -> Result<Self, StoreError> {
        let context = format!("opening database {name}");
        let req: IdbOpenDbRequest =
            factory()?.open_with_u32(name, DB_VERSION).map_err(|e| IdbError::from_js(&context, &e))?;
        let upgrade_error: Rc<RefCell<Option<IdbError>>> = Rc::default();
        let seen = Rc::clone(&upgrade_error);
        let upgrade = Closure::<dyn FnMut(IdbVersionChangeEvent)>::new(move |event: IdbVersionChangeEvent| {
            if event.old_version() >= 1.0 {
                return;
            }
            let created = event
                .target()
                .and_then(|t| t.dyn_into::<IdbOpenDbRequest>().ok())
                .ok_or_else(|| JsValue::from_str("upgrade event without its request"))
                .and_then(|r| r.result())
                .and_then(|db| db.dyn_into::<IdbDatabase>())
                .and_then(|db| {
                    for store in layout::ALL {
                        db.create_object_store(store)?;
                    }
                    Ok(())
                });
            if let Err(e) = created {
                *seen.borrow_mut() = Some(IdbError::from_js("creating the object stores", &e));
            }
        });
        req.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
        let opened = request(&context, &req).await;
        req.set_onupgradeneeded(None);
        drop(upgrade);
        if let Some(e) = upgrade_error.borrow_mut().take() {
            return Err(e.into());
        }
        let db: IdbDatabase = opened?.dyn_into().map_err(|v| IdbError::from_js(&context, &v))?;
        let on_change = {
            let db = db.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |_| db.close())
        };
        db.set_onversionchange(Some(on_change.as_ref().unchecked_ref()));
        Ok(IndexedDbStore {
            name: name.to_owned(),
            writer: Rc::new(Writer::new(db, name.to_owned())),
            client_id: RefCell::new(None),
            lock: RefCell::new(None),
            stage_slot: RefCell::new(None),
            queued: Rc::default(),
            _on_version_change: on_change,
        })
    }

    /// Deletes the database called `name` (waiting until every connection
    /// to it has closed).
    pub async fn delete_database(name: &str) -> Result<(), StoreError> {
        let context = format!("deleting database {name}");
        let req = factory()?.delete_database(name).map_err(|e| IdbError::from_js(&context, &e))?;
        request(&context, &req).await?;
        Ok(())
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client this store writes for (after `load` or `init`).
    pub fn client_id(&self) -> Option<String> {
        self.client_id.borrow().clone()
    }

    /// Records that this store now writes as `client_id` (a new client, or
    /// a reset's new identity) and takes its lock. The id is new, so the
    /// lock is free: it is granted without waiting.
    fn own(&self, client_id: &str) -> Result<(), StoreError> {
        if self.client_id.borrow().as_deref() == Some(client_id) && self.lock.borrow().is_some() {
            return Ok(());
        }
        let (held, _granted) = lock::request(&lock::client_lock(&self.name, client_id), false)?;
        *self.lock.borrow_mut() = Some(held);
        *self.client_id.borrow_mut() = Some(client_id.to_owned());
        Ok(())
    }

    fn db(&self) -> &IdbDatabase {
        self.writer.db()
    }
}

impl Drop for IndexedDbStore {
    fn drop(&mut self) {
        self.db().set_onversionchange(None);
        self.db().close();
    }
}

/// Issues `get(key)` on `store`, then runs `then` with its result inside the
/// same transaction. If `then` fails, the transaction aborts and its error
/// (described by `what`) goes to `failed`, for the next flush to report.
fn get_then(
    tx: &IdbTransaction,
    store: &str,
    key: &JsValue,
    (what, failed): (&'static str, Rc<RefCell<Option<StoreError>>>),
    then: impl FnOnce(&IdbTransaction, JsValue) -> Result<(), JsValue> + 'static,
) -> Result<(), JsValue> {
    let req = tx.object_store(store)?.get(key)?;
    let tx2 = tx.clone();
    let req2 = req.clone();
    let callback = Closure::once_into_js(move |_: JsValue| {
        if let Err(e) = req2.result().and_then(|value| then(&tx2, value)) {
            failed.borrow_mut().get_or_insert_with(|| IdbError::from_js(what, &e).into());
            // Nothing of the transaction commits; the writer's flush reports the abort.
            let _ = tx2.abort();
        }
    });
    req.set_onsuccess(Some(callback.unchecked_ref::<Function>()));
    Ok(())
}

/// Most JSON bytes per pending chunk: large enough that a burst of a
/// thousand mutations is a handful of puts, small enough to stay an inline
/// IndexedDB value (Chromium moves values past about 64 KiB to blob files).
const CHUNK_BYTES: usize = 48 * 1024;

/// Queued records as pending values: runs of one client's records, each
/// chunk `[record,...]` under the key of its *last* id, so deleting the
/// keys up to a client's confirmed id deletes exactly the chunks it wholly
/// covers; a chunk confirmed in part stays until the rest is, and `load`
/// skips its confirmed records.
fn chunks(queued: &[(String, u64, String)]) -> Vec<(JsValue, String)> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut last: Option<(&str, u64)> = None;
    for (client, id, json) in queued {
        let same_client = last.is_some_and(|(c, _)| c == client);
        if let Some((c, l)) = last
            && (!same_client || text.len() + json.len() > CHUNK_BYTES)
        {
            text.push(']');
            out.push((pending_key(c, l), std::mem::take(&mut text)));
        }
        text.push(if text.is_empty() { '[' } else { ',' });
        text.push_str(json);
        last = Some((client, *id));
    }
    if let Some((c, l)) = last {
        text.push(']');
        out.push((pending_key(c, l), text));
    }
    out
}

/// The pending keys from `client_id`'s mutation `id` on: the first is the
/// chunk (or single record) holding it.
fn chunk_of(client_id: &str, id: u64) -> Result<web_sys::IdbKeyRange, StoreError> {
    let end = pending_key(client_id, u64::MAX);
    web_sys::IdbKeyRange::bound(&pending_key(client_id, id), &end)
        .map_err(|e| StoreError::from(IdbError::from_js("a pending key range", &e)))
}

/// A stored pending value with `record` in place of the record with its id,
/// or `None` if the value does not hold it.
fn replace_in_chunk(text: &str, record: &MutationRecord) -> Result<Option<String>, JsValue> {
    let error = |e: serde_json::Error| JsValue::from_str(&format!("a pending chunk does not decode: {e}"));
    let mut records = decode_pending(text).map_err(error)?;
    let Some(slot) = records.iter_mut().find(|r| r.client_id == record.client_id && r.id == record.id) else {
        return Ok(None);
    };
    *slot = record.clone();
    let text = if records.len() == 1 && !text.starts_with('[') {
        serde_json::to_string(&records[0])
    } else {
        serde_json::to_string(&records)
    };
    text.map(Some).map_err(error)
}

/// The records of a stored pending value: a chunk `[record,...]`, or one
/// record (databases written before chunks).
pub(super) fn decode_pending(text: &str) -> Result<Vec<MutationRecord>, serde_json::Error> {
    if text.trim_start().starts_with('[') { serde_json::from_str(text) } else { Ok(vec![serde_json::from_str(text)?]) }
}

impl Store for IndexedDbStore {
    fn load(
        &self,
        schema: &'static Schema,
        client_group_id: &str,
        schema_version: &str,
    ) -> BoxFuture<'_, Result<Option<Persisted>, StoreError>> {
        let group = client_group_id.to_owned();
        let version = schema_version.to_owned();
        Box::pin(async move {
            let loaded = load::load(self.db(), &self.name, schema, &group, &version).await?;
            *self.client_id.borrow_mut() = loaded.persisted.as_ref().map(|p| p.meta.client_id.clone());
            *self.lock.borrow_mut() = loaded.lock;
            Ok(loaded.persisted)
        })
    }

    fn init(&self, client_group_id: &str, schema_version: &str, meta: &ClientMeta) -> Result<(), StoreError> {
        let encoded = encode_meta(meta).map_err(StoreError::corrupt_from)?;
        self.writer.write("recording a new client", |tx| {
            let store = tx.object_store(META)?;
            store.put_with_key(&JsValue::from_str(client_group_id), &JsValue::from_str(GROUP))?;
            store.put_with_key(&JsValue::from_str(schema_version), &JsValue::from_str(VERSION))?;
            store.put_with_key(&JsValue::from_str(&encoded), &JsValue::from_str(&client_key(&meta.client_id)))?;
            Ok(())
        })?;
        self.own(&meta.client_id)
    }

    fn append_pending(&self, meta: &ClientMeta, record: &MutationRecord) -> Result<(), StoreError> {
        // Deferred to a batch (see `writer`): queueing stays in memory, the
        // batch's records go out as a few chunk values, not one put each
        // (a put costs far more than its bytes), and the meta is put once.
        let json = serde_json::to_string(record).map_err(StoreError::corrupt_from)?;
        let encoded = encode_meta(meta).map_err(StoreError::corrupt_from)?;
        let first = {
            let mut queued = self.queued.borrow_mut();
            queued.push((record.client_id.clone(), record.id, json));
            queued.len() == 1
        };
        if !first {
            // Joins the batch already scheduled (unless the store failed since).
            self.writer.check()?;
        } else {
            let queued = Rc::clone(&self.queued);
            self.writer.write_deferred("queueing mutations", None, move |tx| {
                let store = tx.object_store(PENDING)?;
                for (key, value) in chunks(&queued.borrow()) {
                    store.put_with_key(&JsValue::from_str(&value), &key)?;
                }
                // Issued (a refused first put issued nothing and is retried).
                queued.borrow_mut().clear();
                Ok(())
            })?;
        }
        let meta_key = client_key(&meta.client_id);
        self.writer.write_deferred("recording the mutation counter", Some(meta_key.clone()), move |tx| {
            tx.object_store(META)?.put_with_key(&JsValue::from_str(&encoded), &JsValue::from_str(&meta_key))?;
            Ok(())
        })
    }

    fn replace_pending(&self, record: &MutationRecord) -> Result<(), StoreError> {
        let record = Rc::new(record.clone());
        // The chunk holding it is the first whose key (its last id) is at or past its id.
        let range = chunk_of(&record.client_id, record.id);
        self.writer.write("replacing a pending mutation", |tx| {
            let range = range.clone().map_err(|e| JsValue::from_str(&e.to_string()))?;
            let request = tx.object_store(PENDING)?.open_cursor_with_range(&range)?;
            let request2 = request.clone();
            let record = Rc::clone(&record);
            let failed = self.writer.failure_slot();
            let tx2 = tx.clone();
            let callback = Closure::once_into_js(move |_: JsValue| {
                let replaced = request2.result().and_then(|cursor| {
                    let Some(cursor) = cursor.dyn_ref::<web_sys::IdbCursorWithValue>() else {
                        return Ok(()); // no longer pending
                    };
                    let text = cursor.value()?.as_string().unwrap_or_default();
                    let Some(updated) = replace_in_chunk(&text, &record)? else { return Ok(()) };
                    cursor.update(&JsValue::from_str(&updated))?;
                    Ok(())
                });
                if let Err(e) = replaced {
                    failed
                        .borrow_mut()
                        .get_or_insert_with(|| IdbError::from_js("replacing a pending mutation", &e).into());
                    let _ = tx2.abort();
                }
            });
            request.set_onsuccess(Some(callback.unchecked_ref::<Function>()));
            Ok(())
        })
    }

    fn begin_stage(&self, _schema: &'static Schema) -> Result<bool, StoreError> {
        let slot = unique("stage-");
        let owner = self.client_id.borrow().clone().unwrap_or_default();
        let old = self.stage_slot.replace(Some(slot.clone()));
        // Registered, so a tab that finds it abandoned (this tab closed
        // mid-reset) deletes it: see `load::drop_abandoned_stages`.
        self.writer.write("beginning a staged reset", |tx| {
            if let Some(old) = &old {
                tx.object_store(ROWS)?.delete(&slot_range(old)?)?;
                tx.object_store(META)?.delete(&JsValue::from_str(&stage_key(old)))?;
            }
            tx.object_store(META)?.put_with_key(&JsValue::from_str(&owner), &JsValue::from_str(&stage_key(&slot)))?;
            Ok(())
        })?;
        Ok(true)
    }

    fn stage(&self, _schema: &'static Schema, changes: &[Change]) -> Result<(), StoreError> {
        let slot = self.stage_slot.borrow().clone().ok_or_else(|| StoreError::io("stage without begin_stage"))?;
        let ops = encode_changes(changes.iter())?;
        self.writer.write("staging a reset", |tx| write_ops(tx, &slot, &ops))
    }

    fn commit_pull(&self, commit: PullCommit<'_>) -> Result<(), StoreError> {
        let meta = commit.meta.clone();
        let lmids = commit.last_mutation_ids.clone();
        let encoded = encode_meta(&meta).map_err(StoreError::corrupt_from)?;
        let ops: Rc<Vec<Op>> = Rc::new(if commit.staged {
            Vec::new()
        } else {
            encode_changes(commit.changes.iter().flat_map(|c| c.iter()))?
        });
        let stage = if commit.staged {
            Some(self.stage_slot.take().ok_or_else(|| StoreError::io("a staged commit without begin_stage"))?)
        } else {
            None
        };
        let previous = self.client_id.borrow().clone();
        self.writer.write_alone("committing a pull", |tx| {
            // What belongs to this client alone: written in call order.
            let metas = tx.object_store(META)?;
            let pending = tx.object_store(PENDING)?;
            metas.put_with_key(&JsValue::from_str(&encoded), &JsValue::from_str(&client_key(&meta.client_id)))?;
            pending.delete(&pending_through(&meta.client_id, meta.last_mutation_id)?)?;
            // Other clients' (tabs') mutations the server confirmed are gone too.
            for (client, lmid) in lmids.iter().filter(|(c, _)| **c != meta.client_id) {
                pending.delete(&pending_through(client, *lmid)?)?;
            }
            if let Some(old) = previous.as_deref().filter(|old| *old != meta.client_id) {
                // A reset: the old identity and its queue are gone.
                pending.delete(&pending_of(old)?)?;
                metas.delete(&JsValue::from_str(&client_key(old)))?;
            }
            // The shared snapshot: only forward, decided on what is stored.
            let ops = Rc::clone(&ops);
            let stage = stage.clone();
            let meta = meta.clone();
            let lmids = lmids.clone();
            let failed = ("committing a pull to the snapshot", self.writer.failure_slot());
            get_then(tx, META, &JsValue::from_str(SNAPSHOT), failed, move |tx, stored| {
                let mut snapshot: SnapshotMeta = match stored.as_string() {
                    Some(text) => serde_json::from_str(&text)
                        .map_err(|e| js_sys::Error::new(&format!("the stored snapshot meta does not decode: {e}")))?,
                    None => SnapshotMeta::default(),
                };
                let forward = moves_forward(snapshot.cookie.as_ref(), meta.cookie.as_ref());
                let rows = tx.object_store(ROWS)?;
                match (&stage, forward) {
                    (Some(stage), true) => {
                        rows.delete(&slot_range(&snapshot.slot)?)?;
                        snapshot.slot = stage.clone();
                    }
                    (Some(stage), false) => drop(rows.delete(&slot_range(stage)?)?),
                    (None, true) => write_ops(tx, &snapshot.slot, &ops)?,
                    (None, false) => {}
                }
                if let Some(stage) = &stage {
                    // Swapped in or dropped: no longer a stage under way.
                    tx.object_store(META)?.delete(&JsValue::from_str(&stage_key(stage)))?;
                }
                if forward {
                    snapshot.cookie = meta.cookie.clone();
                }
                let own = std::iter::once((&meta.client_id, &meta.last_mutation_id));
                for (client, confirmed) in lmids.iter().chain(own) {
                    let lmid = snapshot.lmids.entry(client.clone()).or_default();
                    *lmid = (*lmid).max(*confirmed);
                }
                let text = serde_json::to_string(&snapshot).map_err(|e| JsValue::from_str(&e.to_string()))?;
                tx.object_store(META)?.put_with_key(&JsValue::from_str(&text), &JsValue::from_str(SNAPSHOT))?;
                Ok(())
            })
        })?;
        self.own(&meta.client_id)
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.writer.flush())
    }

    /// A `BroadcastChannel` named `plasma/<database name>` (see
    /// [`BroadcastTabs`]): the tabs on this database see each other's
    /// writes at once. `None` where the global scope has no `BroadcastChannel`.
    fn tab_channel(&self) -> Option<Box<dyn TabChannel>> {
        BroadcastTabs::for_database(&self.name).ok().map(|tabs| Box::new(tabs) as Box<dyn TabChannel>)
    }
}

/// The meta keys of clients start with this.
pub(super) fn is_client_key(key: &str) -> Option<&str> {
    key.strip_prefix(CLIENT_PREFIX)
}
