//! Wall-clock milliseconds for bookkeeping stamps (group last seen, idle
//! forgetting). wasm32 has no `SystemTime`: a Worker reads `Date.now()`.

/// Milliseconds since the Unix epoch.
#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Milliseconds since the Unix epoch.
#[cfg(target_arch = "wasm32")]
pub fn now_ms() -> i64 {
    // Date.now() is an integral number of milliseconds.
    js_sys::Date::now() as i64
}
