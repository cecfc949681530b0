//! The Worker on a local D1 (`wrangler dev --local`, URL in
//! `PLASMA_WORKER_URL`) beside the axum server on a SQLite file, over HTTP
//! on 127.0.0.1 in the same run: a push of 100 mutations, and a fresh
//! client's first pull of 10k rows (every page). Run by `cargo xtask worker --bench`.

use std::time::{Duration, Instant};

use plasma::server::ServerConfig;
use serde_json::{Value, json};

use super::{median, row};

const RUNS: usize = 7;

fn push_body(group: &str, client: &str, first_id: u64, mutations: Vec<(String, Value)>) -> Value {
    let mutations: Vec<Value> = mutations
        .into_iter()
        .enumerate()
        .map(|(i, (name, args))| json!({"clientId": client, "id": first_id + i as u64, "name": name, "args": args, "timestamp": 0}))
        .collect();
    json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": group, "mutations": mutations})
}

async fn post(http: &reqwest::Client, url: &str, user: &str, body: &Value) -> Value {
    let response = http.post(url).header(todo::USER_HEADER, user).json(body).send().await.expect("answered");
    assert!(response.status().is_success(), "{url}: {}", response.status());
    response.json().await.expect("json")
}

/// Median time of one push of 100 createTodo mutations (a fresh client each run).
async fn push_100(http: &reqwest::Client, base: &str, tag: &str) -> Duration {
    let mut samples = Vec::new();
    for run in 0..RUNS {
        let creates = (0..100)
            .map(|i| {
                (
                    "createTodo".to_owned(),
                    json!({"id": format!("{tag}-{run}-{i}"), "title": format!("todo {i}"), "updatedAt": 1}),
                )
            })
            .collect();
        let body = push_body(&format!("{tag}-push-{run}"), &format!("{tag}-c{run}"), 1, creates);
        let start = Instant::now();
        post(http, &format!("{base}/sync/push"), "bench", &body).await;
        samples.push(start.elapsed());
    }
    median(samples)
}

/// Seeds 10k rows, then the median time of a fresh group's first pull, every page.
async fn pull_10k(http: &reqwest::Client, base: &str, tag: &str) -> Duration {
    for chunk in 0..20u64 {
        let todos: Vec<Value> = (0..500)
            .map(|i| json!({"id": format!("{tag}-seed-{chunk:02}-{i:03}"), "title": format!("seeded {chunk} {i}"), "updatedAt": 1}))
            .collect();
        let body = push_body(
            &format!("{tag}-seeder"),
            &format!("{tag}-seeder"),
            chunk + 1,
            vec![("importTodos".to_owned(), json!({"todos": todos}))],
        );
        post(http, &format!("{base}/sync/push"), "bench", &body).await;
    }
    let mut samples = Vec::new();
    for run in 0..RUNS {
        let group = format!("{tag}-reader-{run}");
        let start = Instant::now();
        let (mut cookie, mut rows) = (Value::Null, 0);
        loop {
            let body = json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": group, "cookie": cookie});
            let page = post(http, &format!("{base}/sync/pull"), "bench", &body).await;
            rows += page["patch"].as_array().map_or(0, |p| p.iter().filter(|op| op["op"] == "put").count());
            cookie = page["cookie"].clone();
            if page["more"] == false {
                break;
            }
        }
        samples.push(start.elapsed());
        assert!(rows >= 10_000, "a first pull brings every row ({rows})");
    }
    median(samples)
}

/// The figures (see the module docs).
pub async fn figures() {
    let Ok(worker) = std::env::var("PLASMA_WORKER_URL") else {
        println!("\n## Worker on D1 (issue 14): skipped, PLASMA_WORKER_URL unset (run `cargo xtask worker --bench`)");
        return;
    };
    println!(
        "\n## Worker on D1 (issue 14): wrangler dev --local vs axum + SQLite, HTTP on 127.0.0.1, median of {RUNS}"
    );
    row("case", "Worker + D1".into(), "axum + SQLite".into(), "ratio".into());
    let dir = tempfile::tempdir().expect("tempdir");
    let db = plasma::SqliteExecutor::open(dir.path().join("axum.db")).expect("open");
    let server =
        todo::server::build_with_rules(db, ServerConfig::default(), todo::ServerRules::unlimited()).expect("server");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let axum = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(plasma::server::serve(
        listener,
        plasma::server::router(server),
        plasma::server::ServeConfig::default(),
    ));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().expect("client");
    let tag = format!("bench{}", std::process::id());
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    let (w, a) = (push_100(&http, &worker, &tag).await, push_100(&http, &axum, &tag).await);
    row("push of 100 mutations, one request", ms(w), ms(a), format!("{:.1}x", w.as_secs_f64() / a.as_secs_f64()));
    let (w, a) = (pull_10k(&http, &worker, &tag).await, pull_10k(&http, &axum, &tag).await);
    row("first pull of 10k rows, every page", ms(w), ms(a), format!("{:.1}x", w.as_secs_f64() / a.as_secs_f64()));
    task.abort();
}
