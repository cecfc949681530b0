//! Futures over IndexedDB's event callbacks, without closures to leak: the
//! browser calls a promise's `resolve`/`reject` directly.

use js_sys::Promise;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbRequest, IdbTransaction};

use super::error::IdbError;

/// Completes with the request's result once it succeeds. Listens at once
/// (not when first polled), so requests issued together may be awaited one
/// after the other without missing an event.
pub(super) fn request(context: &str, req: &IdbRequest) -> impl Future<Output = Result<JsValue, IdbError>> + use<> {
    let done = Promise::new(&mut |resolve, reject| {
        req.set_onsuccess(Some(&resolve));
        req.set_onerror(Some(&reject));
    });
    let context = context.to_owned();
    let req = req.clone();
    async move {
        JsFuture::from(done).await.map_err(|e| IdbError::from_js(&context, &e))?;
        req.result().map_err(|e| IdbError::from_js(&context, &e))
    }
}

/// A promise that resolves when `tx` has committed (its `complete` event:
/// the writes are durable) and rejects when it aborts. Must be created before
/// control returns to the event loop, so no event is missed.
pub(super) fn committed(tx: &IdbTransaction) -> Promise {
    Promise::new(&mut |resolve, reject| {
        tx.set_oncomplete(Some(&resolve));
        tx.set_onabort(Some(&reject));
    })
}

/// Waits for a promise from [`committed`].
pub(super) async fn wait_committed(context: &str, done: Promise) -> Result<(), IdbError> {
    JsFuture::from(done).await.map(drop).map_err(|e| IdbError::from_js(context, &e))
}
