//! Client figures (issue 4): mutate -> visible, rebase, initial sync.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use plasma::Table;
use plasma::client::platform::native::TokioPlatform;
use plasma::client::{Client, ClientEvent, MemoryStore, SqliteStore, Store, SyncStatus};
use plasma::exec::rusqlite::Connection;
use plasma_benches::client::{PagesTransport, Unreachable, core_with_pending, ctx, encoded_pull_pages, pull_pages};
use plasma_benches::{raw_insert, todo};
use todo::{CreateTodo, SCHEMA, Todo, TodoMutators, create_todo};

use super::{REPEATS, median, percentile, row, time};

const SYNC_ROWS: u64 = 100_000;
const PAGE_ROWS: u64 = 10_000;

async fn offline_client(store: impl Store) -> Client<TodoMutators> {
    Client::<TodoMutators>::builder(&SCHEMA, "bench")
        .context(ctx)
        .store(store)
        .build(Unreachable, TokioPlatform::current().expect("runtime"))
        .await
        .expect("client")
}

fn mutate_latencies(client: &Client<TodoMutators>, n: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("m{i:08}");
        let args = CreateTodo { id: id.clone(), title: "bench".into(), updated_at: i as i64, list_id: None };
        let start = Instant::now();
        let _queued = client.mutate::<create_todo>(args).expect("mutate");
        let visible = client.read(|view| view.row(Todo::DEF, &id).ok().flatten().is_some()).expect("read");
        samples.push(start.elapsed());
        assert!(visible);
    }
    samples.sort();
    samples
}

pub async fn figures(dir: &tempfile::TempDir) {
    println!("\n## Client (issue 4)");
    row("case", "plasma".into(), "baseline".into(), "ratio".into());

    let memory = offline_client(MemoryStore::new()).await;
    let samples = mutate_latencies(&memory, 20_000);
    row(
        "mutate -> visible, memory store (p50 / p99)",
        format!("{:.1} us", percentile(&samples, 0.5).as_secs_f64() * 1e6),
        format!("{:.1} us", percentile(&samples, 0.99).as_secs_f64() * 1e6),
        String::new(),
    );
    let sqlite = offline_client(SqliteStore::open(dir.path().join("mutate.db")).expect("store")).await;
    let samples = mutate_latencies(&sqlite, 5_000);
    row(
        "mutate -> visible + durable, SQLite file (p50 / p99)",
        format!("{:.1} us", percentile(&samples, 0.5).as_secs_f64() * 1e6),
        format!("{:.1} us", percentile(&samples, 0.99).as_secs_f64() * 1e6),
        String::new(),
    );

    let pages = pull_pages(7, 1000, 1000);
    let ctx = ctx();
    let mut rebases = Vec::new();
    for _ in 0..REPEATS {
        let mut core = core_with_pending(1000);
        rebases.push(time(|| core.apply_pull(&None, &pages, &ctx, || "reset".into(), |_| Ok(())).expect("rebase")));
        assert_eq!(core.pending().len(), 1000);
    }
    row(
        "rebase 1000 pending over a 1000-row patch (median)",
        format!("{:.2} ms", median(rebases).as_secs_f64() * 1e3),
        String::new(),
        String::new(),
    );

    // Initial sync: the whole client path from JSON pages to a SQLite file,
    // against raw rusqlite inserting the same rows into the same table shape.
    let encoded = encoded_pull_pages(9, SYNC_ROWS, PAGE_ROWS);
    let mut syncs = Vec::new();
    let mut raws = Vec::new();
    let mut progress_events = 0;
    for attempt in 0..5 {
        let store = SqliteStore::open(dir.path().join(format!("sync-{attempt}.db"))).expect("store");
        let client = Client::<TodoMutators>::builder(&SCHEMA, "bench")
            .context(plasma_benches::client::ctx)
            .store(store)
            .build(PagesTransport::new(encoded.clone()), TokioPlatform::current().expect("runtime"))
            .await
            .expect("client");
        let mut events = client.events();
        // From the first request to the rows being visible and durable.
        let start = Instant::now();
        client.start();
        progress_events = 0;
        while let Some(event) = events.next().await {
            match event {
                ClientEvent::PullProgress { .. } => progress_events += 1,
                ClientEvent::Status(SyncStatus::InSync) => break,
                _ => {}
            }
        }
        syncs.push(start.elapsed());
        let stored = client.read(|view| view.len(Todo::DEF)).expect("read").expect("len");
        assert_eq!(stored as u64, SYNC_ROWS);

        let rows: Vec<Todo> = (0..SYNC_ROWS).map(|i| todo(9, i)).collect();
        let conn = Connection::open(dir.path().join(format!("raw-{attempt}.db"))).expect("raw db");
        conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
        conn.pragma_update(None, "synchronous", "NORMAL").expect("sync");
        conn.execute_batch(&plasma::sql::ddl::create_table(Todo::DEF)).expect("table");
        raws.push(time(|| raw_insert(&conn, &rows).expect("raw insert")));
    }
    let (s, r) = (median(syncs), median(raws));
    let rate = |d: Duration| SYNC_ROWS as f64 / d.as_secs_f64();
    row(
        "initial sync 100k rows -> SQLite store (rows/s)",
        format!("{:.0}", rate(s)),
        format!("{:.0}", rate(r)),
        format!("{:.0}%", 100.0 * rate(s) / rate(r)),
    );
    println!(
        "  ({} pages of {PAGE_ROWS}, {progress_events} progress events, {:.0} ms end to end)",
        SYNC_ROWS / PAGE_ROWS,
        s.as_secs_f64() * 1e3
    );
}
