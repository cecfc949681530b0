//! A test-only browser platform (until the web platform lands) and a
//! transport that records pushes and never answers pulls.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use plasma::client::{BoxFuture, Platform, Transport, TransportError};
use plasma::protocol::{PullRequest, PullResponse, PushRequest, PushResponse};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Tasks on the page's microtask queue, timers by `setTimeout`.
pub struct TestPlatform;

/// Completes after `ms` milliseconds.
pub async fn sleep_ms(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let set_timeout: js_sys::Function =
            js_sys::Reflect::get(&js_sys::global(), &"setTimeout".into()).expect("setTimeout").unchecked_into();
        set_timeout.call2(&js_sys::global(), &resolve, &ms.into()).expect("setTimeout");
    });
    JsFuture::from(promise).await.expect("timer");
}

impl Platform for TestPlatform {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        wasm_bindgen_futures::spawn_local(task);
    }
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let ms = u32::try_from(duration.as_millis()).unwrap_or(u32::MAX);
        Box::pin(sleep_ms(ms))
    }
    fn now_ms(&self) -> i64 {
        js_sys::Date::now() as i64
    }
    fn random_u64(&self) -> u64 {
        (js_sys::Math::random() * 2f64.powi(53)) as u64
    }
}

/// Records every push (answering as a server that applied it, or failing
/// as offline) and never answers a pull.
#[derive(Clone, Default)]
pub struct Recorder {
    /// Pushes received, in order.
    pub pushes: Rc<RefCell<Vec<PushRequest>>>,
    /// Fail every push as a network error.
    pub offline: bool,
}

impl Transport for Recorder {
    fn push(&self, request: PushRequest) -> BoxFuture<'static, Result<PushResponse, TransportError>> {
        if self.offline {
            return Box::pin(async { Err(TransportError::network("offline")) });
        }
        let mut last = std::collections::BTreeMap::new();
        for m in &request.mutations {
            last.insert(m.client_id.clone(), m.id);
        }
        self.pushes.borrow_mut().push(request);
        Box::pin(async move { Ok(PushResponse { last_mutation_ids: last }) })
    }
    fn pull(&self, _: PullRequest) -> BoxFuture<'static, Result<PullResponse, TransportError>> {
        Box::pin(std::future::pending())
    }
}
