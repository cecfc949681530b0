//! The browser platform (feature `web`, wasm32 only): [`FetchTransport`]
//! (push and pull with `fetch`, pokes over the browser's `WebSocket`),
//! [`WebPlatform`] (`setTimeout` timers, `spawn_local` tasks, `Date.now`,
//! `crypto.getRandomValues`), and [`BroadcastTabs`] (other tabs' writes over a
//! `BroadcastChannel`).
//!
//! Everything here works on a page and in a worker: it only uses the global
//! scope's `fetch`, `setTimeout`, `clearTimeout`, `crypto`, `location` and
//! `BroadcastChannel`.

mod fetch;
mod js;
mod platform;
mod pokes;
mod tabs;

pub use fetch::{FetchTransport, HeaderProvider};
pub use js::JsError;
pub use platform::WebPlatform;
pub use tabs::BroadcastTabs;
