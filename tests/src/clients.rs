//! Native todo clients for tests against a running server (the axum one in
//! `client_e2e.rs`, the Worker in `worker_d1.rs`).

use std::time::{Duration, Instant};

use plasma::client::platform::native::{HttpTransport, TokioPlatform};
use plasma::client::{BackoffConfig, Client, Store};

use todo::client::TodoClient;
use todo::{CreateTodo, Ctx, SCHEMA, Todo, TodoMutators, create_todo};

/// Everything a test waits for must happen within this, or the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Every todo title the client sees, sorted.
pub fn titles(client: &TodoClient) -> Vec<String> {
    let mut titles: Vec<String> = client.query(&Todo::select()).expect("query").into_iter().map(|t| t.title).collect();
    titles.sort();
    titles
}

/// Creates a todo titled `title` with a fresh id.
pub fn create(client: &TodoClient, title: &str) -> plasma::client::MutationHandle {
    let id = client.new_id();
    client.mutate::<create_todo>(CreateTodo { id, title: title.into(), updated_at: 1, list_id: None }).expect("mutate")
}

/// Polls `check` until it holds; returns how long that took.
pub async fn until(what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if check() {
            return start.elapsed();
        }
        assert!(start.elapsed() < PATIENCE, "gave up waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Retries within 20–200 ms, so tests of failures stay short.
pub fn quick_backoff() -> BackoffConfig {
    BackoffConfig { initial: Duration::from_millis(20), max: Duration::from_millis(200) }
}

/// A started client of the todo server at `endpoint` for `user` in `group`,
/// pulling only on pokes (or pushes): its pull interval is 10 minutes.
pub async fn client_with(endpoint: &str, user: &str, group: &str, store: impl Store, pokes: bool) -> TodoClient {
    let transport = HttpTransport::new(endpoint).expect("transport").header(todo::USER_HEADER, user);
    let user = user.to_owned();
    let client = Client::<TodoMutators>::builder(&SCHEMA, group)
        .context(move || Ctx::client(user.clone()))
        .store(store)
        .pokes(pokes)
        // Long enough that only pokes (or a push) can explain a prompt update.
        .pull_interval(Duration::from_secs(600))
        .backoff(quick_backoff())
        .build(transport, TokioPlatform::current().expect("runtime"))
        .await
        .expect("build client");
    client.start();
    client
}
