//! Read scopes (issue 15): a user's pull among a million rows of other
//! users against the same pull without scopes, and how many groups one
//! commit pokes with 100 users connected.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use plasma::SqliteExecutor;
use plasma::server::{Scopes, ServerConfig, SyncServer};
use serde_json::{Value, json};
use todo::TodoMutators;

use crate::{median, row, who};

/// The todo app's scoped server (its real rules) on a file in `dir`.
fn scoped(dir: &tempfile::TempDir, name: &str) -> SyncServer<TodoMutators> {
    let db = SqliteExecutor::open(dir.path().join(name)).expect("open");
    todo::server::build_with_rules(db, ServerConfig::default(), todo::ServerRules::unlimited()).expect("server")
}

/// The same app with every row readable by everyone.
fn unscoped(dir: &tempfile::TempDir, name: &str) -> SyncServer<TodoMutators> {
    let db = SqliteExecutor::open(dir.path().join(name)).expect("open");
    SyncServer::<TodoMutators>::builder(&todo::SCHEMA, db)
        .auth(|_| async { Err(plasma::server::AuthRejection::unauthorized("bench calls pull directly")) })
        .scopes(Scopes::read_all())
        .build()
        .expect("server")
}

/// Inserts `count` private todos owned by `owner(i)` with SQL (the triggers
/// log each, as pushes would).
fn fill(server: &SyncServer<TodoMutators>, from: u64, count: u64, owner: &str) {
    server.with_db_blocking(|db| {
        db.connection()
            .execute_batch(&format!(
                "BEGIN; INSERT INTO todos (id, title, done, \"updatedAt\", owner, \"listId\") \
                 WITH RECURSIVE c(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM c WHERE i < {last}) \
                 SELECT 'r' || i, 'todo number ' || i, 0, i, {owner}, NULL FROM c; COMMIT;",
                last = from + count - 1
            ))
            .expect("fill")
    });
}

async fn pull_all(server: &SyncServer<TodoMutators>, user: &str, group: &str, cookie: Value) -> (Value, usize) {
    let mut cookie = cookie;
    let mut rows = 0;
    loop {
        let body = json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": group, "cookie": cookie});
        let response = server.pull(who(user), &serde_json::to_vec(&body).expect("json")).await.expect("pull");
        rows += response.patch.len();
        cookie = serde_json::to_value(&response.cookie).expect("cookie");
        if !response.more {
            return (cookie, rows);
        }
    }
}

pub async fn figures(dir: &tempfile::TempDir) {
    println!("\n## Read scopes (issue 15)");
    row("case", "scoped".into(), "no scopes".into(), "ratio".into());
    let with = scoped(dir, "scoped.db");
    let started = Instant::now();
    // 1M rows of 1,000 other users, then the puller's 1,000.
    fill(&with, 1, 1_000_000, "'other' || (i % 1000)");
    fill(&with, 1_000_001, 1_000, "'me'");
    println!("(seeded 1,001,000 rows in {:.1} s)", started.elapsed().as_secs_f64());
    let without = unscoped(dir, "unscoped.db");
    fill(&without, 1_000_001, 1_000, "'me'");

    let mut resets = (Vec::new(), Vec::new());
    for i in 0..7 {
        let group = format!("reset{i}");
        let t = Instant::now();
        let (_, n) = pull_all(&with, "me", &group, Value::Null).await;
        resets.0.push(t.elapsed());
        assert_eq!(n, 1_001, "a clear and the 1,000 rows in scope");
        let t = Instant::now();
        let (_, n) = pull_all(&without, "me", &group, Value::Null).await;
        resets.1.push(t.elapsed());
        assert_eq!(n, 1_001);
    }
    let (a, b) = (median(resets.0), median(resets.1));
    row(
        "first pull, 1,000 rows in scope among 1M (median)",
        format!("{:.1} ms", a.as_secs_f64() * 1e3),
        format!("{:.1} ms", b.as_secs_f64() * 1e3),
        format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64()),
    );

    // Incremental: 100 other users' writes and 10 of the puller's since the cookie.
    let (mut cookie_with, _) = pull_all(&with, "me", "inc", Value::Null).await;
    let (mut cookie_without, _) = pull_all(&without, "me", "inc", Value::Null).await;
    let mut incs = (Vec::new(), Vec::new());
    for round in 0..7u64 {
        let base = 2_000_000 + round * 1_000;
        fill(&with, base, 100, "'other' || (i % 1000)");
        fill(&with, base + 500, 10, "'me'");
        fill(&without, base + 500, 10, "'me'");
        let t = Instant::now();
        let (next, n) = pull_all(&with, "me", "inc", cookie_with).await;
        incs.0.push(t.elapsed());
        assert_eq!(n, 10, "only the puller's 10 new rows");
        cookie_with = next;
        let t = Instant::now();
        let (next, n) = pull_all(&without, "me", "inc", cookie_without).await;
        incs.1.push(t.elapsed());
        assert_eq!(n, 10);
        cookie_without = next;
    }
    let (a, b) = (median(incs.0), median(incs.1));
    row(
        "next pull: 10 of mine among 110 changes (median)",
        format!("{:.2} ms", a.as_secs_f64() * 1e3),
        format!("{:.2} ms", b.as_secs_f64() * 1e3),
        format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64()),
    );
    drop((with, without));
    poke_figures(dir).await;
}

/// 100 users connected (one group each); commits by one of them.
async fn poke_figures(dir: &tempfile::TempDir) {
    let server = scoped(dir, "pokes.db");
    let pokes = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for u in 0..100 {
        let user = format!("u{u}");
        let scope = Arc::new(server.scope_of(&who(&user)).expect("scope"));
        let mut subscription =
            server.pokes().subscribe_scoped(format!("g{u}"), user, Some(scope)).expect("subscribe");
        let pokes = Arc::clone(&pokes);
        tasks.push(tokio::spawn(async move {
            while subscription.next().await.is_some() {
                pokes.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    // Every push comes from u0's one client: ids count up.
    let mut next_id = 0u64;
    let (private, private_took) =
        push(&server, &pokes, &mut next_id, "createTodo", json!({"id": "p1", "title": "mine", "updatedAt": 1})).await;
    push(&server, &pokes, &mut next_id, "createList", json!({"id": "L", "name": "shared"})).await;
    for u in 1..5 {
        push(&server, &pokes, &mut next_id, "shareList", json!({"listId": "L", "userId": format!("u{u}")})).await;
    }
    let args = json!({"id": "p2", "title": "ours", "updatedAt": 1, "listId": "L"});
    let (shared, shared_took) = push(&server, &pokes, &mut next_id, "createTodo", args).await;
    println!("pokes per commit with 100 users connected (one group each):");
    println!("  private todo: {private} group(s) poked, push took {:.2} ms", private_took.as_secs_f64() * 1e3);
    println!(
        "  todo in a list of 5 members: {shared} group(s) poked, push took {:.2} ms",
        shared_took.as_secs_f64() * 1e3
    );
    println!("  (without read rules every commit pokes all 100)");
    for task in tasks {
        task.abort();
    }
}

/// Pushes one mutation of u0 (group `g0`); returns how many groups were
/// poked for it and how long the push took.
async fn push(
    server: &SyncServer<TodoMutators>,
    pokes: &AtomicUsize,
    next_id: &mut u64,
    name: &str,
    args: Value,
) -> (usize, Duration) {
    *next_id += 1;
    let body = json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": "g0",
        "mutations": [{"clientId": "c0", "id": *next_id, "name": name, "args": args, "timestamp": 0}]});
    let before = pokes.load(Ordering::SeqCst);
    let t = Instant::now();
    let response = server.push(who("u0"), &serde_json::to_vec(&body).expect("json")).await.expect("push");
    let took = t.elapsed();
    assert_eq!(response.last_mutation_ids["c0"], *next_id);
    tokio::time::sleep(Duration::from_millis(30)).await;
    (pokes.load(Ordering::SeqCst) - before, took)
}
