//! Helpers shared by the browser tests: unique database names, a factory
//! reopening one IndexedDB store, and raw IndexedDB access for planting bad data.

#![allow(dead_code)] // each test file uses a part

pub mod platform;

use plasma::client::IndexedDbStore;
use plasma_conformance::store::StoreFactory;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// A database name no other test uses.
pub fn unique_name(test: &str) -> String {
    let random = (js_sys::Math::random() * 1e12) as u64;
    format!("plasma-test/{test}/{}-{random:x}", js_sys::Date::now() as u64)
}

/// Reopens the IndexedDB database `name`; deletes it when dropped... not
/// possible asynchronously, so tests call [`Idb::delete`] at the end.
pub struct Idb(pub String);

impl Idb {
    /// A fresh database for `test`.
    pub fn fresh(test: &str) -> Self {
        Idb(unique_name(test))
    }

    /// Deletes the database (every store on it must be dropped first).
    pub async fn delete(self) {
        IndexedDbStore::delete_database(&self.0).await.expect("delete database");
    }
}

impl StoreFactory for Idb {
    type Store = IndexedDbStore;
    async fn open(&self) -> IndexedDbStore {
        IndexedDbStore::open_named(&self.0).await.expect("open")
    }
}

async fn wait(req: &web_sys::IdbRequest) -> JsValue {
    let done = js_sys::Promise::new(&mut |resolve, reject| {
        req.set_onsuccess(Some(&resolve));
        req.set_onerror(Some(&reject));
    });
    JsFuture::from(done).await.expect("request");
    req.result().expect("result")
}

/// Puts `value` at `key` of object store `store` of database `name`, with a
/// connection of its own, and waits for the commit.
pub async fn raw_put(name: &str, store: &str, key: &str, value: &str) {
    let factory: web_sys::IdbFactory =
        js_sys::Reflect::get(&js_sys::global(), &"indexedDB".into()).expect("indexedDB").unchecked_into();
    let db: web_sys::IdbDatabase = wait(&factory.open(name).expect("open")).await.unchecked_into();
    let tx = db.transaction_with_str_and_mode(store, web_sys::IdbTransactionMode::Readwrite).expect("tx");
    let done = js_sys::Promise::new(&mut |resolve, reject| {
        tx.set_oncomplete(Some(&resolve));
        tx.set_onabort(Some(&reject));
    });
    tx.object_store(store).expect("store").put_with_key(&value.into(), &key.into()).expect("put");
    JsFuture::from(done).await.expect("commit");
    db.close();
}

/// How many records object store `store` of database `name` holds (a
/// connection of its own).
pub async fn raw_count(name: &str, store: &str) -> u32 {
    let factory: web_sys::IdbFactory =
        js_sys::Reflect::get(&js_sys::global(), &"indexedDB".into()).expect("indexedDB").unchecked_into();
    let db: web_sys::IdbDatabase = wait(&factory.open(name).expect("open")).await.unchecked_into();
    let tx = db.transaction_with_str(store).expect("tx");
    let count = wait(&tx.object_store(store).expect("store").count().expect("count")).await;
    db.close();
    count.as_f64().expect("a number") as u32
}
