//! Issue figures for the SQLite executor, plasma vs hand-written rusqlite in the
//! same run: batched inserts with triggers, and a 100-row select by an indexed column.

use std::cell::Cell;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use plasma_benches::{fresh_db, raw_insert, raw_select, seeded, todo, typed_insert, typed_select};

const BATCH: u64 = 1000;

fn inserts(c: &mut Criterion) {
    let mut group = c.benchmark_group("insert_1000_with_triggers");
    group.throughput(Throughput::Elements(BATCH));
    let typed_db = fresh_db();
    let raw_db = fresh_db();
    let batch = Cell::new(1u64);
    let next_rows = || {
        let b = batch.get();
        batch.set(b + 1);
        (0..BATCH).map(|i| todo(b, i)).collect::<Vec<_>>()
    };
    group.bench_function("plasma_typed", |bench| {
        bench.iter_batched(next_rows, |rows| typed_insert(&typed_db, &rows).expect("insert"), BatchSize::LargeInput)
    });
    group.bench_function("raw_rusqlite", |bench| {
        bench.iter_batched(
            next_rows,
            |rows| raw_insert(raw_db.connection(), &rows).expect("insert"),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn selects(c: &mut Criterion) {
    let mut group = c.benchmark_group("select_100_by_index_of_10k");
    let db = seeded(10_000);
    assert_eq!(typed_select(&db, 42).expect("select").len(), 100);
    group.bench_function("plasma_typed", |bench| bench.iter(|| typed_select(&db, 42).expect("select")));
    group.bench_function("raw_rusqlite", |bench| bench.iter(|| raw_select(db.connection(), 42).expect("select")));
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1))
}

criterion_group! { name = benches; config = config(); targets = inserts, selects }
criterion_main!(benches);
