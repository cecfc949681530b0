//! Issue figures for the client: mutate -> visible locally, and a rebase of
//! 1000 pending mutations over a 1000-row server patch.

use std::cell::Cell;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use plasma::Table;
use plasma::client::platform::native::TokioPlatform;
use plasma::client::{Client, MemoryStore};
use plasma_benches::client::{Unreachable, core_with_pending, ctx, pull_pages};
use todo::{CreateTodo, SCHEMA, Todo, TodoMutators, create_todo};

fn mutate_until_visible(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let client = runtime.block_on(async {
        Client::<TodoMutators>::builder(&SCHEMA, "bench")
            .context(ctx)
            .store(MemoryStore::new())
            .build(Unreachable, TokioPlatform::current().expect("runtime"))
            .await
            .expect("client")
    });
    let n = Cell::new(0u64);
    c.bench_function("client/mutate_then_visible", |b| {
        b.iter(|| {
            let i = n.get();
            n.set(i + 1);
            let id = format!("m{i:08}");
            let args = CreateTodo { id: id.clone(), title: "bench".into(), updated_at: i as i64, list_id: None };
            let _queued = client.mutate::<create_todo>(args).expect("mutate");
            let visible = client.read(|view| view.row(Todo::DEF, &id).ok().flatten().is_some()).expect("read");
            assert!(visible);
        })
    });
}

fn rebase(c: &mut Criterion) {
    let pages = pull_pages(7, 1000, 1000);
    let ctx = ctx();
    c.bench_function("client/rebase_1000_pending_over_1000_row_patch", |b| {
        b.iter_batched(
            || core_with_pending(1000),
            |mut core| {
                let rebase = core.apply_pull(&None, &pages, &ctx, || "reset".into(), |_| Ok(())).expect("rebase");
                assert_eq!(core.pending().len(), 1000);
                rebase
            },
            BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, mutate_until_visible, rebase);
criterion_main!(benches);
