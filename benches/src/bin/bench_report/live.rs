//! Live-query figures (incremental view maintenance): a one-row change in a
//! `limit(50)` window against re-running the query, Zero's cases, and the
//! client's reactive loop with 100 live queries. Fixtures and checks are in
//! `plasma_benches::live`; every figure is the p50 / p99 of many steps.

use std::time::Duration;

use plasma_benches::live::{AFFECTED, Case, Engine, LIVE_QUERIES, ROWS, fanout_on_new_runtime};

use super::{percentile, row};

/// Steps timed per case (after `WARMUP` untimed ones).
const STEPS: usize = 2_000;
const WARMUP: usize = 200;
/// Re-runs cost milliseconds each: fewer of them.
const RERUNS: usize = 200;

fn us(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 { format!("{:.2} ms", us / 1e3) } else { format!("{us:.1} us") }
}

fn sample(warmup: usize, steps: usize, mut f: impl FnMut() -> Duration) -> Vec<Duration> {
    for _ in 0..warmup {
        f();
    }
    let mut samples: Vec<Duration> = (0..steps).map(|_| f()).collect();
    samples.sort();
    samples
}

fn p50(sorted: &[Duration]) -> Duration {
    percentile(sorted, 0.5)
}

fn p99(sorted: &[Duration]) -> Duration {
    percentile(sorted, 0.99)
}

fn print(case: &str, sorted: &[Duration], note: String) {
    row(case, us(p50(sorted)), us(p99(sorted)), note);
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

pub fn figures() {
    println!("\n## Live queries (incremental view maintenance), engine over {ROWS} rows");
    row("case", "p50".into(), "p99".into(), "target".into());

    // 1. The headline: maintain vs re-run, same fixture, same run, interleaved
    // so neither side always runs on a warmer cache.
    let mut engine = Engine::new(Case::WindowMove);
    for _ in 0..WARMUP {
        engine.step();
    }
    engine.rerun();
    let (mut maintain, mut reruns) = (Vec::with_capacity(STEPS), Vec::with_capacity(RERUNS));
    for i in 0..STEPS {
        maintain.push(engine.step());
        if i % (STEPS / RERUNS) == 0 {
            reruns.push(engine.rerun());
        }
    }
    maintain.sort();
    reruns.sort();
    let (m, r) = (p50(&maintain), p50(&reruns));
    print(Case::WindowMove.describe(), &maintain, format!("<= 50 us {}", verdict(m <= Duration::from_micros(50))));
    print("  same query re-run from scratch (memory tx)", &reruns, String::new());
    let ratio = r.as_secs_f64() / m.as_secs_f64();
    row(
        "  ratio re-run / maintain (p50)",
        format!("{ratio:.0}x"),
        format!("{:.0}x", p99(&reruns).as_secs_f64() / p99(&maintain).as_secs_f64()),
        format!(">= 100x {}", verdict(ratio >= 100.0)),
    );
    let through_tx = sample(WARMUP, STEPS, || engine.step_through_tx());
    print("  same change via Todo::update in a memory tx + flush", &through_tx, "(update by id)".into());
    drop(engine);

    // 3. Zero's cases, one fixture (one live query over 100k rows) each.
    for case in Case::ZERO {
        let mut engine = Engine::new(case);
        let samples = sample(WARMUP, STEPS, || engine.step());
        print(case.describe(), &samples, String::new());
    }

    // 2. The client's reactive loop.
    println!("\n## Live queries on the client: {LIVE_QUERIES} live queries over {ROWS} rows, {AFFECTED} affected");
    row("case", "p50".into(), "p99".into(), "target".into());
    let (_runtime, mut fanout) = fanout_on_new_runtime(ROWS);
    let samples = sample(WARMUP, STEPS, || fanout.step());
    print(
        &format!("createTodo: mutate -> {AFFECTED}th on_change"),
        &samples,
        format!("< 200 us {}", verdict(p50(&samples) < Duration::from_micros(200))),
    );
    let renames = sample(WARMUP, STEPS, || fanout.rename_newest());
    print(&format!("renameTodo: mutate -> {AFFECTED}th on_change"), &renames, "(update by id)".into());
}
