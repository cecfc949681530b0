//! Pull paths that used to get stuck or lose data, over real HTTP on
//! 127.0.0.1 with a real SQLite file: paged resets of groups the server does
//! not know, forgotten groups, mutation errors across compaction, pages
//! bounded in bytes, and pulls that never wait for the writer.

use std::collections::BTreeSet;
use std::time::Duration;

use plasma::server::ServerConfig;
use plasma_tests::harness::{TIMEOUT, TestServer, create};
use serde_json::{Value, json};

/// Follows `more` from `cookie` to the last page; returns the pages.
async fn pull_all(s: &TestServer, user: &str, group: &str, cookie: Value) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut cookie = cookie;
    loop {
        let (status, page) = s.pull(user, group, cookie).await;
        assert_eq!(status, 200, "{page}");
        cookie = page["cookie"].clone();
        let more = page["more"] == json!(true);
        pages.push(page);
        assert!(pages.len() <= 1_000, "a pull must finish: still paging after 1,000 pages");
        if !more {
            return pages;
        }
    }
}

fn put_ids(page: &Value) -> Vec<String> {
    page["patch"]
        .as_array()
        .expect("patch")
        .iter()
        .filter(|op| op["op"] == "put")
        .map(|op| op["row"]["id"].as_str().expect("id").to_owned())
        .collect()
}

fn starts_with_clear(page: &Value) -> bool {
    page["patch"][0] == json!({"op": "clear"})
}

async fn seed(s: &TestServer, n: u64) {
    let mutations: Vec<(&str, u64, &str, Value)> =
        (1..=n).map(|i| ("writer", i, "createTodo", create(&format!("t{i:03}"), &format!("todo {i}")))).collect();
    let (status, body) = s.push("alice", "writer-group", &mutations).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_the_server_does_not_know_finishes_a_paged_reset_and_then_pulls_incrementally() {
    let s = TestServer::start(ServerConfig { pull_page_rows: 3, ..ServerConfig::default() }).await;
    seed(&s, 10).await;

    // "reader" (another device of alice's, who owns the rows) never pushes,
    // so the server never stores its group.
    let pages = pull_all(&s, "alice", "reader", Value::Null).await;
    assert_eq!(pages.len(), 4, "10 rows in pages of 3");
    assert!(starts_with_clear(&pages[0]));
    assert!(pages[1..].iter().all(|p| !starts_with_clear(p)), "only the first page of a reset clears");
    let ids: Vec<String> = pages.iter().flat_map(put_ids).collect();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 10, "every row exactly once: {ids:?}");
    assert_eq!(distinct.len(), 10);

    // Its cookie stays good: the next pull is incremental, not another reset.
    let cookie = pages.last().expect("pages")["cookie"].clone();
    let (status, _) = s.push("alice", "writer-group", &[("writer", 11, "createTodo", create("t011", "new"))]).await;
    assert_eq!(status, 200);
    let (_, delta) = s.pull("alice", "reader", cookie).await;
    assert!(!starts_with_clear(&delta), "an unknown group with a current cookie pulls incrementally: {delta}");
    assert_eq!(put_ids(&delta), vec!["t011"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_group_resets_without_its_clients_and_read_only_groups_keep_their_cookies() {
    let s = TestServer::start(ServerConfig::default()).await;
    let (status, _) = s.push("alice", "g1", &[("c1", 1, "createTodo", create("a", "first"))]).await;
    assert_eq!(status, 200);
    let (_, first) = s.pull("alice", "g1", Value::Null).await;
    assert_eq!(first["lastMutationIdChanges"], json!({"c1": 1}));
    let (_, reader_first) = s.pull("bob", "reader", Value::Null).await;

    assert!(s.server.forget_group("g1").await.expect("forget"), "g1 existed");
    assert!(!s.server.forget_group("g1").await.expect("forget again"), "already gone");

    // Even with nothing written since, the old cookie must not look current.
    let (status, after) = s.pull("alice", "g1", first["cookie"].clone()).await;
    assert_eq!(status, 200, "{after}");
    assert!(starts_with_clear(&after), "a forgotten group starts over: {after}");
    assert_eq!(after["lastMutationIdChanges"], json!({}), "its clients are gone, so they take new ids");
    assert_eq!(put_ids(&after), vec!["a"], "rows stay: only bookkeeping is forgotten");

    // The read-only group's cookie predates the forgetting, so it resets once...
    let (_, reader_second) = s.pull("bob", "reader", reader_first["cookie"].clone()).await;
    assert!(starts_with_clear(&reader_second));
    // ...and then pulls incrementally again.
    let (_, reader_third) = s.pull("bob", "reader", reader_second["cookie"].clone()).await;
    assert!(!starts_with_clear(&reader_third), "{reader_third}");
    assert_eq!(reader_third["patch"], json!([]));

    // The forgotten client may not push again (it starts over under a new id);
    // the group id is free for anyone.
    let (status, body) = s.push("carol", "g1", &[("c1", 2, "createTodo", create("b", "x"))]).await;
    assert_eq!((status, body["error"].clone()), (409, json!("client_forgotten")), "{body}");
    // Created again by another client of the same user (so the cookie's read
    // scope still matches, and only the forgetting can make it reset)...
    let (status, _) = s.push("alice", "g1", &[("c9", 1, "createTodo", create("b", "x"))]).await;
    assert_eq!(status, 200, "the group id is free again");
    // ...the group still resets a cookie from before the forgetting, so a
    // client that has not pulled since learns it was forgotten.
    let (_, recreated) = s.pull("alice", "g1", first["cookie"].clone()).await;
    assert!(starts_with_clear(&recreated), "{recreated}");
    assert_eq!(recreated["lastMutationIdChanges"], json!({"c9": 1}), "c1 is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgetting_idle_groups_keeps_active_ones() {
    let s = TestServer::start(ServerConfig::default()).await;
    for group in ["g1", "g2"] {
        let (status, _) = s
            .push(
                "alice",
                group,
                &[("c-".to_owned() + group, 1, "createTodo", create(group, "x"))]
                    .iter()
                    .map(|(c, i, n, a)| (c.as_str(), *i, *n, a.clone()))
                    .collect::<Vec<_>>(),
            )
            .await;
        assert_eq!(status, 200);
    }
    assert_eq!(s.server.forget_idle_groups(Duration::from_secs(3600)).await.expect("forget"), 0, "both are fresh");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (status, _) = s.push("alice", "g2", &[("c-g2", 2, "markDone", json!({"id": "g2", "updatedAt": 2}))]).await;
    assert_eq!(status, 200);
    assert_eq!(s.server.forget_idle_groups(Duration::from_millis(10)).await.expect("forget"), 1, "g1 was idle");
    let (_, g2) = s.pull("alice", "g2", Value::Null).await;
    assert_eq!(g2["lastMutationIdChanges"], json!({"c-g2": 2}), "the active group is kept");
    let (_, g1) = s.pull("alice", "g1", Value::Null).await;
    assert_eq!(g1["lastMutationIdChanges"], json!({}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_errors_the_client_has_not_pulled() {
    let s = TestServer::start(ServerConfig::default()).await;
    let (status, _) = s.push("alice", "g1", &[("c1", 1, "createTodo", create("a", "ok"))]).await;
    assert_eq!(status, 200);
    let (_, first) = s.pull("alice", "g1", Value::Null).await;
    let (status, _) = s.push("alice", "g1", &[("c1", 2, "createTodo", create("b", "  "))]).await;
    assert_eq!(status, 200, "a failing mutator still consumes its id");

    // The log is compacted before the client pulls the error.
    s.server.compact(i64::MAX).await.expect("compact");
    let (_, after) = s.pull("alice", "g1", first["cookie"].clone()).await;
    assert!(starts_with_clear(&after), "the cookie is below the horizon: reset");
    assert_eq!(after["lastMutationIdChanges"], json!({"c1": 2}));
    assert_eq!(
        after["mutationErrors"],
        json!([{"clientId": "c1", "mutationId": 2, "message": "a todo needs a title"}]),
        "the rejection survives compaction, or the client would resolve it Ok"
    );

    // Once the client says it applied it, the error may go; another group cannot clear it.
    let ack = |group: &str, client: &str, id: u64| {
        json!({
            "protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": group,
            "appliedThrough": {"c1": 2},
            "mutations": [{"clientId": client, "id": id, "name": "createTodo", "args": create(&format!("{group}-row"), "x"), "timestamp": 1}],
        })
    };
    // Another user's group claims to have applied c1's outcomes.
    let (status, body) = s.post("push", "mallory", &ack("m-group", "m1", 1)).await;
    assert_eq!(status, 200, "{body}");
    let (_, still) = s.pull("alice", "g1", Value::Null).await;
    assert_eq!(still["mutationErrors"].as_array().map(Vec::len), Some(1), "a foreign ack clears nothing");

    let (status, body) = s.post("push", "alice", &ack("g1", "c1", 3)).await;
    assert_eq!(status, 200, "{body}");
    let (_, gone) = s.pull("alice", "g1", Value::Null).await;
    assert_eq!(gone["mutationErrors"], json!([]), "acknowledged errors are dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_bounded_in_bytes_and_a_row_larger_than_the_bound_goes_alone() {
    let config = ServerConfig { pull_page_bytes: 100_000, ..ServerConfig::default() };
    let s = TestServer::start(config).await;
    let big = |i: u64| create(&format!("r{i}"), &"x".repeat(30_000 + if i == 4 { 200_000 } else { 0 }));
    let mutations: Vec<(&str, u64, &str, Value)> = (1..=8).map(|i| ("c1", i, "createTodo", big(i))).collect();
    let (status, _) = s.push("alice", "g1", &mutations).await;
    assert_eq!(status, 200);

    let check = |pages: &[Value]| {
        for page in pages {
            let bytes: usize = page["patch"]
                .as_array()
                .expect("patch")
                .iter()
                .filter(|op| op["op"] == "put")
                .map(|op| serde_json::to_string(&op["row"]).expect("row").len())
                .sum();
            let rows = put_ids(page).len();
            assert!(bytes <= 100_000 || rows == 1, "page of {rows} rows holds {bytes} bytes");
        }
        let ids: BTreeSet<String> = pages.iter().flat_map(put_ids).collect();
        assert_eq!(ids.len(), 8, "every row arrives: {ids:?}");
    };
    let reset = pull_all(&s, "alice", "g1", Value::Null).await;
    assert!(reset.len() >= 4, "8 rows of 30 kB (one of 230 kB) need at least 4 pages of 100 kB");
    check(&reset);

    // The same bound holds for incremental pulls.
    let base = pull_all(&s, "alice", "g2", Value::Null).await.pop().expect("pages");
    let touch: Vec<(&str, u64, &str, Value)> =
        (1..=8).map(|i| ("c1", 8 + i, "markDone", json!({"id": format!("r{i}"), "updatedAt": 5}))).collect();
    let (status, _) = s.push("alice", "g1", &touch).await;
    assert_eq!(status, 200);
    let delta = pull_all(&s, "alice", "g2", base["cookie"].clone()).await;
    assert!(delta.len() >= 4, "incremental pages are bounded too: {} pages", delta.len());
    assert!(delta.iter().all(|p| !starts_with_clear(p)));
    check(&delta);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_run_on_their_own_connections_and_never_wait_for_the_writer() {
    let s = TestServer::start(ServerConfig::default()).await;
    seed(&s, 5).await;
    // Hold the writer's connection (as a long push would) while pulling.
    let server = s.server.clone();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        server.with_db_blocking(|db| {
            let tx = db.begin_immediate_sync().expect("write lock");
            held_tx.send(()).expect("signal");
            let _ = release_rx.recv_timeout(TIMEOUT);
            drop(tx);
        });
    });
    held_rx.recv_timeout(TIMEOUT).expect("writer held");
    // Another device of alice's, who owns the rows.
    let pulled = tokio::time::timeout(Duration::from_secs(5), s.pull("alice", "reader", Value::Null)).await;
    release_tx.send(()).expect("release");
    holder.join().expect("holder thread");
    let (status, page) = pulled.expect("a pull must not wait for the writer's connection");
    assert_eq!(status, 200);
    assert_eq!(put_ids(&page).len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paged_reset_catches_up_with_pushes_made_while_it_ran() {
    let s = TestServer::start(ServerConfig { pull_page_rows: 3, ..ServerConfig::default() }).await;
    let mutations: Vec<(&str, u64, &str, Value)> =
        (1..=7).map(|i| ("c1", i, "createTodo", create(&format!("t{i:03}"), "x"))).collect();
    let (status, _) = s.push("alice", "g1", &mutations).await;
    assert_eq!(status, 200);
    let (_, first) = s.pull("alice", "g1", Value::Null).await;
    assert_eq!(first["lastMutationIdChanges"], json!({"c1": 7}), "LMIDs come with the snapshot");
    // While the reset pages, the client's next mutations land: one writes a
    // row the remaining pages will show, one fails.
    let (status, _) = s
        .push(
            "alice",
            "g1",
            &[("c1", 8, "createTodo", create("t008", "late")), ("c1", 9, "createTodo", create("t009", " "))],
        )
        .await;
    assert_eq!(status, 200);
    let mut pages = vec![first.clone()];
    pages.extend(pull_all(&s, "alice", "g1", first["cookie"].clone()).await);
    let last = pages.last().expect("pages");
    assert!(!starts_with_clear(last), "the catch-up is incremental");
    // What the whole pull confirms is consistent with the rows it carries:
    // t008's row arrives together with the LMID that confirms mutation 8,
    // and mutation 9's error with the LMID that consumed it.
    let confirmed = pages.iter().filter_map(|p| p["lastMutationIdChanges"]["c1"].as_u64()).max();
    assert_eq!(confirmed, Some(9), "the pull does not end before confirming what its rows show");
    let errors: Vec<&Value> = pages.iter().flat_map(|p| p["mutationErrors"].as_array().expect("errors")).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["mutationId"], json!(9));
    assert!(pages.iter().flat_map(put_ids).any(|id| id == "t008"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_clients_repeated_push_is_refused_not_run_again() {
    let s = TestServer::start(ServerConfig::default()).await;
    let push =
        [("c1", 1, "createTodo", create("a", "once")), ("c1", 2, "markDone", json!({"id": "a", "updatedAt": 2}))];
    let (status, _) = s.push("alice", "g1", &push).await;
    assert_eq!(status, 200);
    // The answer is lost; meanwhile the server forgets the group.
    assert!(s.server.forget_group("g1").await.expect("forget"));
    let before = s.dump();
    let (status, body) = s.push("alice", "g1", &push).await;
    assert_eq!((status, body["error"].clone()), (409, json!("client_forgotten")), "{body}");
    assert_eq!(body["retryable"], json!(false));
    assert_eq!(s.dump(), before, "nothing ran a second time");
    // Another client of the group (or this one under a new id) carries on.
    let (status, body) = s.push("alice", "g1", &[("c2", 1, "createTodo", create("b", "next"))]).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s.push("alice", "g1", &[("c1", 3, "createTodo", create("c", "x"))]).await;
    assert_eq!((status, body["error"].clone()), (409, json!("client_forgotten")), "the tombstone outlives the group");
}
