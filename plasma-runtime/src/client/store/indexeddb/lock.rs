//! Which tab owns which client: an exclusive Web Lock per client id
//! (`navigator.locks`), held while the store is open and released by the
//! browser when the tab closes or crashes. A store resumes a client only if
//! it can take that client's lock, so two open tabs never write as one
//! client, and a closed tab's client (with its unpushed queue) is adopted by
//! the next tab that opens. Reached through `Reflect` because web-sys gates
//! the Locks API behind its unstable flag.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::error::IdbError;

/// A Web Lock held until dropped (or one that was never granted).
#[derive(Debug)]
pub(super) struct HeldLock {
    release: Function,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        // Resolving the promise the lock callback returned releases the lock.
        let _ = self.release.call0(&JsValue::NULL);
    }
}

/// The name of client `client_id`'s lock in database `db`.
pub(super) fn client_lock(db: &str, client_id: &str) -> String {
    format!("plasma/{db}/client/{client_id}")
}

/// Requests lock `name`: if `if_available`, only if no one holds it now.
/// Returns the lock (held from when it is granted until dropped) and
/// whether it was granted. Without Web Locks (an old browser) every request
/// is granted: one tab at a time is then assumed.
pub(super) fn request(name: &str, if_available: bool) -> Result<(HeldLock, Promise), IdbError> {
    let context = "requesting a Web Lock";
    let js = |e: JsValue| IdbError::from_js(context, &e);
    let mut release = None;
    let held = Promise::new(&mut |resolve, _| release = Some(resolve));
    let release = release.ok_or_else(|| js(JsValue::from_str("the promise executor did not run")))?;
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).map_err(js)?;
    let locks = if navigator.is_undefined() {
        JsValue::UNDEFINED
    } else {
        Reflect::get(&navigator, &"locks".into()).map_err(js)?
    };
    if locks.is_undefined() {
        return Ok((HeldLock { release }, Promise::resolve(&JsValue::TRUE)));
    }
    let mut granted_fn = None;
    let granted = Promise::new(&mut |resolve, _| granted_fn = Some(resolve));
    let granted_fn = granted_fn.ok_or_else(|| js(JsValue::from_str("the promise executor did not run")))?;
    let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
        let got = !lock.is_null();
        let _ = granted_fn.call1(&JsValue::NULL, &JsValue::from_bool(got));
        if got { held.into() } else { Promise::resolve(&JsValue::UNDEFINED).into() }
    });
    let options = Object::new();
    Reflect::set(&options, &"ifAvailable".into(), &JsValue::from_bool(if_available)).map_err(js)?;
    let request: Function = Reflect::get(&locks, &"request".into()).map_err(js)?.dyn_into().map_err(js)?;
    request.call3(&locks, &JsValue::from_str(name), &options, &callback).map_err(js)?;
    Ok((HeldLock { release }, granted))
}

/// Takes lock `name` if no one holds it: `None` if someone does.
pub(super) async fn try_take(name: &str) -> Result<Option<HeldLock>, IdbError> {
    let (lock, granted) = request(name, true)?;
    let granted = JsFuture::from(granted).await.map_err(|e| IdbError::from_js("waiting for a Web Lock", &e))?;
    Ok(granted.as_bool().unwrap_or(false).then_some(lock))
}
