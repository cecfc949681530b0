//! The API `benches/browser/src/plasma.js` drives: a plasma client of the
//! [`kv`](crate::kv) app on IndexedDB, with the calls the anchor cases time.
//! Timing happens in the page, around these calls, as for the other suites.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::StreamExt;
use plasma::Table;
use plasma::client::platform::web::{FetchTransport, WebPlatform};
use plasma::client::{Client, ClientEvent, IndexedDbStore, LiveQuery};
use plasma::live::{Diff, LiveChange};
use wasm_bindgen::prelude::*;

use crate::kv::{Ctx, Kv, KvMutators, Put, PutMany, SCHEMA, put, put_many};

/// The database prefix of every benchmark client.
const PREFIX: &str = "plasma-bench";

fn js(error: impl std::fmt::Display) -> JsError {
    JsError::new(&error.to_string())
}

/// One benchmark client.
#[wasm_bindgen]
pub struct PlasmaBench {
    client: Client<KvMutators>,
    /// Live queries kept alive for `subscribe`.
    live: RefCell<Vec<LiveQuery<Kv>>>,
}

#[wasm_bindgen]
impl PlasmaBench {
    /// Opens the client of group `group` on its IndexedDB database (loading
    /// what an earlier client left there). With a non-empty `endpoint` it
    /// syncs with that server once [`start`](Self::start) is called.
    pub async fn open(group: String, endpoint: String) -> Result<PlasmaBench, JsError> {
        let store = IndexedDbStore::open(PREFIX, &group).await.map_err(js)?;
        // An endpoint nobody listens on when the case is local only: the
        // client is never started, so nothing is ever sent.
        let endpoint = if endpoint.is_empty() { "http://127.0.0.1:9/sync".to_owned() } else { endpoint };
        let transport = FetchTransport::new(&endpoint).map_err(js)?;
        let client = Client::<KvMutators>::builder(&SCHEMA, group)
            .context(|| Ctx)
            .store(store)
            .build(transport, WebPlatform::new())
            .await
            .map_err(js)?;
        Ok(PlasmaBench { client, live: RefCell::new(Vec::new()) })
    }

    /// A client on a [`MemoryStore`](plasma::client::MemoryStore): the same
    /// cases without IndexedDB, to see what the store costs.
    #[wasm_bindgen(js_name = openInMemory)]
    pub async fn open_in_memory(group: String) -> Result<PlasmaBench, JsError> {
        let transport = FetchTransport::new("http://127.0.0.1:9/sync").map_err(js)?;
        let client = Client::<KvMutators>::builder(&SCHEMA, group)
            .context(|| Ctx)
            .build(transport, WebPlatform::new())
            .await
            .map_err(js)?;
        Ok(PlasmaBench { client, live: RefCell::new(Vec::new()) })
    }

    /// Deletes the database of group `group` (every client of it must be closed).
    #[wasm_bindgen(js_name = deleteDatabase)]
    pub async fn delete_database(group: String) -> Result<(), JsError> {
        IndexedDbStore::delete_database(&IndexedDbStore::database_name(PREFIX, &group)).await.map_err(js)
    }

    /// Sets `k` to `v` (one mutation; visible to queries when this returns).
    pub fn put(&self, k: String, v: String) -> Result<(), JsError> {
        drop(self.client.mutate::<put>(Put { k, v }).map_err(js)?);
        Ok(())
    }

    /// Sets every `keys[i]` to `values[i]` in one mutation.
    #[wasm_bindgen(js_name = putMany)]
    pub fn put_many(&self, keys: Vec<String>, values: Vec<String>) -> Result<(), JsError> {
        let entries = keys.into_iter().zip(values).collect();
        drop(self.client.mutate::<put_many>(PutMany { entries }).map_err(js)?);
        Ok(())
    }

    /// The value of `k` in local state.
    pub fn get(&self, k: String) -> Result<Option<String>, JsError> {
        let rows = self.client.query(&Kv::select().filter(Kv::ID.eq(k))).map_err(js)?;
        Ok(rows.into_iter().next().map(|row| row.v))
    }

    /// Resolves once every mutation so far is committed to IndexedDB.
    pub async fn persisted(&self) -> Result<(), JsError> {
        self.client.persisted().await.map_err(js)
    }

    /// Every value, in key order: a full scan of local state, handed to JS
    /// as one string of all values and the UTF-16 end offset of each
    /// (`[text, Uint32Array]`; `plasma.js` cuts it with `substring`, which
    /// shares the text). One UTF-8 decode instead of one per row: decoding
    /// is what moving text into JS costs, not the scan.
    #[wasm_bindgen(js_name = scanPacked)]
    pub fn scan_packed(&self) -> Result<js_sys::Array, JsError> {
        let column = Kv::DEF.column_index("v").ok_or_else(|| JsError::new("kv has no column v"))?;
        let (rows, bytes) = self
            .client
            .read(|view| {
                let mut bytes = 0;
                let counted = view.for_each_row(Kv::DEF, |row| {
                    if let plasma::Value::Text(value) = row.get(column) {
                        bytes += value.len();
                    }
                });
                counted.and_then(|()| view.len(Kv::DEF)).map(|rows| (rows, bytes))
            })
            .map_err(js)?
            .map_err(js)?;
        let mut text = String::with_capacity(bytes);
        let mut ends: Vec<u32> = Vec::with_capacity(rows);
        let mut units = 0usize;
        self.client
            .read(|view| {
                view.for_each_row(Kv::DEF, |row| {
                    if let plasma::Value::Text(value) = row.get(column) {
                        text.push_str(value);
                        units += if value.is_ascii() { value.len() } else { value.encode_utf16().count() };
                        ends.push(u32::try_from(units).unwrap_or(u32::MAX));
                    }
                })
            })
            .map_err(js)?
            .map_err(js)?;
        let ends = js_sys::Uint32Array::from(ends.as_slice());
        Ok(js_sys::Array::of2(&JsValue::from_str(&text), &ends))
    }

    /// Every value, in key order, as typed rows turned into JS strings one
    /// by one (`client.query` as a Rust app calls it, plus one decode per row).
    pub fn scan(&self) -> Result<js_sys::Array, JsError> {
        let rows = self.client.query(&Kv::select()).map_err(js)?;
        Ok(rows.into_iter().map(|row| JsValue::from_str(&row.v)).collect())
    }

    /// Every row as a typed Rust value (`client.query`), without handing
    /// anything to JS: what a Rust UI reads. Returns the bytes seen.
    #[wasm_bindgen(js_name = scanRust)]
    pub fn scan_rust(&self) -> Result<usize, JsError> {
        let rows = self.client.query(&Kv::select()).map_err(js)?;
        Ok(rows.iter().map(|row| row.v.len()).sum())
    }

    /// How many rows local state holds.
    pub fn count(&self) -> Result<usize, JsError> {
        self.client.read(|view| view.len(Kv::DEF)).map_err(js)?.map_err(js)
    }

    /// Keeps a live query of the keys in `[from, to)`: `callback` gets the
    /// values (in key order) at once and after every change. The list is
    /// kept current by applying each diff, as a UI binding does: only the
    /// rows a diff carries are turned into JS strings.
    pub fn subscribe(&self, from: String, to: String, callback: js_sys::Function) -> Result<(), JsError> {
        let live = self.client.live(&Kv::select().filter(Kv::ID.ge(from).and(Kv::ID.lt(to)))).map_err(js)?;
        let values: Vec<JsValue> = live.rows().map_err(js)?.iter().map(|row| JsValue::from_str(&row.v)).collect();
        let values = Rc::new(RefCell::new(values));
        let call = move |values: &[JsValue]| {
            let array: js_sys::Array = values.iter().collect();
            // A throwing callback is the page's problem; the benchmark sees it there.
            let _ = callback.call1(&JsValue::NULL, &array);
        };
        call(&values.borrow());
        live.on_change(move |diff| {
            let mut values = values.borrow_mut();
            as_js(diff).apply(&mut values);
            call(&values);
        });
        self.live.borrow_mut().push(live);
        Ok(())
    }

    /// Starts syncing and resolves once local state holds `rows` rows,
    /// calling `progress(pages, rows)` for every pull page that arrives.
    #[wasm_bindgen(js_name = syncUntil)]
    pub async fn sync_until(&self, rows: usize, progress: js_sys::Function) -> Result<usize, JsError> {
        let mut events = self.client.events();
        self.client.start();
        let mut pages = 0usize;
        while self.count()? < rows {
            match events.next().await {
                Some(ClientEvent::PullProgress { pages: p, rows: r, .. }) => {
                    pages = p;
                    let _ = progress.call2(&JsValue::NULL, &JsValue::from(p), &JsValue::from(r));
                }
                Some(_) => {}
                None => return Err(JsError::new("the client stopped before the rows arrived")),
            }
        }
        Ok(pages)
    }
}

/// The same diff over the rows' values as JS strings.
fn as_js(diff: &Diff<Kv>) -> Diff<JsValue> {
    let js = |row: &Kv| JsValue::from_str(&row.v);
    let changes = diff
        .changes
        .iter()
        .map(|change| match change {
            LiveChange::Added { index, row } => LiveChange::Added { index: *index, row: js(row) },
            LiveChange::Removed { old_index, .. } => {
                LiveChange::Removed { old_index: *old_index, row: JsValue::UNDEFINED }
            }
            LiveChange::Edited { old_index, index, row, .. } => {
                LiveChange::Edited { old_index: *old_index, index: *index, old: JsValue::UNDEFINED, row: js(row) }
            }
        })
        .collect();
    Diff { changes }
}
