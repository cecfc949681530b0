//! The wasm32 client against the real todo server, in headless Chromium:
//! push, pull and pokes with `FetchTransport`/`WebPlatform`, convergence
//! with a native client, a server rejection reaching the mutation's handle,
//! and the server's error bodies decoded.
//!
//! The server's URL comes in at compile time (`PLASMA_SYNC_URL`, for example
//! `http://127.0.0.1:38211`): `xtask/src/web_sync.rs` starts the `todo`
//! server allowing any origin, builds this test with the URL, and runs the
//! native half (`tests/tests/web_sync_peer.rs`) next to it. Without the
//! variable these tests only say they were skipped.

#![cfg(target_arch = "wasm32")]

use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{Either, select};
use futures_util::{FutureExt, StreamExt};
use plasma::client::platform::web::{FetchTransport, WebPlatform};
use plasma::client::{Client, LiveQuery, MemoryStore, MutationFailed, Platform, Transport, TransportError};
use plasma::protocol::{ErrorCode, PROTOCOL_VERSION, PullRequest};
use todo::{CreateTodo, Ctx, ImportTodos, SCHEMA, SCHEMA_VERSION, Todo, TodoMutators, USER_HEADER};
use todo::{create_todo, import_todos};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The driver's server, or `None` when run without it.
const SERVER: Option<&str> = option_env!("PLASMA_SYNC_URL");

/// Every wait in these tests gives up after this long (the native half may
/// still be starting when the browser begins).
const DEADLINE: Duration = Duration::from_secs(60);

fn server() -> Option<String> {
    match SERVER {
        Some(url) => Some(url.trim_end_matches('/').to_owned()),
        None => {
            console_log!("skipped: PLASMA_SYNC_URL was not set at build time (xtask/src/web_sync.rs sets it)");
            None
        }
    }
}

/// A browser client of the todo app for `user` in a fresh client group.
/// The context captures an `Rc`: nothing about the client asks for `Send`.
async fn browser_client(url: &str, user: &str, tag: &str) -> Client<TodoMutators> {
    let transport = FetchTransport::new(&format!("{url}/sync")).expect("endpoint").header(USER_HEADER, user);
    let user: Rc<str> = Rc::from(user);
    let group = format!("browser-{tag}-{}", WebPlatform::new().random_u64());
    Client::<TodoMutators>::builder(&SCHEMA, group)
        .context(move || Ctx::client(user.to_string()))
        .store(MemoryStore::new())
        .pokes(true)
        // Only a poke (or our own push) makes it pull within the test.
        .pull_interval(Duration::from_secs(600))
        .build(transport, WebPlatform::new())
        .await
        .expect("client")
}

/// Fails the test if `future` is not done within [`DEADLINE`].
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    let future = std::pin::pin!(future);
    match select(future, WebPlatform::new().sleep(DEADLINE)).await {
        Either::Left((value, _)) => value,
        Either::Right(_) => panic!("{what}: not within {DEADLINE:?}"),
    }
}

/// The titles of the script shared with the native peer (other tests' todos,
/// `poke: ...`, share the server but not the script).
fn titles(live: &LiveQuery<Todo>) -> Vec<String> {
    let mut titles: Vec<String> = live
        .rows()
        .expect("rows")
        .into_iter()
        .map(|t| t.title)
        .filter(|t| t.starts_with("wasm: ") || t.starts_with("native: "))
        .collect();
    titles.sort();
    titles
}

/// Waits until the live query's titles satisfy `done`.
async fn until(what: &str, live: &LiveQuery<Todo>, done: impl Fn(&[String]) -> bool) {
    let mut changes = live.changes();
    within(what, async {
        while !done(&titles(live)) {
            changes.next().await.expect("the live query outlives the wait");
        }
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_browser_client_converges_with_a_native_client_and_sees_rejections() {
    let Some(url) = server() else { return };
    let client = browser_client(&url, "alice", "main").await;
    let all = client.live(&Todo::select()).expect("live query");
    client.start();

    // Push: our todo reaches the server (the native peer replies to it).
    let mine = format!("wasm: {}", client.new_id());
    let id = client.new_id();
    let created = CreateTodo { id: id.clone(), title: mine.clone(), updated_at: 1, list_id: None };
    let handle = client.mutate::<create_todo>(created).expect("mutate");
    within("the server confirms our todo", handle).await.expect("the server applies it");

    // Pull and pokes: the native client's first todo, and its reply to ours,
    // which it can only write after it saw ours (we do not poll meanwhile).
    let reply = format!("native: reply to {mine}");
    until("the native client's todos arrive", &all, |t| t.contains(&"native: first".to_owned()) && t.contains(&reply))
        .await;

    // A rejection: a second browser client, which has not pulled yet, imports
    // a new todo and then one whose id is taken. It runs locally; the server
    // refuses the whole import, and the first entry vanishes here too.
    let late = browser_client(&url, "alice", "late").await;
    let fresh = late.new_id();
    let import = ImportTodos {
        todos: vec![
            CreateTodo { id: fresh.clone(), title: "wasm: imported".into(), updated_at: 3, list_id: None },
            CreateTodo { id: id.clone(), title: "wasm: duplicate".into(), updated_at: 3, list_id: None },
        ],
    };
    let refused = late.mutate::<import_todos>(import).expect("runs locally: this client knows no todos yet");
    assert_eq!(late.query(&Todo::select()).expect("query").len(), 2, "optimistic writes are visible at once");
    late.start();
    match within("the server answers the import", refused).await {
        Err(MutationFailed::Rejected(reason)) => console_log!("rejected as expected: {reason}"),
        other => panic!("the server must reject the import, got {other:?}"),
    }
    let late_titles: Vec<String> = late.query(&Todo::select()).expect("query").into_iter().map(|t| t.title).collect();
    assert!(!late_titles.iter().any(|t| t.starts_with("wasm: imported") || t == "wasm: duplicate"), "{late_titles:?}");
    assert!(late_titles.contains(&mine), "the late client pulled the shared state: {late_titles:?}");

    // Tell the native peer we are done; both sides must end with these four.
    let done = CreateTodo { id: client.new_id(), title: "wasm: done".into(), updated_at: 4, list_id: None };
    within("the server confirms the last todo", client.mutate::<create_todo>(done).expect("mutate"))
        .await
        .expect("applied");
    let mut expected = vec!["native: first".to_owned(), reply, mine, "wasm: done".to_owned()];
    expected.sort();
    until("the browser ends with exactly the script's todos", &all, |t| t == expected.as_slice()).await;
    assert!(late.pending_count().expect("count") == 0, "nothing left pending");
}

#[wasm_bindgen_test]
async fn the_poke_socket_opens_with_credentials_and_pokes_after_a_push() {
    let Some(url) = server() else { return };
    let transport = FetchTransport::new(&format!("{url}/sync")).expect("endpoint").header(USER_HEADER, "carol");
    let group = format!("browser-pokes-{}", WebPlatform::new().random_u64());
    let mut pokes = within("the socket opens", transport.pokes(&group)).await.expect("poke socket");
    within("the greeting poke", pokes.next()).await.expect("a poke on connect");
    // Nothing changed: no poke for a while.
    let quiet = select(pokes.next(), WebPlatform::new().sleep(Duration::from_millis(300))).await;
    assert!(matches!(quiet, Either::Right(_)), "no poke without a change");
    // Another client's push pokes every socket.
    let writer = browser_client(&url, "carol", "writer").await;
    writer.start();
    let todo = CreateTodo {
        id: writer.new_id(),
        title: "poke: from another browser client".into(),
        updated_at: 1,
        list_id: None,
    };
    let _handle = writer.mutate::<create_todo>(todo).expect("mutate");
    within("a poke after the push", pokes.next()).await.expect("a poke, not the end of the stream");
    // Without credentials the socket does not open (the auth hook refuses the upgrade).
    let anonymous = FetchTransport::new(&format!("{url}/sync")).expect("endpoint");
    assert!(within("the refusal", anonymous.pokes(&group)).await.is_err());
    drop(writer);
    let _ = pokes.next().now_or_never();
}

#[wasm_bindgen_test]
async fn the_server_error_bodies_reach_the_browser_decoded() {
    let Some(url) = server() else { return };
    let request = |schema_version: &str| PullRequest {
        protocol_version: PROTOCOL_VERSION,
        schema_version: schema_version.into(),
        client_group_id: format!("browser-errors-{}", WebPlatform::new().random_u64()),
        cookie: None,
    };
    let anonymous = FetchTransport::new(&format!("{url}/sync")).expect("endpoint");
    match anonymous.pull(request(SCHEMA_VERSION)).await {
        Err(TransportError::Server { status: 401, body }) => assert_eq!(body.error, ErrorCode::Unauthorized),
        other => panic!("expected the server's 401 body, got {other:?}"),
    }
    let alice = anonymous.clone().header(USER_HEADER, "alice");
    match alice.pull(request("todos-v0")).await {
        Err(TransportError::Server { status: 409, body }) => {
            assert_eq!(body.error, ErrorCode::SchemaVersionMismatch);
            assert!(!body.retryable);
        }
        other => panic!("expected the server's 409 body, got {other:?}"),
    }
    let page = alice.pull(request(SCHEMA_VERSION)).await.expect("a pull with credentials works");
    assert!(page.limits.is_some(), "a real answer, decoded");
}

/// Talks to the server while `down` is unset; while set, every request is a
/// real `fetch` to a closed port on 127.0.0.1 and fails as a real browser's
/// network error does.
struct Flaky {
    live: FetchTransport,
    dead: FetchTransport,
    down: Rc<std::cell::Cell<bool>>,
}

impl Transport for Flaky {
    fn push(
        &self,
        request: plasma::protocol::PushRequest,
    ) -> plasma::client::BoxFuture<'static, Result<plasma::protocol::PushResponse, TransportError>> {
        if self.down.get() { self.dead.push(request) } else { self.live.push(request) }
    }

    fn pull(
        &self,
        request: PullRequest,
    ) -> plasma::client::BoxFuture<'static, Result<plasma::protocol::PullResponse, TransportError>> {
        if self.down.get() { self.dead.pull(request) } else { self.live.pull(request) }
    }
}

/// Waits until the client reports `status`.
async fn until_status(client: &Client<TodoMutators>, status: plasma::client::SyncStatus) {
    within(&format!("status {status:?}"), async {
        while client.status() != status {
            WebPlatform::new().sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[wasm_bindgen_test]
async fn going_offline_and_coming_back_follow_the_native_rules() {
    let Some(url) = server() else { return };
    let down = Rc::new(std::cell::Cell::new(true));
    let transport = Flaky {
        live: FetchTransport::new(&format!("{url}/sync")).expect("endpoint").header(USER_HEADER, "olga"),
        dead: FetchTransport::new("http://127.0.0.1:9/sync").expect("endpoint"),
        down: Rc::clone(&down),
    };
    let group = format!("browser-offline-{}", WebPlatform::new().random_u64());
    let client = Client::<TodoMutators>::builder(&SCHEMA, group)
        .context(|| Ctx::client("olga"))
        .store(MemoryStore::new())
        .pull_interval(Duration::from_secs(600))
        .backoff(plasma::client::BackoffConfig { initial: Duration::from_millis(50), max: Duration::from_millis(400) })
        .build(transport, WebPlatform::new())
        .await
        .expect("client");
    client.start();
    let id = client.new_id();
    let handle = client.mutate::<create_todo>(CreateTodo {
        id: id.clone(),
        title: "offline: queued".into(),
        updated_at: 1,
        list_id: None,
    });
    let handle = handle.expect("mutate offline");
    assert_eq!(client.query(&Todo::select().filter(Todo::ID.eq(id.as_str()))).expect("query").len(), 1);

    // Fetch fails: the client says so, keeps the mutation, and retries with backoff.
    until_status(&client, plasma::client::SyncStatus::Offline).await;
    WebPlatform::new().sleep(Duration::from_millis(300)).await;
    assert_eq!(client.status(), plasma::client::SyncStatus::Offline, "still offline while fetch fails");
    assert_eq!(client.pending_count().expect("pending"), 1, "nothing is lost while offline");

    // Back: the next retry pushes it, the server applies it, the status settles.
    down.set(false);
    within("the queued mutation after reconnecting", handle).await.expect("applied by the server");
    until_status(&client, plasma::client::SyncStatus::InSync).await;
    assert_eq!(client.pending_count().expect("pending"), 0);
}
