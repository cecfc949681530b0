//! The browser platform on its own, in headless Chromium: timers, clock,
//! randomness, endpoint resolution, and a failed `fetch` mapped to a network error.

#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use plasma::client::platform::web::{FetchTransport, WebPlatform};
use plasma::client::{Platform, Transport, TransportError};
use plasma::protocol::{PROTOCOL_VERSION, PullRequest};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn sleep_waits_about_as_long_as_asked() {
    let platform = WebPlatform::new();
    let start = platform.now_ms();
    assert!(start > 1_600_000_000_000, "Date.now() in milliseconds: {start}");
    platform.sleep(Duration::from_millis(120)).await;
    let waited = platform.now_ms() - start;
    assert!((110..2_000).contains(&waited), "slept {waited} ms for 120");
}

#[wasm_bindgen_test]
async fn spawned_tasks_run_and_sleeps_can_be_dropped() {
    let platform = WebPlatform::new();
    drop(platform.sleep(Duration::from_millis(1)));
    let (tx, rx) = futures_channel::oneshot::channel();
    platform.spawn(Box::pin(async move {
        WebPlatform::new().sleep(Duration::from_millis(10)).await;
        let _ = tx.send(7);
    }));
    assert_eq!(rx.await, Ok(7), "the spawned task ran to its end");
}

#[wasm_bindgen_test]
fn random_bits_differ() {
    let platform = WebPlatform::new();
    let draws: Vec<u64> = (0..8).map(|_| platform.random_u64()).collect();
    let mut distinct = draws.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), draws.len(), "{draws:?}");
    assert!(draws.iter().any(|d| d >> 53 != 0), "all 64 bits are used: {draws:?}");
}

#[wasm_bindgen_test]
fn relative_endpoints_resolve_against_the_page_and_pokes_use_ws() {
    let page = web_sys_origin();
    let relative = FetchTransport::new("/sync/").expect("relative endpoint");
    assert_eq!(relative.endpoint(), format!("{page}/sync"));
    assert_eq!(relative.poke_url("g 1"), format!("{}/sync/poke?clientGroupID=g%201", page.replacen("http", "ws", 1)));
    let absolute = FetchTransport::new("https://sync.example:8443/api/sync").expect("absolute endpoint");
    assert_eq!(absolute.poke_url("g"), "wss://sync.example:8443/api/sync/poke?clientGroupID=g");
    assert!(FetchTransport::new("ftp://example.com/sync").is_err(), "only http(s)");
}

fn web_sys_origin() -> String {
    let location = js_sys::Reflect::get(&js_sys::global(), &"location".into()).expect("a page");
    js_sys::Reflect::get(&location, &"origin".into()).expect("origin").as_string().expect("a string")
}

#[wasm_bindgen_test]
async fn an_unreachable_server_is_a_network_error() {
    // Port 9 (discard) on 127.0.0.1: nothing listens, the connection is refused.
    let transport = FetchTransport::new("http://127.0.0.1:9/sync").expect("endpoint");
    let request = PullRequest {
        protocol_version: PROTOCOL_VERSION,
        schema_version: "v".into(),
        client_group_id: "g".into(),
        cookie: None,
    };
    match transport.pull(request).await {
        Err(TransportError::Network { message, .. }) => assert!(!message.is_empty()),
        other => panic!("expected a network error, got {other:?}"),
    }
    assert!(transport.pokes("g").await.is_err(), "no poke socket either");
}
