//! Browser test crate: everything lives in `tests/`, compiled for wasm32 only.
