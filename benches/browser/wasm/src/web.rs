//! The API `benches/browser/src/plasma.js` drives: a plasma client of the
//! [`kv`](crate::kv) app on IndexedDB, with the calls the anchor cases time.
//! Timing happens in the page, around these calls, as for the other suites.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::StreamExt;
use plasma::Table;
use plasma::client::platform::web::{FetchTransport, WebPlatform};
use plasma::client::{Client, ClientEvent, IndexedDbStore, LiveQuery};
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

    /// Every value, in key order (a full scan of local state into JS strings).
    pub fn scan(&self) -> Result<js_sys::Array, JsError> {
        let rows = self.client.query(&Kv::select()).map_err(js)?;
        Ok(rows.into_iter().map(|row| JsValue::from_str(&row.v)).collect())
    }

    /// How many rows local state holds.
    pub fn count(&self) -> Result<usize, JsError> {
        self.client.read(|view| view.len(Kv::DEF)).map_err(js)?.map_err(js)
    }

    /// Keeps a live query of the keys in `[from, to)`: `callback` gets the
    /// values (in key order) at once and after every change, the rows kept
    /// current by applying each diff, as a UI binding does.
    pub fn subscribe(&self, from: String, to: String, callback: js_sys::Function) -> Result<(), JsError> {
        let live = self.client.live(&Kv::select().filter(Kv::ID.ge(from).and(Kv::ID.lt(to)))).map_err(js)?;
        let rows = Rc::new(RefCell::new(live.rows().map_err(js)?));
        let call = move |rows: &[Kv]| {
            let values: js_sys::Array = rows.iter().map(|row| JsValue::from_str(&row.v)).collect();
            // A throwing callback is the page's problem; the benchmark sees it there.
            let _ = callback.call1(&JsValue::NULL, &values);
        };
        call(&rows.borrow());
        live.on_change(move |diff| {
            let mut rows = rows.borrow_mut();
            diff.apply(&mut rows);
            call(&rows);
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
