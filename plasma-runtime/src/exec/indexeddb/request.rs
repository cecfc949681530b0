//! IndexedDB's callback API as futures: one [`Request`] per `IDBRequest`
//! (cursors fire it repeatedly), [`Done`] for a transaction's end, and the
//! error type that carries a `DOMException` out of JavaScript.

use std::fmt;

use futures_channel::mpsc;
use futures_util::StreamExt;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{DomException, Event, IdbRequest, IdbTransaction};

use crate::error::{ErrorSource, ExecError};

/// A failure reported by the browser's IndexedDB (a `DOMException` or a thrown
/// value), as a Rust error that can travel as an [`ErrorSource`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdbError {
    /// The exception's name (`"QuotaExceededError"`, `"AbortError"`, ...).
    pub name: String,
    /// The exception's message.
    pub message: String,
}

impl fmt::Display for IdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl std::error::Error for IdbError {}

impl IdbError {
    /// Reads a thrown JavaScript value.
    pub fn from_js(value: &JsValue) -> Self {
        match value.dyn_ref::<DomException>() {
            Some(e) => IdbError { name: e.name(), message: e.message() },
            None => match value.dyn_ref::<js_sys::Error>() {
                Some(e) => IdbError { name: String::from(e.name()), message: String::from(e.message()) },
                None => IdbError { name: "Error".to_owned(), message: format!("{value:?}") },
            },
        }
    }
}

/// Wraps an IndexedDB failure as [`ExecError::Storage`], keeping the cause.
pub(crate) fn storage(context: &str, error: IdbError) -> ExecError {
    ExecError::Storage { message: format!("IndexedDB {context}: {error}"), source: Some(ErrorSource::new(error)) }
}

/// `map_err` adapter for calls that throw a JavaScript value.
pub(crate) fn thrown(context: &'static str) -> impl Fn(JsValue) -> ExecError {
    move |e| storage(context, IdbError::from_js(&e))
}

type Outcome = Result<JsValue, IdbError>;

/// An `IDBRequest` in flight. The request was sent when IndexedDB returned it;
/// awaiting only collects the answer. Dropping it detaches the handlers.
pub(crate) struct Request {
    request: IdbRequest,
    events: mpsc::UnboundedReceiver<Outcome>,
    _on_success: Closure<dyn FnMut(Event)>,
    _on_error: Closure<dyn FnMut(Event)>,
}

impl Request {
    /// Listens to `request` (call right after issuing it, before any await).
    pub(crate) fn new(request: IdbRequest) -> Self {
        let (tx, events) = mpsc::unbounded();
        let ok = tx.clone();
        let target = request.clone();
        let on_success = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            let _ = ok.unbounded_send(target.result().map_err(|e| IdbError::from_js(&e)));
        });
        let target = request.clone();
        let on_error = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            // Keep the transaction alive: the failure is reported to the
            // caller, which decides (plasma's transactions abort on drop).
            event.prevent_default();
            let error = match target.error() {
                Ok(Some(e)) => IdbError { name: e.name(), message: e.message() },
                Ok(None) => IdbError { name: "UnknownError".to_owned(), message: "request failed".to_owned() },
                Err(e) => IdbError::from_js(&e),
            };
            let _ = tx.unbounded_send(Err(error));
        });
        request.set_onsuccess(Some(on_success.as_ref().unchecked_ref()));
        request.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Request { request, events, _on_success: on_success, _on_error: on_error }
    }

    /// The next result (a request's only one, or a cursor's next position).
    pub(crate) async fn next(&mut self) -> Result<JsValue, IdbError> {
        match self.events.next().await {
            Some(outcome) => outcome,
            None => Err(IdbError { name: "AbortError".to_owned(), message: "request dropped".to_owned() }),
        }
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        self.request.set_onsuccess(None);
        self.request.set_onerror(None);
    }
}

/// Issues a request (`issue` returns the `IDBRequest` or throws) and awaits its result.
pub(crate) async fn call(
    context: &'static str,
    issue: impl FnOnce() -> Result<IdbRequest, JsValue>,
) -> Result<JsValue, ExecError> {
    let mut request = Request::new(issue().map_err(thrown(context))?);
    request.next().await.map_err(|e| storage(context, e))
}

/// How a transaction ended.
pub(crate) type Ending = Result<(), IdbError>;

/// Watches an `IDBTransaction` for `complete` / `abort` / `error`, from its
/// creation so no event is missed.
pub(crate) struct Done {
    tx: IdbTransaction,
    events: mpsc::UnboundedReceiver<Ending>,
    _handlers: [Closure<dyn FnMut(Event)>; 2],
}

impl Done {
    /// Starts watching `tx`.
    pub(crate) fn watch(tx: &IdbTransaction) -> Self {
        let (send, events) = mpsc::unbounded();
        let complete = send.clone();
        let on_complete = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            let _ = complete.unbounded_send(Ok(()));
        });
        let target = tx.clone();
        let on_abort = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            let error = match target.error() {
                Some(e) => IdbError { name: e.name(), message: e.message() },
                None => IdbError { name: "AbortError".to_owned(), message: "transaction aborted".to_owned() },
            };
            let _ = send.unbounded_send(Err(error));
        });
        tx.set_oncomplete(Some(on_complete.as_ref().unchecked_ref()));
        tx.set_onabort(Some(on_abort.as_ref().unchecked_ref()));
        Done { tx: tx.clone(), events, _handlers: [on_complete, on_abort] }
    }

    /// Waits for the transaction to end.
    pub(crate) async fn wait(&mut self) -> Ending {
        match self.events.next().await {
            Some(ending) => ending,
            None => Err(IdbError { name: "AbortError".to_owned(), message: "transaction dropped".to_owned() }),
        }
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        self.tx.set_oncomplete(None);
        self.tx.set_onabort(None);
    }
}
