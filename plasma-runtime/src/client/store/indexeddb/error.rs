//! IndexedDB failures as plain Rust errors: a `JsValue` is neither `Send`
//! nor `Sync`, so the DOMException's name and message are copied out and kept
//! as the [`StoreError`]'s source.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{DomException, Event, IdbRequest, IdbTransaction};

use crate::client::store::StoreError;

/// An IndexedDB operation failed: what plasma was doing, and the
/// DOMException (or JS error) the browser reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{context}: {name}: {message}")]
pub struct IdbError {
    /// What the store was doing (`"opening database plasma-g1"`).
    pub context: String,
    /// The exception's name (`"QuotaExceededError"`, `"AbortError"`...).
    pub name: String,
    /// The exception's message.
    pub message: String,
}

impl IdbError {
    /// Reads the error out of whatever the browser handed over: a
    /// DOMException, a JS `Error`, or the error event of a request or
    /// transaction (whose `error` is the DOMException).
    pub fn from_js(context: impl Into<String>, value: &JsValue) -> Self {
        let (name, message) = describe(value);
        IdbError { context: context.into(), name, message }
    }

    /// Whether the browser refused a request because the transaction was no
    /// longer active (its task ended, it committed or aborted).
    pub fn is_inactive(&self) -> bool {
        self.name == "TransactionInactiveError" || self.name == "InvalidStateError"
    }
}

impl From<IdbError> for StoreError {
    fn from(error: IdbError) -> Self {
        StoreError::io_from(error)
    }
}

fn describe(value: &JsValue) -> (String, String) {
    if let Some(e) = value.dyn_ref::<DomException>() {
        return (e.name(), e.message());
    }
    if let Some(event) = value.dyn_ref::<Event>() {
        let target = event.target();
        let from_target = target.as_ref().and_then(|t| {
            if let Some(request) = t.dyn_ref::<IdbRequest>() {
                request.error().ok().flatten()
            } else {
                t.dyn_ref::<IdbTransaction>().and_then(IdbTransaction::error)
            }
        });
        return match from_target {
            Some(e) => (e.name(), e.message()),
            None => (event.type_(), "the operation failed without an error (aborted)".to_owned()),
        };
    }
    if let Some(e) = value.dyn_ref::<js_sys::Error>() {
        return (String::from(e.name()), String::from(e.message()));
    }
    ("Error".to_owned(), value.as_string().unwrap_or_else(|| format!("{value:?}")))
}
