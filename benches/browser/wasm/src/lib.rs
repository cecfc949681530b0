//! plasma's suite of the browser benchmark in `benches/browser` (see its README).
//!
//! [`kv`] is the benchmark's app: one table of 1 KB values and the mutators
//! the cases need, shared by the wasm client ([`web`], driven from
//! `benches/browser/src/plasma.js`) and the native server the initial-sync
//! cases pull from (`src/bin/kv_server.rs`).

pub mod kv;
#[cfg(target_arch = "wasm32")]
pub mod web;
