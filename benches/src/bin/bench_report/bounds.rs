//! Bounded server resources (issue 10): one-row push latency while other
//! clients pull a reset of 100 rows of 4 MB, and the server's peak memory.

use std::time::{Duration, Instant};

use plasma::SqliteExecutor;
use plasma::server::{ServerConfig, SyncServer};
use serde_json::{Value, json};
use todo::TodoMutators;

use super::{percentile, row, who};

const BIG_ROWS: u64 = 100;
const BIG_BYTES: usize = 4_000_000;

/// Peak resident set of this process so far, from /proc (Linux).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn one_create(client: &str, id: u64, title: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION,
        "clientGroupId": format!("{client}-group"), "mutations": [{"clientId": client, "id": id, "name": "createTodo",
        "args": {"id": format!("{client}-{id}"), "title": title, "updatedAt": id}, "timestamp": 0}]}))
    .expect("json")
}

async fn push_latencies(server: &SyncServer<TodoMutators>, client: &str, count: u64) -> Vec<Duration> {
    let mut samples = Vec::new();
    for id in 1..=count {
        let body = one_create(client, id, "small");
        let start = Instant::now();
        server.push(who("pusher"), &body).await.expect("push");
        samples.push(start.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    samples.sort();
    samples
}

/// Pulls a whole reset, page by page; returns pages and the largest page in bytes.
async fn reset(server: &SyncServer<TodoMutators>, group: &str) -> (usize, usize) {
    let mut cookie = Value::Null;
    let (mut pages, mut largest) = (0, 0);
    loop {
        let body = serde_json::to_vec(&json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION,
            "clientGroupId": group, "cookie": cookie}))
        .expect("json");
        let page = server.pull(who("reader"), &body).await.expect("pull");
        let encoded = serde_json::to_vec(&page).expect("encode");
        largest = largest.max(encoded.len());
        pages += 1;
        if !page.more {
            return (pages, largest);
        }
        cookie = serde_json::to_value(&page.cookie).expect("cookie");
    }
}

pub async fn figures(dir: &tempfile::TempDir) {
    println!("\n## Bounded server resources (issue 10): {BIG_ROWS} rows of {} MB", BIG_BYTES / 1_000_000);
    row("case", "value".into(), String::new(), String::new());
    let db = SqliteExecutor::open(dir.path().join("bounds.db")).expect("open");
    let server =
        todo::server::build_with_rules(db, ServerConfig::default(), todo::ServerRules::unlimited()).expect("server");
    let title = "x".repeat(BIG_BYTES);
    for id in 1..=BIG_ROWS {
        server.push(who("writer"), &one_create("writer", id, &title)).await.expect("seed push");
    }
    let before = peak_rss_mb();

    let quiet = push_latencies(&server, "quiet", 100).await;
    // Two readers pull the whole reset over and over while one client pushes.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..2 {
        let (server, stop) = (server.clone(), std::sync::Arc::clone(&stop));
        readers.push(tokio::spawn(async move {
            let mut resets = 0;
            let mut shape = (0, 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                shape = reset(&server, &format!("reader-{r}-{resets}")).await;
                resets += 1;
            }
            (resets, shape)
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let loaded = push_latencies(&server, "loaded", 100).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut shape = (0, 0);
    let mut resets = 0;
    for r in readers {
        let (n, s) = r.await.expect("reader");
        resets += n;
        shape = s;
    }
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    row("one-row push p50 / p99, quiet", ms(percentile(&quiet, 0.5)), ms(percentile(&quiet, 0.99)), String::new());
    row(
        "one-row push p50 / p99, during 2 looping resets",
        ms(percentile(&loaded, 0.5)),
        ms(percentile(&loaded, 0.99)),
        format!("{resets} resets"),
    );
    row(
        "reset of 400 MB: pages / largest page",
        format!("{} pages", shape.0),
        format!("{:.1} MB", shape.1 as f64 / 1e6),
        String::new(),
    );
    if let (Some(before), Some(after)) = (before, peak_rss_mb()) {
        row("peak RSS before / after the resets", format!("{before:.0} MB"), format!("{after:.0} MB"), String::new());
    }
}
