//! The sync server over real HTTP and WebSocket on 127.0.0.1, with a real
//! SQLite file: push and pull semantics from the protocol's rules.

use std::time::Duration;

use futures_util::StreamExt;
use plasma::server::ServerConfig;
use plasma_tests::harness::{TIMEOUT, TestServer, create};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn titles(pull: &Value) -> Vec<String> {
    pull["patch"]
        .as_array()
        .expect("patch")
        .iter()
        .filter(|op| op["op"] == "put")
        .map(|op| op["row"]["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_round_trip_with_incremental_cookies() {
    let s = TestServer::start(ServerConfig::default()).await;
    let (status, body) = s
        .push(
            "alice",
            "g1",
            &[("c1", 1, "createTodo", create("a", "first")), ("c1", 2, "createTodo", create("b", "second"))],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lastMutationIds"], json!({"c1": 2}));

    let (status, first) = s.pull("alice", "g1", Value::Null).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["patch"][0], json!({"op": "clear"}), "a first pull is a reset");
    assert_eq!(titles(&first), vec!["first", "second"]);
    assert_eq!(first["lastMutationIdChanges"], json!({"c1": 2}));
    assert_eq!(first["more"], json!(false));

    let (_, empty) = s.pull("alice", "g1", first["cookie"].clone()).await;
    assert_eq!(empty["patch"], json!([]), "nothing new since the cookie");
    assert_eq!(empty["lastMutationIdChanges"], json!({}));

    let (status, _) = s
        .push(
            "alice",
            "g1",
            &[("c1", 3, "markDone", json!({"id": "a", "updatedAt": 9})), ("c1", 4, "deleteTodo", json!({"id": "b"}))],
        )
        .await;
    assert_eq!(status, 200);
    let (_, delta) = s.pull("alice", "g1", empty["cookie"].clone()).await;
    assert_eq!(
        delta["patch"],
        json!([
            {"op": "put", "table": "todos", "row": {"id": "a", "title": "first", "done": 1, "updatedAt": 9, "owner": "alice", "listId": null}},
            {"op": "del", "table": "todos", "id": "b"},
        ])
    );
    assert_eq!(delta["lastMutationIdChanges"], json!({"c1": 4}));
    assert!(delta["cookie"]["order"].as_i64() > empty["cookie"]["order"].as_i64(), "cookies are ordered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_edits_of_one_row_coalesce_to_its_latest_state() {
    let s = TestServer::start(ServerConfig::default()).await;
    s.push("alice", "g1", &[("c1", 1, "createTodo", create("a", "v0"))]).await;
    let (_, base) = s.pull("alice", "g1", Value::Null).await;
    let renames: Vec<(&str, u64, &str, Value)> = (2..=11)
        .map(|i| ("c1", i, "renameTodo", json!({"id": "a", "title": format!("v{i}"), "updatedAt": i})))
        .collect();
    assert_eq!(s.push("alice", "g1", &renames).await.0, 200);
    let (_, delta) = s.pull("alice", "g1", base["cookie"].clone()).await;
    assert_eq!(titles(&delta), vec!["v11"], "one put with the latest title");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_skipped_and_gaps_rejected() {
    let s = TestServer::start(ServerConfig::default()).await;
    assert_eq!(s.push("alice", "g1", &[("c1", 1, "createTodo", create("a", "one"))]).await.0, 200);
    // Retrying 1 together with 2 applies only 2.
    let (status, body) = s
        .push(
            "alice",
            "g1",
            &[("c1", 1, "createTodo", create("a", "one")), ("c1", 2, "createTodo", create("b", "two"))],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lastMutationIds"]["c1"], 2);
    // A pure duplicate changes nothing at all.
    let before = s.dump();
    assert_eq!(s.push("alice", "g1", &[("c1", 2, "createTodo", create("b", "two"))]).await.0, 200);
    assert_eq!(s.dump(), before);
    // Skipping ahead is refused and applies nothing, not even the valid prefix.
    let (status, body) = s
        .push(
            "alice",
            "g1",
            &[("c1", 3, "createTodo", create("c", "three")), ("c1", 5, "createTodo", create("e", "five"))],
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (409, Some("out_of_order_mutation")), "{body}");
    assert_eq!(body["retryable"], true);
    assert_eq!(s.dump(), before);
    let (_, pull) = s.pull("alice", "g1", Value::Null).await;
    assert_eq!(titles(&pull), vec!["one", "two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_mutator_is_rolled_back_but_consumes_its_id_and_reports_its_error() {
    let s = TestServer::start(ServerConfig::default()).await;
    let (_, base) = s.pull("alice", "g1", Value::Null).await;
    let (status, body) = s
        .push(
            "alice",
            "g1",
            &[
                ("c1", 1, "createTodo", create("a", "kept")),
                ("c1", 2, "createTodo", create("a", "duplicate id")), // constraint failure
                ("c1", 3, "createTodo", create("z", "   ")),          // app error
                ("c1", 4, "markDone", json!({"id": 5})),              // bad args
                ("c1", 5, "renameTodo", json!({"id": "a", "title": "renamed", "updatedAt": 2})),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lastMutationIds"]["c1"], 5, "failed mutations still bump the LMID");
    let (_, delta) = s.pull("alice", "g1", base["cookie"].clone()).await;
    assert_eq!(titles(&delta), vec!["renamed"]);
    let errors = delta["mutationErrors"].as_array().expect("errors");
    let ids: Vec<u64> = errors.iter().map(|e| e["mutationId"].as_u64().unwrap_or(0)).collect();
    assert_eq!(ids, vec![2, 3, 4]);
    assert!(errors[1]["message"].as_str().unwrap_or_default().contains("needs a title"), "{errors:?}");
    assert!(errors[2]["message"].as_str().unwrap_or_default().contains("invalid arguments"), "{errors:?}");
    assert_eq!(delta["lastMutationIdChanges"], json!({"c1": 5}));
    // Errors are reported once: the next pull from the new cookie has none.
    let (_, after) = s.pull("alice", "g1", delta["cookie"].clone()).await;
    assert_eq!(after["mutationErrors"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutator_that_writes_then_fails_leaves_nothing_and_later_mutations_still_apply() {
    let s = TestServer::start(ServerConfig::default()).await;
    let (_, base) = s.pull("alice", "g1", Value::Null).await;
    let import = |entries: &[(&str, &str)]| json!({"todos": entries.iter().map(|(id, title)| create(id, title)).collect::<Vec<_>>()});
    let (status, body) = s
        .push(
            "alice",
            "g1",
            &[
                ("c1", 1, "createTodo", create("first", "before the imports")),
                // Inserts two todos, then an entry without a title fails it.
                ("c1", 2, "importTodos", import(&[("a", "one"), ("b", "two"), ("c", " "), ("d", "four")])),
                // Inserts one, then a taken id fails it in the database.
                ("c1", 3, "importTodos", import(&[("e", "five"), ("first", "taken id")])),
                ("c1", 4, "importTodos", import(&[("f", "six"), ("g", "seven")])),
                ("c1", 5, "renameTodo", json!({"id": "first", "title": "after the imports", "updatedAt": 2})),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lastMutationIds"]["c1"], 5, "the failed imports consume their ids");
    // Nothing of the failed imports reached the database, nor its change log.
    let rows: Vec<String> = s.dump().into_iter().filter(|r| r.starts_with("todos:")).collect();
    let ids: Vec<&str> = rows.iter().map(|r| r.split('"').nth(1).unwrap_or_default()).collect();
    assert_eq!(ids, vec!["f", "first", "g"], "{rows:?}");
    let (_, delta) = s.pull("alice", "g1", base["cookie"].clone()).await;
    let mut applied = titles(&delta);
    applied.sort();
    assert_eq!(applied, vec!["after the imports", "seven", "six"]);
    let errors = delta["mutationErrors"].as_array().expect("errors");
    let failed: Vec<u64> = errors.iter().map(|e| e["mutationId"].as_u64().unwrap_or(0)).collect();
    assert_eq!(failed, vec![2, 3]);
    assert!(errors[0]["message"].as_str().unwrap_or_default().contains("entry 2 needs a title"), "{errors:?}");
    // A fresh reset agrees: the rolled-back rows were never logged as changes either.
    let (_, reset) = s.pull("alice", "g1", Value::Null).await;
    let mut all = titles(&reset);
    all.sort();
    assert_eq!(all, vec!["after the imports", "seven", "six"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_hooks_context_reaches_the_mutators() {
    let s = TestServer::start(ServerConfig::default()).await;
    let (status, _) = s.push(todo::VIEWER, "gv", &[("cv", 1, "createTodo", create("v", "read only"))]).await;
    assert_eq!(status, 200);
    let (_, pull) = s.pull(todo::VIEWER, "gv", Value::Null).await;
    assert_eq!(titles(&pull), Vec::<String>::new());
    assert_eq!(pull["mutationErrors"][0]["message"], "viewers cannot create todos");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_belong_to_their_user_and_clients_to_their_group() {
    let s = TestServer::start(ServerConfig::default()).await;
    assert_eq!(s.push("alice", "g1", &[("c1", 1, "createTodo", create("a", "mine"))]).await.0, 200);
    let before = s.dump();
    let (status, body) = s.push("mallory", "g1", &[("c9", 1, "createTodo", create("m", "theirs"))]).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    let (status, _) = s.pull("mallory", "g1", Value::Null).await;
    assert_eq!(status, 403, "another user cannot read the group either");
    let (status, body) = s.push("alice", "g2", &[("c1", 2, "createTodo", create("b", "moved"))]).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")), "c1 belongs to g1");
    assert_eq!(s.dump(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_mismatches_have_distinct_codes_and_apply_nothing() {
    let s = TestServer::start(ServerConfig::default()).await;
    let before = s.dump();
    let push = |protocol: Value, schema: &str| {
        json!({"protocolVersion": protocol, "schemaVersion": schema, "clientGroupId": "g1",
               "mutations": [{"clientId": "c1", "id": 1, "name": "createTodo", "args": create("a", "x"), "timestamp": 1}]})
    };
    let (status, body) = s.post("push", "alice", &push(json!(2), todo::SCHEMA_VERSION)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_protocol_version")));
    let (status, body) = s.post("push", "alice", &push(json!(1), "todos-v0")).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("schema_version_mismatch")));
    let pull = json!({"protocolVersion": 1, "schemaVersion": "todos-v3", "clientGroupId": "g1", "cookie": null});
    let (status, body) = s.post("pull", "alice", &pull).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("schema_version_mismatch")));
    assert_eq!(s.dump(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_future_and_compacted_cookies_get_a_reset() {
    let s = TestServer::start(ServerConfig::default()).await;
    s.push("alice", "g1", &[("c1", 1, "createTodo", create("a", "one"))]).await;
    let (_, first) = s.pull("alice", "g1", Value::Null).await;
    s.push("alice", "g1", &[("c1", 2, "createTodo", create("b", "two"))]).await;
    let (_, second) = s.pull("alice", "g1", first["cookie"].clone()).await;
    assert_ne!(second["patch"][0]["op"], "clear", "a known cookie is incremental");

    // A group that never pushed keeps pulling incrementally on this database's
    // cookies (read-only clients); a cookie of another database resets.
    let (_, unknown_group) = s.pull("alice", "g-new", second["cookie"].clone()).await;
    assert_eq!(unknown_group["patch"], json!([]), "a current cookie stays incremental for an unknown group");
    let mut foreign = second["cookie"].clone();
    foreign["database"] = json!("another-database");
    let (_, replaced) = s.pull("alice", "g1", foreign).await;
    assert_eq!(replaced["patch"][0], json!({"op": "clear"}), "a cookie of another database resets");
    let mut anonymous = second["cookie"].clone();
    anonymous.as_object_mut().expect("cookie").remove("database");
    let (_, anonymous) = s.pull("alice", "g1", anonymous).await;
    assert_eq!(anonymous["patch"][0], json!({"op": "clear"}), "a cookie without a database resets");

    let (_, future) = s.pull("alice", "g1", json!({"order": 1_000_000})).await;
    assert_eq!(future["patch"][0], json!({"op": "clear"}));
    assert_eq!(titles(&future), vec!["one", "two"]);

    s.push("alice", "g1", &[("c1", 3, "createTodo", create("c", "three"))]).await;
    let head = second["cookie"]["order"].as_i64().expect("order");
    let removed = s.server.compact(head).await.expect("compact");
    assert!(removed > 0);
    let (_, stale) = s.pull("alice", "g1", first["cookie"].clone()).await;
    assert_eq!(stale["patch"][0], json!({"op": "clear"}), "a cookie below the horizon resets");
    assert_eq!(titles(&stale), vec!["one", "two", "three"]);
    assert_eq!(stale["lastMutationIdChanges"], json!({"c1": 3}));
    let (_, fresh) = s.pull("alice", "g1", second["cookie"].clone()).await;
    assert_eq!(fresh["patch"][0]["op"], "put", "a cookie at the horizon stays incremental");
    assert_eq!(titles(&fresh), vec!["three"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_pulls_are_paged_both_for_resets_and_deltas() {
    let s = TestServer::start(ServerConfig { pull_page_rows: 3, ..ServerConfig::default() }).await;
    let batch: Vec<(&str, u64, &str, Value)> =
        (1..=7).map(|i| ("c1", i, "createTodo", create(&format!("t{i}"), &format!("todo {i}")))).collect();
    s.push("alice", "g1", &batch).await;
    let mut cookie = Value::Null;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, page) = s.pull("alice", "g1", cookie.clone()).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        assert!(titles(&page).len() <= 3, "a page holds at most pull_page_rows rows");
        seen.extend(titles(&page));
        cookie = page["cookie"].clone();
        if page["more"] == false {
            break;
        }
        assert!(pages < 10, "paging terminates");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 7);

    let renames: Vec<(&str, u64, &str, Value)> = (1..=7)
        .map(|i| {
            ("c1", 7 + i, "renameTodo", json!({"id": format!("t{i}"), "title": format!("new {i}"), "updatedAt": 2}))
        })
        .collect();
    s.push("alice", "g1", &renames).await;
    let mut renamed = Vec::new();
    for _ in 0..10 {
        let (_, page) = s.pull("alice", "g1", cookie.clone()).await;
        renamed.extend(titles(&page));
        cookie = page["cookie"].clone();
        if page["more"] == false {
            break;
        }
    }
    renamed.sort();
    assert_eq!(renamed, (1..=7).map(|i| format!("new {i}")).collect::<Vec<_>>());
}

async fn connect_pokes(
    s: &TestServer,
    user: &str,
    group: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request =
        format!("ws://{}/sync/poke?clientGroupID={group}", s.addr).into_client_request().expect("request");
    request.headers_mut().insert("x-user", user.parse().expect("header"));
    let (socket, _) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(request))
        .await
        .expect("connect in time")
        .expect("websocket handshake");
    socket
}

async fn next_poke(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    within: Duration,
) -> Option<String> {
    match tokio::time::timeout(within, socket.next()).await {
        Ok(Some(Ok(message))) => Some(message.into_text().map(|t| t.to_string()).unwrap_or_default()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pokes_reach_other_groups_after_a_commit_and_bursts_coalesce() {
    let s =
        TestServer::start(ServerConfig { poke_coalesce: Duration::from_millis(50), ..ServerConfig::default() }).await;
    // Alice's other device (group g2): it reads what g1 writes (todos are their owner's).
    let mut other = connect_pokes(&s, "alice", "g2").await;
    assert_eq!(next_poke(&mut other, TIMEOUT).await.as_deref(), Some(r#"{"type":"poke"}"#), "a poke on connect");
    assert_eq!(next_poke(&mut other, Duration::from_millis(200)).await, None, "quiet without commits");

    for i in 1..=5 {
        s.push("alice", "g1", &[("c1", i, "createTodo", create(&format!("t{i}"), "x"))]).await;
    }
    assert!(next_poke(&mut other, Duration::from_secs(1)).await.is_some(), "g1's commit pokes g2 within 1 s");
    let mut extra = 0;
    while next_poke(&mut other, Duration::from_millis(300)).await.is_some() {
        extra += 1;
    }
    assert!(extra < 4, "a burst of 5 commits coalesces (got {} pokes)", extra + 1);

    // A failed mutation changes only g1's own client: g2 is not poked.
    s.push("alice", "g1", &[("c1", 6, "createTodo", create("t1", "duplicate"))]).await;
    assert_eq!(next_poke(&mut other, Duration::from_millis(300)).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poke_socket_runs_the_auth_hook() {
    let s = TestServer::start(ServerConfig::default()).await;
    s.push("alice", "g1", &[("c1", 1, "createTodo", create("a", "x"))]).await;
    let url = format!("ws://{}/sync/poke?clientGroupID=g1", s.addr);
    let anonymous = tokio_tungstenite::connect_async(url.clone()).await;
    assert!(anonymous.is_err(), "no credentials, no socket");
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert("x-user", "mallory".parse().expect("header"));
    assert!(tokio_tungstenite::connect_async(request).await.is_err(), "another user's group");
    let (status, body) = s.raw("GET", "/sync/poke?clientGroupID=g1", None, Vec::new()).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_database_is_retryable_and_consumes_no_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("busy.db");
    let db = plasma::SqliteExecutor::open(&path).expect("open");
    db.set_busy_timeout(Duration::from_millis(50)).expect("timeout");
    let server = todo::server::build(db).expect("server");
    let who = || plasma::server::Authorized::user("alice", todo::Ctx::server("alice"));
    let body = |id: u64| {
        serde_json::to_vec(&json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": "g1",
            "mutations": [{"clientId": "c1", "id": id, "name": "createTodo", "args": create(&format!("t{id}"), "x"), "timestamp": 1}]}))
        .expect("json")
    };
    assert!(server.push(who(), &body(1)).await.is_ok());
    // A typed call encodes to the same wire record a client queues.
    let typed = plasma::protocol::MutationRecord::new::<todo::create_todo>(
        "c1",
        2,
        &todo::CreateTodo { id: "t2".into(), title: "x".into(), updated_at: 1, list_id: None },
        1,
    )
    .expect("encode");
    let wire: serde_json::Value = serde_json::from_slice(&body(2)).expect("json");
    assert_eq!(serde_json::to_value(&typed).expect("json"), wire["mutations"][0]);

    // Another process holds the write lock.
    let other = plasma::exec::rusqlite::Connection::open(&path).expect("second connection");
    other.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let err = server.push(who(), &body(2)).await.expect_err("busy");
    assert_eq!(err.code, plasma::protocol::ErrorCode::Busy);
    assert!(err.body().retryable);
    assert_eq!(err.code.status(), 503);
    other.execute_batch("ROLLBACK").expect("unlock");

    // The retry succeeds with the same id: the busy attempt consumed nothing.
    let ok = server.push(who(), &body(2)).await.expect("retry");
    assert_eq!(ok.last_mutation_ids["c1"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_that_never_read_do_not_stall_pushes() {
    let s =
        TestServer::start(ServerConfig { poke_coalesce: Duration::from_millis(1), ..ServerConfig::default() }).await;
    // Twenty subscribers that never read a single message: alice's other
    // devices, so every one of her commits is theirs to be poked about.
    let mut stalled = Vec::new();
    for i in 0..20 {
        stalled.push(connect_pokes(&s, "alice", &format!("idle-group-{i}")).await);
    }
    let mut reader = connect_pokes(&s, "alice", "g2").await;
    assert!(next_poke(&mut reader, TIMEOUT).await.is_some());
    let started = std::time::Instant::now();
    for i in 1..=200u64 {
        let (status, body) = s.push("alice", "g1", &[("c1", i, "createTodo", create(&format!("t{i}"), "x"))]).await;
        assert_eq!(status, 200, "{body}");
    }
    assert!(started.elapsed() < TIMEOUT, "200 pushes finish while 20 sockets sit unread");
    assert!(next_poke(&mut reader, Duration::from_secs(1)).await.is_some(), "a live socket is still poked");
    drop(stalled);
}

/// A push body of `(id, abandoned)` mutations of client c1 creating todo `t{id}`.
fn push_with_abandoned(group: &str, mutations: &[(u64, bool)]) -> Value {
    let mutations: Vec<Value> = mutations
        .iter()
        .map(|(id, abandoned)| {
            let mut m = json!({
                "clientId": "c1", "id": id, "name": "createTodo",
                "args": create(&format!("t{id}"), "would be created"), "timestamp": 1,
            });
            if *abandoned {
                // Valid arguments on purpose: an abandoned mutation must not run even if it could.
                m["abandoned"] = json!({"reason": "payload_too_large", "bytes": 5000, "limit": 4096});
            }
            m
        })
        .collect();
    json!({
        "protocolVersion": 1,
        "schemaVersion": todo::SCHEMA_VERSION,
        "clientGroupId": group,
        "mutations": mutations,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_mutation_consumes_its_id_and_records_an_error_without_running() {
    let s = TestServer::start(ServerConfig::default()).await;
    let (status, body) =
        s.post("push", "alice", &push_with_abandoned("g1", &[(1, false), (2, true), (3, false)])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lastMutationIds"], json!({"c1": 3}), "the abandoned id is consumed");

    let (_, pull) = s.pull("alice", "g1", Value::Null).await;
    let ids: Vec<&str> =
        pull["patch"].as_array().expect("patch").iter().filter_map(|op| op["row"]["id"].as_str()).collect();
    assert_eq!(ids, vec!["t1", "t3"], "the abandoned mutator did not run; the ones around it did");
    assert_eq!(
        pull["mutationErrors"],
        json!([{
            "clientId": "c1", "mutationId": 2,
            "message": "dropped by the client: too large for the server (5000 bytes > 4096 byte limit)",
        }])
    );
    assert_eq!(pull["lastMutationIdChanges"], json!({"c1": 3}));

    // Sent again (its answer was lost): a duplicate, skipped like any other.
    let before = s.dump();
    let (status, body) = s.post("push", "alice", &push_with_abandoned("g1", &[(2, true), (3, false)])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lastMutationIds"], json!({"c1": 3}));
    assert_eq!(s.dump(), before, "a duplicate abandoned mutation changes nothing");

    // The same mutation sent abandoned after its full version ran is also a duplicate.
    let (status, _) = s.post("push", "alice", &push_with_abandoned("g1", &[(1, true)])).await;
    assert_eq!(status, 200);
    assert_eq!(s.dump(), before);

    // An abandoned mutation alone still gets a gap refused.
    let (status, body) = s.post("push", "alice", &push_with_abandoned("g1", &[(5, true)])).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("out_of_order_mutation")), "{body}");
    assert_eq!(s.dump(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pull_advertises_the_server_limits() {
    let s = TestServer::start(ServerConfig {
        max_body_bytes: 12_345,
        max_mutations_per_push: 67,
        ..ServerConfig::default()
    })
    .await;
    let (status, first) = s.pull("alice", "g1", Value::Null).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["limits"], json!({"maxBodyBytes": 12_345, "maxMutationsPerPush": 67}));
    s.push("alice", "g1", &[("c1", 1, "createTodo", create("a", "x"))]).await;
    let (_, next) = s.pull("alice", "g1", first["cookie"].clone()).await;
    assert_eq!(next["limits"], first["limits"], "incremental pulls too");

    // The client's defaults before its first pull are the server's defaults.
    let defaults = ServerConfig::default();
    assert_eq!(
        plasma::protocol::ServerLimits::default(),
        plasma::protocol::ServerLimits {
            max_body_bytes: defaults.max_body_bytes,
            max_mutations_per_push: defaults.max_mutations_per_push,
        }
    );
}
