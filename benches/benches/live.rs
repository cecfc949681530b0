//! Issue figures for live queries (incremental view maintenance):
//!
//! - `live/one_row_change_100k`: a one-row change touching a `limit(50)`
//!   window over 100k rows, maintained (write + flush), against the same
//!   query re-run from scratch over the same rows (`live/rerun_100k`);
//! - `live/zero_cases_100k`: Zero's push and edit cases, inside and outside
//!   the bound, engine level over 100k rows;
//! - `live/client_fanout`: a client over 100k rows with 100 live queries, one
//!   `createTodo` changing 5 of them, from `client.mutate` to the fifth
//!   `on_change`.
//!
//! Every case is timed with `iter_custom`: the fixtures time only the work
//! under test and check (and undo) it outside the timed region.
//! `bench-report live` prints the same figures as medians and p99.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use plasma_benches::live::{Case, Engine, ROWS, fanout_on_new_runtime};

fn one_row_change(c: &mut Criterion) {
    let mut engine = Engine::new(Case::WindowMove);
    let mut group = c.benchmark_group("live/one_row_change_100k");
    group.bench_function("maintain_put_and_flush", |b| b.iter_custom(|iters| (0..iters).map(|_| engine.step()).sum()));
    group.finish();

    // Milliseconds per run: fewer samples keep the bench short.
    let mut group = c.benchmark_group("live/rerun_100k");
    group.sample_size(20);
    group.bench_function("limit50_from_scratch", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| engine.rerun()).sum::<Duration>())
    });
    group.finish();
}

fn zero_cases(c: &mut Criterion) {
    let mut group = c.benchmark_group("live/zero_cases_100k");
    for case in Case::ZERO {
        let mut engine = Engine::new(case);
        group.bench_function(case.name(), |b| b.iter_custom(|iters| (0..iters).map(|_| engine.step()).sum()));
    }
    group.finish();
}

fn client_fanout(c: &mut Criterion) {
    // The client's store starts with ROWS rows; every iteration adds one.
    let (_runtime, mut fanout) = fanout_on_new_runtime(ROWS);
    let mut group = c.benchmark_group("live/client_fanout");
    group.bench_function("mutate_to_fifth_on_change_100_queries", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| fanout.step()).sum())
    });
    group.finish();
}

criterion_group!(benches, one_row_change, zero_cases, client_fanout);
criterion_main!(benches);
