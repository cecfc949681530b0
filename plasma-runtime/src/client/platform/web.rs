//! The browser platform (feature `web`, wasm32 only): [`FetchTransport`]
//! (push and pull with `fetch`, pokes over the browser's `WebSocket`) and
//! [`WebPlatform`] (`setTimeout` timers, `spawn_local` tasks, `Date.now`,
//! `crypto.getRandomValues`).
//!
//! Everything here works on a page and in a worker: it only uses the global
//! scope's `fetch`, `setTimeout`, `clearTimeout`, `crypto` and `location`.

mod fetch;
mod js;
mod platform;
mod pokes;

pub use fetch::{FetchTransport, HeaderProvider};
pub use js::JsError;
pub use platform::WebPlatform;
