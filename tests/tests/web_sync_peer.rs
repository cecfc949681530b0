//! The native half of the browser sync test (`xtask/src/web_sync.rs` runs
//! it next to `tests/web/tests/sync.rs` in headless Chromium, against one
//! `todo` server whose URL is in `PLASMA_SYNC_URL`). Ignored otherwise.
//!
//! The script both sides follow, each waiting in a live query:
//! 1. native creates `native: first`;
//! 2. the browser creates `wasm: <tag>`; native, on seeing it, creates
//!    `native: reply to wasm: <tag>`;
//! 3. the browser, having seen both native todos, gets one mutation
//!    rejected by the server, then creates `wasm: done`;
//! 4. both sides end with exactly the same four todos (the rejected
//!    mutation left nothing behind on either).

use std::time::Duration;

use futures_util::StreamExt;
use plasma::client::MemoryStore;
use todo::{CreateTodo, Todo, create_todo};

/// The whole exchange must be over by then.
const DEADLINE: Duration = Duration::from_secs(90);

#[tokio::test]
#[ignore = "run by xtask/src/web_sync.rs with PLASMA_SYNC_URL set, next to the browser half"]
async fn native_peer_converges_with_the_browser_client() {
    let url = std::env::var("PLASMA_SYNC_URL").expect("PLASMA_SYNC_URL (the todo server, http://127.0.0.1:PORT)");
    tokio::time::timeout(DEADLINE, exchange(&url)).await.expect("the browser did its part in time");
}

async fn exchange(url: &str) {
    let client = todo::client::connect(&format!("{url}/sync"), "alice", "native-peer", MemoryStore::new())
        .await
        .expect("client");
    client.start();
    let all = client.live(&Todo::select()).expect("live query");
    let mut changes = all.changes();
    let first = CreateTodo { id: client.new_id(), title: "native: first".into(), updated_at: 1, list_id: None };
    client.mutate::<create_todo>(first).expect("mutate").await.expect("the server applies it");
    eprintln!("native peer: created `native: first`");

    let titles = |all: &plasma::client::LiveQuery<Todo>| -> Vec<String> {
        // The script's todos; other browser tests write `poke: ...` ones.
        let mut titles: Vec<String> = all
            .rows()
            .expect("rows")
            .into_iter()
            .map(|t| t.title)
            .filter(|t| t.starts_with("wasm: ") || t.starts_with("native: "))
            .collect();
        titles.sort();
        titles
    };
    let mut replied = false;
    loop {
        let now = titles(&all);
        if !replied && let Some(wasm) = now.iter().find(|t| t.starts_with("wasm: ") && *t != "wasm: done") {
            let reply = CreateTodo {
                id: client.new_id(),
                title: format!("native: reply to {wasm}"),
                updated_at: 2,
                list_id: None,
            };
            eprintln!("native peer: saw `{wasm}`, replying");
            client.mutate::<create_todo>(reply).expect("mutate").await.expect("the server applies it");
            replied = true;
            continue;
        }
        if now.iter().any(|t| t == "wasm: done") {
            assert!(replied, "the browser finished before its todo reached the native client: {now:?}");
            assert_eq!(now.len(), 4, "exactly the four todos of the script, nothing of the rejected import: {now:?}");
            eprintln!("native peer: converged on {now:?}");
            return;
        }
        changes.next().await.expect("the live query lives as long as the client");
    }
}
