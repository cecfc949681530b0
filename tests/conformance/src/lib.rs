//! Conformance scenarios shared by every backend.
//!
//! Each scenario is an `async fn` generic over the backend it exercises, so the
//! same assertions run natively on memory and SQLite (`plasma-tests`, with
//! `cargo test`) and on IndexedDB in headless Chromium (`plasma-web-tests`,
//! with wasm-bindgen-test). Scenarios panic on a failed assertion, as tests do.

#![deny(missing_docs)]

pub mod executor;
pub mod fixtures;
pub mod fuzz;
pub mod live;
pub mod store;
