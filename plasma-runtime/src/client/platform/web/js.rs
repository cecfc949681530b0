//! Bindings to the global scope (window or worker) and the error type for
//! JavaScript exceptions, which are not `Send` and so cannot be kept as a source.

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch(request)`.
    #[wasm_bindgen(js_name = fetch)]
    pub(super) fn fetch_request(request: &web_sys::Request) -> js_sys::Promise;

    /// The global `setTimeout(handler, ms)`; its id is a number on pages and in workers.
    #[wasm_bindgen(js_name = setTimeout, catch)]
    pub(super) fn set_timeout(handler: &js_sys::Function, ms: i32) -> Result<JsValue, JsValue>;

    /// The global `clearTimeout(id)`.
    #[wasm_bindgen(js_name = clearTimeout)]
    pub(super) fn clear_timeout(id: &JsValue);
}

/// A JavaScript exception or failure, kept as its message (`String(error)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JsError {
    /// What JavaScript said, for example `TypeError: Failed to fetch`.
    pub message: String,
}

impl From<JsValue> for JsError {
    fn from(value: JsValue) -> Self {
        let message = match value.dyn_ref::<js_sys::Error>() {
            Some(error) => format!("{}: {}", String::from(error.name()), String::from(error.message())),
            None => value.as_string().unwrap_or_else(|| format!("{value:?}")),
        };
        JsError { message }
    }
}

/// A property of the global scope (`location`, `crypto`), if present.
pub(super) fn global_property(name: &str) -> Option<JsValue> {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str(name)).ok().filter(|v| !v.is_undefined() && !v.is_null())
}

/// The page's (or worker's) URL, which relative endpoints resolve against.
pub(super) fn location_href() -> Option<String> {
    let location = global_property("location")?;
    js_sys::Reflect::get(&location, &JsValue::from_str("href")).ok()?.as_string()
}
