//! The todo quick start's browser client (wasm32 only; natively this crate
//! is empty so `cargo clippy --workspace` passes without Leptos).
//!
//! Leptos (CSR) on plasma: the client keeps its state in IndexedDB, runs
//! the shared mutators of the `todo` crate optimistically, and syncs with the
//! todo server that serves this page (`/sync`, same origin, pokes on). The
//! user comes from the page URL, `/?user=NAME` (default `alice`), and is sent
//! as the `x-user` header; each user has one client group per browser
//! profile (`todo-NAME`). The server's read scopes decide what reaches the
//! page: the user's private todos ("My todos") and the lists shared with
//! them, one tab each.
//!
//! Build and run it all with `cargo xtask todo`.

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod connect;
#[cfg(target_arch = "wasm32")]
mod item;
#[cfg(target_arch = "wasm32")]
mod lists;
#[cfg(target_arch = "wasm32")]
mod status;

/// The entry point wasm-bindgen runs when the page loads the module.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    wasm_bindgen_futures::spawn_local(app::run());
}
