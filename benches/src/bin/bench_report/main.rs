//! Prints every benchmark figure the issues ask for, measuring plasma and the
//! hand-written baseline in the same run: `cargo run --release -p plasma-benches --bin bench-report`.

mod bounds;
mod client;
mod live;
mod scopes;
mod worker;

use std::time::{Duration, Instant};

use bytes::Bytes;
use plasma::SqliteExecutor;
use plasma::server::{Authorized, ServerConfig, SyncServer};
use plasma_benches::{fresh_db, raw_insert, raw_select, seeded, todo, typed_insert, typed_select};
use serde_json::{Value, json};
use todo::TodoMutators;

const REPEATS: usize = 15;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn time<T>(f: impl FnOnce() -> T) -> Duration {
    let start = Instant::now();
    std::hint::black_box(f());
    start.elapsed()
}

fn row(case: &str, plasma: String, baseline: String, ratio: String) {
    println!("{case:<52} {plasma:>16} {baseline:>16} {ratio:>10}");
}

fn sqlite_figures() {
    println!("\n## SQLite executor (issue 2)");
    row("case", "plasma".into(), "raw rusqlite".into(), "ratio".into());
    let (typed_db, raw_db) = (fresh_db(), fresh_db());
    let (mut typed, mut raw) = (Vec::new(), Vec::new());
    for batch in 0..REPEATS as u64 {
        let rows: Vec<_> = (0..1000).map(|i| todo(batch, i)).collect();
        // Alternate which side goes first so neither always runs on a warmer cache.
        if batch % 2 == 0 {
            typed.push(time(|| typed_insert(&typed_db, &rows).expect("typed insert")));
            raw.push(time(|| raw_insert(raw_db.connection(), &rows).expect("raw insert")));
        } else {
            raw.push(time(|| raw_insert(raw_db.connection(), &rows).expect("raw insert")));
            typed.push(time(|| typed_insert(&typed_db, &rows).expect("typed insert")));
        }
    }
    let (t, r) = (median(typed), median(raw));
    let rate = |d: Duration| 1000.0 / d.as_secs_f64();
    row(
        "insert 1000 rows + triggers, one tx (rows/s)",
        format!("{:.0}", rate(t)),
        format!("{:.0}", rate(r)),
        format!("{:.0}%", 100.0 * rate(t) / rate(r)),
    );

    let db = seeded(10_000);
    let (mut typed, mut raw) = (Vec::new(), Vec::new());
    for i in 0..REPEATS * 20 {
        if i % 2 == 0 {
            typed.push(time(|| typed_select(&db, 42).expect("typed select")));
            raw.push(time(|| raw_select(db.connection(), 42).expect("raw select")));
        } else {
            raw.push(time(|| raw_select(db.connection(), 42).expect("raw select")));
            typed.push(time(|| typed_select(&db, 42).expect("typed select")));
        }
    }
    let (t, r) = (median(typed), median(raw));
    row(
        "select 100 of 10k rows by indexed column (median)",
        format!("{:.1} us", t.as_secs_f64() * 1e6),
        format!("{:.1} us", r.as_secs_f64() * 1e6),
        format!("{:.2}x", t.as_secs_f64() / r.as_secs_f64()),
    );
}

fn who(user: &str) -> Authorized<todo::Ctx> {
    Authorized::user(user, todo::Ctx::server_with(user, todo::ServerRules::unlimited()))
}

fn push_body(group: &str, client: &str, first_id: u64, count: u64, batch: u64) -> Vec<u8> {
    let mutations: Vec<Value> = (0..count)
        .map(|i| {
            let t = todo(batch, first_id + i);
            json!({"clientId": client, "id": first_id + i, "name": "createTodo",
                   "args": {"id": t.id, "title": t.title, "updatedAt": t.updated_at}, "timestamp": 0})
        })
        .collect();
    serde_json::to_vec(&json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION,
        "clientGroupId": group, "mutations": mutations}))
    .expect("json")
}

fn server(dir: &tempfile::TempDir, name: &str) -> SyncServer<TodoMutators> {
    let db = SqliteExecutor::open(dir.path().join(name)).expect("open");
    todo::server::build_with(db, ServerConfig::default()).expect("server")
}

async fn server_figures() {
    println!("\n## Sync server (issue 3), SQLite file in WAL mode");
    row("case", "plasma".into(), "raw rusqlite".into(), "ratio".into());
    let dir = tempfile::tempdir().expect("tempdir");

    // One push of 1000 creates vs raw inserts of the same rows, same triggers, same file settings.
    let s = server(&dir, "push.db");
    let raw_db = SqliteExecutor::open(dir.path().join("raw.db")).expect("open");
    raw_db.ensure_schema(&todo::SCHEMA).expect("schema");
    let (mut pushes, mut raws) = (Vec::new(), Vec::new());
    for batch in 0..REPEATS as u64 {
        let body = push_body("bench", "c1", batch * 1000 + 1, 1000, batch);
        let start = Instant::now();
        let response = s.push(who("bench"), &body).await.expect("push");
        pushes.push(start.elapsed());
        assert_eq!(response.last_mutation_ids["c1"], (batch + 1) * 1000);
        let rows: Vec<_> = (0..1000).map(|i| todo(batch + 1000, i)).collect();
        raws.push(time(|| raw_insert(raw_db.connection(), &rows).expect("raw")));
    }
    let (p, r) = (median(pushes), median(raws));
    let rate = |d: Duration| 1000.0 / d.as_secs_f64();
    row(
        "push of 1000 createTodo vs raw insert (rows/s)",
        format!("{:.0}", rate(p)),
        format!("{:.0}", rate(r)),
        format!("{:.0}%", 100.0 * rate(p) / rate(r)),
    );

    // A pull of 10k changed rows, served through the HTTP handler (JSON included).
    let s = server(&dir, "pull.db");
    let (_, base) = pull_via_handler(&s, Value::Null).await;
    for batch in 0..10u64 {
        s.push(who("bench"), &push_body("bench", "c1", batch * 1000 + 1, 1000, batch)).await.expect("push");
    }
    let mut samples = Vec::new();
    let mut rows = 0;
    for _ in 0..REPEATS {
        let start = Instant::now();
        let (bytes, body) = pull_via_handler(&s, base["cookie"].clone()).await;
        samples.push(start.elapsed());
        rows = body["patch"].as_array().map_or(0, Vec::len);
        std::hint::black_box(bytes);
    }
    row(
        "pull of 10k changed rows (median, ms)",
        format!("{:.1} ms", median(samples).as_secs_f64() * 1e3),
        "-".into(),
        format!("{rows} rows"),
    );

    load_figures(&dir).await;
}

async fn pull_via_handler(s: &SyncServer<TodoMutators>, cookie: Value) -> (usize, Value) {
    let body = json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": "bench", "cookie": cookie});
    let request = http::Request::builder()
        .method("POST")
        .uri("/sync/pull")
        .header("x-user", "bench")
        .body(Bytes::from(serde_json::to_vec(&body).expect("json")))
        .expect("request");
    let response = s.handle(request).await;
    assert_eq!(response.status(), 200);
    let bytes = response.into_body();
    (bytes.len(), serde_json::from_slice(&bytes).expect("json"))
}

async fn load_figures(dir: &tempfile::TempDir) {
    const CLIENTS: u64 = 50;
    const PUSHES: u64 = 40;
    const BATCH: u64 = 5;
    let s = server(dir, "load.db");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = plasma::server::router(s);
    let serve = tokio::spawn(plasma::server::serve(listener, app, plasma::server::ServeConfig::default()));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(PUSHES as usize);
            for p in 0..PUSHES {
                let body = push_body(&format!("g{c}"), &format!("c{c}"), p * BATCH + 1, BATCH, 10_000 + c);
                let sent = Instant::now();
                let response = http
                    .post(format!("http://{addr}/sync/push"))
                    .header("x-user", format!("user{c}"))
                    .body(body)
                    .send()
                    .await
                    .expect("push");
                assert_eq!(response.status(), 200);
                let _ = response.bytes().await;
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client task"));
    }
    let elapsed = start.elapsed();
    serve.abort();
    latencies.sort();
    let total = CLIENTS * PUSHES * BATCH;
    row(
        &format!("{CLIENTS} clients x {PUSHES} pushes x {BATCH} mutations on loopback"),
        format!("{:.0} mut/s", total as f64 / elapsed.as_secs_f64()),
        "-".into(),
        format!("{total} muts"),
    );
    row(
        "  push latency p50 / p99",
        format!("{:.2} ms", percentile(&latencies, 0.5).as_secs_f64() * 1e3),
        format!("{:.2} ms", percentile(&latencies, 0.99).as_secs_f64() * 1e3),
        String::new(),
    );
}

/// `bench-report [sqlite|server|client|live|bounds|worker]...`: the named sections, or all of them
/// but `worker` (it needs a running Worker: `cargo xtask worker --bench`).
fn main() {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let wants = |section: &str| only.is_empty() || only.iter().any(|s| s == section);
    println!("plasma bench-report (release build recommended; 2-core machine figures vary by a few %)");
    if wants("sqlite") {
        sqlite_figures();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    if wants("server") {
        runtime.block_on(server_figures());
    }
    if wants("client") {
        let dir = tempfile::tempdir().expect("tempdir");
        runtime.block_on(client::figures(&dir));
    }
    if wants("live") {
        live::figures();
    }
    if only.iter().any(|s| s == "worker") {
        runtime.block_on(worker::figures());
    }
    if only.iter().any(|s| s == "scopes") {
        let dir = tempfile::tempdir().expect("tempdir");
        runtime.block_on(scopes::figures(&dir));
    }
    if wants("bounds") {
        let dir = tempfile::tempdir().expect("tempdir");
        runtime.block_on(bounds::figures(&dir));
    }
}
