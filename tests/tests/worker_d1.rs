//! The todo Worker (examples/todo-worker) under `wrangler dev --local`, on a
//! real local D1: native clients converge through it and its Durable Object
//! pokes; rejections, version mismatches and the bad-input table behave as
//! on the axum server; concurrent pushes serialize; D1's limits are split
//! or paged around.
//!
//! Run by `cargo xtask worker` (part of `cargo xtask test`), which builds the
//! Worker, starts wrangler with a fresh state directory and sets
//! `PLASMA_WORKER_URL` (`http://127.0.0.1:PORT`) and `PLASMA_WORKER_STATE`
//! (wrangler's `--persist-to` directory, where the local D1's SQLite file
//! is read to check what requests changed). Needs the feature `worker`, so a
//! plain `cargo test` does not build it; it runs on one test thread, since
//! every test shares the one database.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use plasma::client::platform::native::{HttpTransport, TokioPlatform};
use plasma::client::{Client, MemoryStore, MutationFailed, SyncStatus};
use plasma::protocol::ErrorCode;
use plasma_tests::bad_input::cases;
use plasma_tests::clients::{PATIENCE, client_with, quick_backoff, until};
use plasma_tests::harness::{TIMEOUT, create, dump, send};
use serde_json::{Value, json};
use todo::client::TodoClient;
use todo::{CreateTodo, Ctx, ImportTodos, Todo, TodoMutators, create_todo, import_todos};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The Worker under test.
struct Worker {
    url: String,
    state: PathBuf,
    http: reqwest::Client,
}

fn worker() -> Worker {
    let url = std::env::var("PLASMA_WORKER_URL").expect("PLASMA_WORKER_URL: run through `cargo xtask worker`");
    let state = std::env::var("PLASMA_WORKER_STATE").expect("PLASMA_WORKER_STATE: wrangler's --persist-to directory");
    let http = reqwest::Client::builder().timeout(TIMEOUT).build().expect("client");
    Worker { url, state: PathBuf::from(state), http }
}

impl Worker {
    fn endpoint(&self) -> String {
        format!("{}/sync", self.url)
    }

    async fn raw(&self, method: &str, path: &str, user: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        send(&self.http, method, &format!("{}{path}", self.url), user, body).await
    }

    async fn push(&self, user: &str, group: &str, mutations: Value) -> (u16, Value) {
        let body = json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": group, "mutations": mutations});
        self.raw("POST", "/sync/push", Some(user), body.to_string().into_bytes()).await
    }

    async fn pull(&self, user: &str, group: &str, cookie: Value) -> (u16, Value) {
        let body = json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": group, "cookie": cookie});
        self.raw("POST", "/sync/pull", Some(user), body.to_string().into_bytes()).await
    }

    /// The local D1's SQLite file (wrangler keeps one per database).
    fn database_file(&self) -> PathBuf {
        let dir = self.state.join("v3").join("d1").join("miniflare-D1DatabaseObject");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            // Wrangler keeps its own `metadata.sqlite` beside the database's.
            .filter(|p| p.extension().is_some_and(|x| x == "sqlite") && !p.ends_with("metadata.sqlite"))
            .collect();
        assert_eq!(files.len(), 1, "one local D1 database in {}: {files:?}", dir.display());
        files.remove(0)
    }

    /// Every row the server keeps, read straight from the D1 file.
    fn dump(&self) -> Vec<String> {
        let flags = plasma::exec::rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
        let conn =
            plasma::exec::rusqlite::Connection::open_with_flags(self.database_file(), flags).expect("open D1 file");
        dump(&conn)
    }
}

/// A tag unique to this run, so names never collide with earlier tests' rows.
fn tag(what: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{what}-{nanos:x}")
}

/// The client's todo titles that start with `prefix` (the database is shared by every test).
fn titles(client: &TodoClient, prefix: &str) -> Vec<String> {
    let mut titles: Vec<String> =
        plasma_tests::clients::titles(client).into_iter().filter(|t| t.starts_with(prefix)).collect();
    titles.sort();
    titles
}

fn new_todo(client: &TodoClient, title: &str) -> plasma::client::MutationHandle {
    client
        .mutate::<create_todo>(CreateTodo { id: client.new_id(), title: title.into(), updated_at: 1, list_id: None })
        .expect("mutate")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_clients_converge_through_the_worker_and_its_pokes() {
    let w = worker();
    let run = tag("converge");
    // One user on two devices (groups): each reads what the other writes.
    let user = format!("alice-{run}");
    let laptop = client_with(&w.endpoint(), &user, &format!("{run}-laptop"), MemoryStore::new(), true).await;
    let phone = client_with(&w.endpoint(), &user, &format!("{run}-phone"), MemoryStore::new(), true).await;
    until("both in sync", || laptop.status() == SyncStatus::InSync && phone.status() == SyncStatus::InSync).await;

    let from_laptop = format!("{run} from the laptop");
    let handle = new_todo(&laptop, &from_laptop);
    assert_eq!(titles(&laptop, &run), vec![from_laptop.clone()], "optimistic: visible at once");
    // The phone pulls every 10 minutes: only a poke from the Durable Object explains seeing it.
    let seen = until("the phone sees the laptop's todo", || titles(&phone, &run) == vec![from_laptop.clone()]).await;
    assert_eq!(handle.await, Ok(()));
    let handle = new_todo(&phone, &format!("{run} from the phone"));
    let back = until("the laptop sees the phone's todo", || titles(&laptop, &run).len() == 2).await;
    assert_eq!(handle.await, Ok(()));
    assert_eq!(titles(&laptop, &run), titles(&phone, &run));
    println!("poke latency through the Worker: {seen:?} and {back:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_mutations_resolve_with_the_servers_error_and_roll_back() {
    let w = worker();
    let run = tag("reject");
    let user = format!("dan-{run}");
    let first = client_with(&w.endpoint(), &user, &format!("{run}-1"), MemoryStore::new(), false).await;
    let late = client_with(&w.endpoint(), &user, &format!("{run}-2"), MemoryStore::new(), false).await;
    until("late client pulled once", || late.status() == SyncStatus::InSync).await;

    // The app's server-only rule (titles of at most 100 characters).
    let long = format!("{run} {}", "x".repeat(120));
    let handle = new_todo(&first, &long);
    assert_eq!(titles(&first, &run), vec![long.clone()], "optimistic");
    match tokio::time::timeout(PATIENCE, handle).await.expect("answered") {
        Err(MutationFailed::Rejected(message)) => assert!(message.contains("title too long"), "{message}"),
        other => panic!("expected the title rule's rejection, got {other:?}"),
    }
    assert!(titles(&first, &run).is_empty(), "the optimistic row is gone");

    // A conflict only the server sees: `late` has not pulled `first`'s todo.
    let id = first.new_id();
    let handle = first.mutate::<create_todo>(CreateTodo {
        id: id.clone(),
        title: format!("{run} first"),
        updated_at: 1,
        list_id: None,
    });
    assert_eq!(handle.expect("queued").await, Ok(()));
    let handle = late
        .mutate::<create_todo>(CreateTodo { id, title: format!("{run} second"), updated_at: 2, list_id: None })
        .expect("queued");
    assert_eq!(titles(&late, &run), vec![format!("{run} second")]);
    match tokio::time::timeout(PATIENCE, handle).await.expect("answered") {
        Err(MutationFailed::Rejected(message)) => assert!(!message.is_empty()),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(titles(&late, &run), vec![format!("{run} first")], "the server's row replaced the optimistic one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outdated_client_is_told_to_update() {
    let w = worker();
    let run = tag("outdated");
    static OUTDATED: plasma::Schema = plasma::schema![version = "todos-v0"; Todo];
    let transport = HttpTransport::new(w.endpoint()).expect("transport").header(todo::USER_HEADER, &run);
    let user = run.clone();
    let outdated = Client::<TodoMutators>::builder(&OUTDATED, &run)
        .context(move || Ctx::client(user.clone()))
        .backoff(quick_backoff())
        .build(transport, TokioPlatform::current().expect("runtime"))
        .await
        .expect("build");
    outdated.start();
    until("update needed", || outdated.status() == SyncStatus::UpdateNeeded).await;
    let body = json!({"protocolVersion": 1, "schemaVersion": "todos-v0", "clientGroupId": run, "cookie": null});
    let (status, body) = w.raw("POST", "/sync/pull", Some(&run), body.to_string().into_bytes()).await;
    assert_eq!(status, ErrorCode::SchemaVersionMismatch.status(), "{body}");
    assert_eq!(body["error"], "schema_version_mismatch", "{body}");
}

/// The same table `server_bad_input.rs` runs against the axum server (the
/// Worker runs with the same body limit, `MAX_BODY_BYTES`): same statuses,
/// same error codes, and the D1 file is byte-for-byte the same afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_same_typed_errors_and_change_nothing() {
    let w = worker();
    // The state the table expects: alice's group g1 with client c1 at LMID 1.
    let mutation =
        json!([{"clientId": "c1", "id": 1, "name": "createTodo", "args": create("keep", "accepted"), "timestamp": 1}]);
    let (status, body) = w.push("alice", "g1", mutation).await;
    assert_eq!(status, 200, "{body}");
    let before = w.dump();
    let cases = cases();
    assert!(cases.len() >= 25, "at least 25 bad requests, have {}", cases.len());
    for case in cases {
        let (status, body) = w.raw(case.method, case.path, case.user, case.body.clone()).await;
        case.assert_answered(status, &body);
        assert_eq!(w.dump(), before, "{} changed the database", case.name);
    }
    let (status, body) = w.pull("alice", "g1", Value::Null).await;
    assert_eq!(status, 200, "still serving: {body}");
}

async fn poke_socket(
    w: &Worker,
    user: Option<&str>,
    group: &str,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let url = format!("{}/sync/poke?clientGroupID={group}", w.url.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("request");
    if let Some(user) = user {
        request.headers_mut().insert(todo::USER_HEADER, user.parse().expect("header"));
    }
    tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(request))
        .await
        .expect("answered in time")
        .map(|(s, _)| s)
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next(socket: &mut Socket, within: Duration) -> Option<String> {
    match tokio::time::timeout(within, socket.next()).await {
        Ok(Some(Ok(message))) => Some(message.into_text().map(|t| t.to_string()).unwrap_or_default()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poke_socket_checks_credentials_and_ownership_and_pokes_on_commits() {
    let w = worker();
    let run = tag("socket");
    let (alice, mallory) = (format!("alice-{run}"), format!("mallory-{run}"));
    let mutation = json!([{"clientId": format!("{run}-c"), "id": 1, "name": "createTodo", "args": create(&run, "x"), "timestamp": 1}]);
    assert_eq!(w.push(&alice, &run, mutation).await.0, 200);
    // Bob shares a list with alice, so his todos in it are hers to read.
    let (other, list) = (format!("bob-{run}"), format!("{run}-list"));
    let mutations = json!([
        {"clientId": format!("{run}-bob"), "id": 1, "name": "createList", "args": {"id": list, "name": "shared"}, "timestamp": 1},
        {"clientId": format!("{run}-bob"), "id": 2, "name": "shareList", "args": {"listId": list, "userId": alice}, "timestamp": 1},
    ]);
    assert_eq!(w.push(&other, &format!("{run}-bob"), mutations).await.0, 200);
    assert!(poke_socket(&w, None, &run).await.is_err(), "no credentials, no socket");
    assert!(poke_socket(&w, Some(&mallory), &run).await.is_err(), "another user's group");
    let (status, body) = w.raw("GET", &format!("/sync/poke?clientGroupID={run}"), None, Vec::new()).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("unauthorized")), "{body}");

    let mut socket = poke_socket(&w, Some(&alice), &run).await.expect("the owner's socket");
    assert_eq!(next(&mut socket, TIMEOUT).await.as_deref(), Some(r#"{"type":"poke"}"#), "a poke on connect");
    // Another user's commit of a row alice reads pokes her socket.
    let todo = json!({"id": format!("{run}-b"), "title": "y", "updatedAt": 1, "listId": list});
    let mutation =
        json!([{"clientId": format!("{run}-bob"), "id": 3, "name": "createTodo", "args": todo, "timestamp": 1}]);
    assert_eq!(w.push(&other, &format!("{run}-bob"), mutation).await.0, 200);
    assert_eq!(next(&mut socket, TIMEOUT).await.as_deref(), Some(r#"{"type":"poke"}"#), "a commit pokes");

    // A socket on a group nobody owns yet is allowed; when another user's
    // push claims the group, the Durable Object closes it (1008).
    let unclaimed = format!("{run}-unclaimed");
    let mut early = poke_socket(&w, Some(&mallory), &unclaimed).await.expect("no owner yet: allowed");
    assert_eq!(next(&mut early, TIMEOUT).await.as_deref(), Some(r#"{"type":"poke"}"#), "a poke on connect");
    let mutation = json!([{"clientId": format!("{run}-claimer"), "id": 1, "name": "createTodo", "args": create(&format!("{run}-c"), "z"), "timestamp": 1}]);
    assert_eq!(w.push(&alice, &unclaimed, mutation).await.0, 200);
    let closed = loop {
        match tokio::time::timeout(TIMEOUT, early.next()).await.expect("closed in time") {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue, // the claim's own poke may come first
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    let frame = closed.expect("a close frame with a code");
    assert_eq!(u16::from(frame.code), 1008, "policy violation: {frame:?}");
}

/// Pokes go by read scope on the Worker too: its Durable Object keeps each
/// socket's scope and hands the list back to the pushing Worker, which pokes
/// only the groups whose scope the push touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_pokes_only_the_sockets_whose_scope_it_touched() {
    let w = worker();
    let run = tag("scoped");
    let (alice, bob) = (format!("alice-{run}"), format!("bob-{run}"));
    let welcome = |s: Option<String>| assert_eq!(s.as_deref(), Some(r#"{"type":"poke"}"#), "a poke on connect");
    let mut alice_phone = poke_socket(&w, Some(&alice), &format!("{run}-phone")).await.expect("socket");
    welcome(next(&mut alice_phone, TIMEOUT).await);
    let mut bobs = poke_socket(&w, Some(&bob), &format!("{run}-bob")).await.expect("socket");
    welcome(next(&mut bobs, TIMEOUT).await);
    let laptop = format!("{run}-laptop");
    let push = |id: u64, name: &str, args: Value| {
        json!([{"clientId": format!("{run}-al"), "id": id, "name": name, "args": args, "timestamp": 1}])
    };
    // A private todo: alice's other device is poked, bob is not.
    assert_eq!(w.push(&alice, &laptop, push(1, "createTodo", create(&format!("{run}-p"), "mine"))).await.0, 200);
    assert!(next(&mut alice_phone, TIMEOUT).await.is_some(), "alice's other group is poked");
    assert_eq!(next(&mut bobs, Duration::from_millis(700)).await, None, "bob reads nothing of it");
    // Shared with bob, a todo in the list pokes him.
    let list = format!("{run}-list");
    assert_eq!(w.push(&alice, &laptop, push(2, "createList", json!({"id": list, "name": "ours"}))).await.0, 200);
    assert_eq!(w.push(&alice, &laptop, push(3, "shareList", json!({"listId": list, "userId": bob}))).await.0, 200);
    assert!(next(&mut bobs, TIMEOUT).await.is_some(), "the grant pokes bob");
    let todo = json!({"id": format!("{run}-s"), "title": "ours", "updatedAt": 1, "listId": list});
    while next(&mut bobs, Duration::from_millis(300)).await.is_some() {}
    assert_eq!(w.push(&alice, &laptop, push(4, "createTodo", todo)).await.0, 200);
    assert!(next(&mut bobs, TIMEOUT).await.is_some(), "a member is poked");
}

/// Concurrent pushes never interleave (ARCHITECTURE.md, "Server backends
/// without interactive transactions"): six groups create the same todo at
/// once, and exactly one wins (a check-then-insert that interleaved would
/// fail a batch with a constraint error, or let two win); two clients of one
/// group push 15 mutations each at once, and every one applies exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_serialize_on_d1() {
    let w = worker();
    let run = tag("race");
    let pushes = (0..6).map(|i| {
        let w = &w;
        let run = &run;
        async move {
            let mutation = json!([{"clientId": format!("{run}-c{i}"), "id": 1, "name": "createTodo", "args": create(run, &format!("{run} by {i}")), "timestamp": 1}]);
            w.push(&format!("u{i}-{run}"), &format!("{run}-g{i}"), mutation).await
        }
    });
    for (status, body) in futures_util::future::join_all(pushes).await {
        assert_eq!(status, 200, "{body}");
    }
    let rows: Vec<String> =
        w.dump().into_iter().filter(|r| r.starts_with("todos: ") && r.contains(&format!("\"{run}\""))).collect();
    assert_eq!(rows.len(), 1, "exactly one create won: {rows:?}");
    let errors =
        w.dump().into_iter().filter(|r| r.starts_with("_plasma_mutation_errors: ") && r.contains(&run)).count();
    assert_eq!(errors, 5, "the other five were refused as mutations, not lost or failed");

    let group = format!("{run}-tabs");
    let user = format!("gina-{run}");
    let tab = |tab: usize| {
        let (w, group, user, run) = (&w, &group, &user, &run);
        async move {
            for id in 1..=15u64 {
                let mutation = json!([{"clientId": format!("{run}-tab{tab}"), "id": id, "name": "createTodo", "args": create(&format!("{run}-{tab}-{id}"), "t"), "timestamp": id}]);
                let (status, body) = w.push(user, group, mutation).await;
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["lastMutationIds"][format!("{run}-tab{tab}")], id, "{body}");
            }
        }
    };
    futures_util::future::join(tab(1), tab(2)).await;
    let rows = w.dump().into_iter().filter(|r| r.starts_with("todos: ") && r.contains(&format!("{run}-"))).count();
    assert_eq!(rows, 30, "every mutation of both tabs applied exactly once");
}

/// Past D1's limits on the real runtime: mutations inserting 400 rows each
/// (12,400 in all) and a fresh client's first pull of all of them (paged,
/// each table read bounded in rows and bytes). The limits one by one, with
/// D1's enforcement modelled, are in `batch_limits.rs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_and_pulls_past_d1s_limits_are_split_and_paged() {
    let w = worker();
    let run = tag("limits");
    let user = format!("lim-{run}");
    let client = client_with(&w.endpoint(), &user, &format!("{run}-w"), MemoryStore::new(), false).await;
    let todos: Vec<CreateTodo> = (0..400)
        .map(|i| CreateTodo { id: format!("{run}-{i:05}"), title: format!("{run} {i}"), updated_at: 1, list_id: None })
        .collect();
    let handle = client.mutate::<import_todos>(ImportTodos { todos }).expect("queued");
    assert_eq!(tokio::time::timeout(PATIENCE, handle).await.expect("answered"), Ok(()));
    // 30 more imports of 400: 12,400 rows for a fresh client's first pull.
    for chunk in 0..30 {
        let todos: Vec<CreateTodo> = (0..400)
            .map(|i| CreateTodo {
                id: format!("{run}-{chunk:02}-{i:05}"),
                title: format!("{run} {chunk} {i}"),
                updated_at: 1,
                list_id: None,
            })
            .collect();
        let handle = client.mutate::<import_todos>(ImportTodos { todos }).expect("queued");
        assert_eq!(tokio::time::timeout(PATIENCE, handle).await.expect("answered"), Ok(()));
    }
    let start = Instant::now();
    let reader = client_with(&w.endpoint(), &user, &format!("{run}-r"), MemoryStore::new(), false).await;
    until("the first pull brings every row", || titles(&reader, &run).len() == 12_400).await;
    println!("first pull of 12,400 rows through the Worker: {:?}", start.elapsed());
}
