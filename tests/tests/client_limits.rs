//! One oversized mutation cannot block a client: the server advertises its
//! limits, the client sizes pushes under them, refuses a mutation too large
//! to ever be pushed, and abandons one that still gets 413 instead of
//! retrying forever. Real todo servers on 127.0.0.1 (tests/src/harness.rs),
//! real SQLite files.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use plasma::client::platform::native::{HttpTransport, TokioPlatform};
use plasma::client::{
    BackoffConfig, BoxFuture, Client, ClientCore, ClientError, ClientEvent, MutationFailed, SqliteStore, Store,
    SyncStatus, Transport, TransportError,
};
use plasma::exec::{Executor, run_ready};
use plasma::protocol::{PullRequest, PullResponse, PushRequest, PushResponse, ServerLimits};
use plasma::server::ServerConfig;
use plasma_tests::harness::TestServer;
use todo::client::TodoClient;
use todo::{CreateTodo, Ctx, SCHEMA, SCHEMA_VERSION, Todo, TodoMutators, create_todo};

/// Everything a test waits for must happen within this, or the test fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// One push as the client sent it: its encoded size, its mutation count and
/// the HTTP status it got (200, or the error's status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SentPush {
    bytes: usize,
    mutations: usize,
    status: u16,
}

/// The real HTTP transport, recording every push (the body `HttpTransport`
/// sends is exactly `serde_json::to_vec(&request)`). While `gate` is held for
/// writing, pushes wait before going out.
#[derive(Clone)]
struct Counting {
    inner: Arc<HttpTransport>,
    pushes: Arc<Mutex<Vec<SentPush>>>,
    gate: Arc<tokio::sync::RwLock<()>>,
}

impl Counting {
    fn new(server: &TestServer, user: &str) -> Counting {
        let inner = HttpTransport::new(server.url("/sync")).expect("transport").header(todo::USER_HEADER, user);
        Counting { inner: Arc::new(inner), pushes: Arc::default(), gate: Arc::default() }
    }

    fn pushes(&self) -> Vec<SentPush> {
        self.pushes.lock().expect("lock").clone()
    }
}

impl Transport for Counting {
    fn push(&self, request: PushRequest) -> BoxFuture<'static, Result<PushResponse, TransportError>> {
        let this = self.clone();
        Box::pin(async move {
            let _open = this.gate.read().await;
            let bytes = serde_json::to_vec(&request).expect("encode").len();
            let mutations = request.mutations.len();
            let result = this.inner.push(request).await;
            let status = match &result {
                Ok(_) => 200,
                Err(TransportError::Server { status, .. }) => *status,
                Err(_) => 0,
            };
            this.pushes.lock().expect("lock").push(SentPush { bytes, mutations, status });
            result
        })
    }

    fn pull(&self, request: PullRequest) -> BoxFuture<'static, Result<PullResponse, TransportError>> {
        self.inner.pull(request)
    }
}

fn quick_backoff() -> BackoffConfig {
    BackoffConfig { initial: Duration::from_millis(20), max: Duration::from_millis(200) }
}

/// A client of `server` for `user`, not started, assuming `max_push_bytes`
/// until its first pull.
async fn client(transport: Counting, user: &str, group: &str, max_push_bytes: Option<usize>) -> TodoClient {
    let user = user.to_owned();
    let mut builder = Client::<TodoMutators>::builder(&SCHEMA, group)
        .context(move || Ctx::client(user.clone()))
        .pull_interval(Duration::from_secs(600))
        .backoff(quick_backoff());
    if let Some(bytes) = max_push_bytes {
        builder = builder.max_push_bytes(bytes);
    }
    builder.build(transport, TokioPlatform::current().expect("runtime")).await.expect("build client")
}

fn titles(client: &TodoClient) -> Vec<String> {
    let mut titles: Vec<String> = client.query(&Todo::select()).expect("query").into_iter().map(|t| t.title).collect();
    titles.sort();
    titles
}

/// Titles of the todos in the server's database.
fn server_titles(server: &TestServer) -> Vec<String> {
    server.server.with_db_blocking(|db| {
        let conn = db.connection();
        let mut stmt = conn.prepare("SELECT title FROM todos ORDER BY title").expect("prepare");
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).expect("query");
        rows.map(|r| r.expect("row")).collect()
    })
}

fn create(client: &TodoClient, title: &str) -> Result<plasma::client::MutationHandle, ClientError> {
    client.mutate::<create_todo>(CreateTodo { id: client.new_id(), title: title.into(), updated_at: 1, list_id: None })
}

/// Polls `check` until it holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Every event received within `quiet` of the previous one.
async fn drain(
    events: &mut (impl futures_util::Stream<Item = ClientEvent> + Unpin),
    quiet: Duration,
) -> Vec<ClientEvent> {
    let mut out = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(quiet, events.next()).await {
        out.push(event);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutation_too_large_for_the_server_is_refused_locally_and_blocks_nothing() {
    let server = TestServer::start(ServerConfig::default()).await;
    let transport = Counting::new(&server, "ann");
    let client = client(transport.clone(), "ann", "ann-1", None).await;
    client.start();
    until("in sync", || client.status() == SyncStatus::InSync).await;
    assert_eq!(
        client.server_limits().expect("client state"),
        ServerLimits::default(),
        "the server's defaults, advertised"
    );
    let live = client.live(&Todo::select()).expect("live");
    let diffs = Arc::new(Mutex::new(0usize));
    let seen = Arc::clone(&diffs);
    live.on_change(move |_| *seen.lock().expect("lock") += 1);

    let huge = "x".repeat(5 << 20);
    match create(&client, &huge) {
        Err(ClientError::MutationTooLarge { bytes, limit }) => {
            assert_eq!(limit, 4 << 20);
            assert!(bytes > 5 << 20, "the size of a push carrying it: {bytes}");
        }
        other => panic!("expected MutationTooLarge, got {:?}", other.map(|h| h.mutation_id())),
    }
    assert_eq!(client.pending_count().expect("client state"), 0, "nothing queued");
    assert!(titles(&client).is_empty(), "the view is unchanged");
    assert_eq!(*diffs.lock().expect("lock"), 0, "no live query saw anything");

    // The next mutation takes the refused one's id, goes out, and the client settles.
    let handle = create(&client, "small").expect("queued");
    assert_eq!(handle.mutation_id(), 1, "the refused mutation consumed no id");
    assert_eq!(tokio::time::timeout(PATIENCE, handle).await.expect("answered"), Ok(()));
    until("in sync again", || client.status() == SyncStatus::InSync).await;
    assert_eq!(server_titles(&server), vec!["small"]);
    assert!(transport.pushes().iter().all(|p| p.status == 200), "{:?}", transport.pushes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_stay_under_the_limits_the_server_advertises() {
    const LIMIT: usize = 4096;
    let server =
        TestServer::start(ServerConfig { max_body_bytes: LIMIT, max_mutations_per_push: 6, ..ServerConfig::default() })
            .await;
    let transport = Counting::new(&server, "bea");
    // The client assumes the (much larger) defaults until it pulls.
    let client = client(transport.clone(), "bea", "bea-1", None).await;
    assert_eq!(client.server_limits().expect("client state"), ServerLimits::default());
    client.start();
    until("in sync", || client.status() == SyncStatus::InSync).await;
    assert_eq!(
        client.server_limits().expect("client state"),
        ServerLimits { max_body_bytes: LIMIT, max_mutations_per_push: 6 }
    );

    // Hold pushes back while queueing, so the queue goes out in batches.
    let held = transport.gate.write().await;
    let expected: Vec<String> = (0..40).map(|i| format!("{i:02} {}", "m".repeat(900))).collect();
    let handles: Vec<_> = expected.iter().map(|t| create(&client, t).expect("queued")).collect();
    drop(held);
    for handle in handles {
        assert_eq!(tokio::time::timeout(PATIENCE, handle).await.expect("answered"), Ok(()));
    }
    until("in sync", || client.status() == SyncStatus::InSync).await;
    assert_eq!(server_titles(&server), expected, "every mutation arrived, once");

    let pushes = transport.pushes();
    println!("pushes: {pushes:?}");
    assert!(pushes.iter().all(|p| p.status == 200), "no push was refused: {pushes:?}");
    assert!(pushes.iter().all(|p| p.bytes <= LIMIT), "every push fits the body limit: {pushes:?}");
    assert!(pushes.iter().all(|p| p.mutations <= 6), "every push fits the count limit: {pushes:?}");
    // 40 mutations of ~1 KB need at least ten 4 KiB pushes (the byte limit
    // binds before the count limit); batches are not needlessly small either
    // (one mutation may have gone ahead alone before the gate closed).
    let batched = pushes.iter().filter(|p| p.mutations > 1).count();
    assert!(pushes.len() >= 10 && batched >= 9, "{pushes:?}");
    assert!(pushes.len() <= 16, "batches fill up to the limits: {pushes:?}");
    assert!(pushes.iter().any(|p| p.bytes > LIMIT - 1_100), "some batch is nearly full: {pushes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_mutation_the_server_refuses_even_alone_is_abandoned_and_the_rest_goes_out() {
    const LIMIT: usize = 4096;
    let server = TestServer::start(ServerConfig { max_body_bytes: LIMIT, ..ServerConfig::default() }).await;
    let transport = Counting::new(&server, "cat");
    // The client believes the server takes 1 MiB, so it queues a 10 KB title.
    let client = client(transport.clone(), "cat", "cat-1", Some(1 << 20)).await;
    let mut events = client.events();
    let before = create(&client, "before").expect("queued");
    let big = create(&client, &"b".repeat(10_000)).expect("fits what the client assumed");
    let big_id = big.mutation_id();
    let after: Vec<_> = (0..3).map(|i| create(&client, &format!("after {i}")).expect("queued")).collect();
    client.start();

    match tokio::time::timeout(PATIENCE, big).await.expect("the big one is answered") {
        Err(MutationFailed::Rejected(message)) => {
            assert!(message.contains("too large for the server"), "{message}");
            assert!(message.contains(&format!("> {LIMIT} byte limit")), "{message}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(tokio::time::timeout(PATIENCE, before).await.expect("answered"), Ok(()));
    for handle in after {
        assert_eq!(tokio::time::timeout(PATIENCE, handle).await.expect("answered"), Ok(()));
    }
    until("in sync", || client.status() == SyncStatus::InSync).await;
    assert_eq!(client.pending_count().expect("client state"), 0);
    let expected = vec!["after 0", "after 1", "after 2", "before"];
    assert_eq!(server_titles(&server), expected, "the server holds everything but the big one");
    assert_eq!(titles(&client), expected, "the view rebased without the big one");

    // No push loop: nothing more goes out once settled, and the 413s are few.
    let settled = transport.pushes();
    println!("pushes: {settled:?}");
    let seen = drain(&mut events, Duration::from_millis(300)).await;
    assert_eq!(transport.pushes(), settled, "no push after settling");
    let refused = settled.iter().filter(|p| p.status == 413).count();
    assert!((1..=2).contains(&refused) && settled.len() <= 6, "{settled:?}");
    let too_large: Vec<_> = seen.iter().filter(|e| matches!(e, ClientEvent::MutationTooLarge { .. })).collect();
    match too_large[..] {
        [ClientEvent::MutationTooLarge { mutation_id, bytes, limit }] => {
            assert_eq!(*mutation_id, big_id);
            assert_eq!(*limit, LIMIT as u64, "the limit learned from the server");
            assert!(*bytes > 10_000 && *bytes < 10_500, "{bytes}");
        }
        _ => panic!("expected one MutationTooLarge event, got {seen:?}"),
    }
    assert!(!seen.contains(&ClientEvent::Status(SyncStatus::Offline)), "never offline: {seen:?}");
}

/// A todo client core with `limits`, and the todos it queued.
fn core_with(limits: ServerLimits, titles: &[String]) -> ClientCore<TodoMutators> {
    let mut core = ClientCore::<TodoMutators>::new(&SCHEMA, "g".into(), "c1".into());
    core.set_limits(limits);
    let ctx = Ctx::client("u");
    for (i, title) in titles.iter().enumerate() {
        let args = CreateTodo { id: format!("t{i:03}"), title: title.clone(), updated_at: 1, list_id: None };
        let (_record, _handle) = core.mutate::<create_todo>(&ctx, args, 0).expect("mutate");
    }
    core
}

fn encoded(request: &PushRequest) -> usize {
    serde_json::to_vec(request).expect("encode").len()
}

#[test]
fn push_requests_are_the_largest_batches_under_the_byte_and_count_limits() {
    const LIMIT: usize = 2_000;
    // Titles of varying length, so batches hold different counts.
    let titles: Vec<String> = (0..60).map(|i| "t".repeat(50 + (i * 37) % 300)).collect();
    let core = core_with(ServerLimits { max_body_bytes: LIMIT, max_mutations_per_push: 1_000 }, &titles);
    let all: Vec<u64> = core.pending().map(|r| r.id).collect();
    let mut after = 0;
    let mut sent = Vec::new();
    let mut batches = 0;
    while let Some(request) = core.push_request_after(after, 100) {
        let size = encoded(&request);
        assert!(size <= LIMIT, "batch {batches} is {size} bytes");
        let last = request.mutations.last().expect("non-empty").id;
        // Maximal: one more mutation would not fit.
        if let Some(following) = core.pending().find(|r| r.id == last + 1) {
            let mut grown = request.clone();
            grown.mutations.push(following.clone());
            assert!(encoded(&grown) > LIMIT, "batch {batches} could have taken one more");
        }
        sent.extend(request.mutations.iter().map(|m| m.id));
        after = last;
        batches += 1;
    }
    assert_eq!(sent, all, "every mutation once, in order");
    assert!(batches >= 5, "{batches} batches");

    // Exact to the byte: a limit equal to the body of the first k mutations
    // takes exactly k; one byte less takes k - 1.
    let core = core_with(ServerLimits::default(), &titles[..12]);
    for k in 1..=12 {
        let exact = encoded(&core.push_request_after(0, k).expect("batch"));
        let mut sized = core_with(ServerLimits::default(), &titles[..12]);
        for (limit, expected) in [(exact, k), (exact - 1, (k - 1).max(1))] {
            sized.set_limits(ServerLimits { max_body_bytes: limit, max_mutations_per_push: 1_000 });
            let batch = sized.push_request_after(0, 100).expect("batch");
            assert_eq!(batch.mutations.len(), expected, "limit {limit} (k = {k})");
        }
    }

    // The count limits: the caller's batch and the server's, whichever is smaller.
    let small: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    let core = core_with(ServerLimits { max_body_bytes: LIMIT, max_mutations_per_push: 3 }, &small);
    assert_eq!(core.push_request_after(0, 100).expect("batch").mutations.len(), 3);
    assert_eq!(core.push_request_after(0, 2).expect("batch").mutations.len(), 2);
    let core = core_with(ServerLimits::default(), &small);
    assert_eq!(core.push_request_after(0, 100).expect("batch").mutations.len(), 10);

    // A mutation over the limit (the limit shrank after it was queued) still goes, alone.
    let mut core = core_with(ServerLimits::default(), &["a".repeat(5_000), "b".into(), "c".into()]);
    core.set_limits(ServerLimits { max_body_bytes: LIMIT, max_mutations_per_push: 1_000 });
    let request = core.push_request_after(0, 100).expect("batch");
    assert_eq!(request.mutations.len(), 1);
    assert_eq!(core.push_bytes_of(1), Some(encoded(&request)), "the cached size is exact");
}

#[test]
fn mutate_refuses_exactly_what_a_single_push_cannot_carry() {
    let ctx = Ctx::client("u");
    let probe = core_with(ServerLimits::default(), &["x".repeat(1_000)]);
    let fits = probe.push_bytes_of(1).expect("pending");
    // The limit is exactly one push of that mutation: accepted.
    let core = core_with(ServerLimits { max_body_bytes: fits, max_mutations_per_push: 10 }, &["x".repeat(1_000)]);
    assert_eq!(core.pending().len(), 1);
    // One byte less: refused, with nothing queued or changed.
    let mut core = core_with(ServerLimits { max_body_bytes: fits - 1, max_mutations_per_push: 10 }, &[]);
    let (live, _) = core.watch(Todo::select().query().clone()).expect("watch");
    let args = CreateTodo { id: "t000".into(), title: "x".repeat(1_000), updated_at: 1, list_id: None };
    match core.mutate::<create_todo>(&ctx, args, 0) {
        Err(ClientError::MutationTooLarge { bytes, limit }) => assert_eq!((bytes, limit), (fits, fits - 1)),
        other => panic!("expected MutationTooLarge, got {:?}", other.map(|(r, _)| r.id)),
    }
    assert_eq!(core.pending().len(), 0);
    assert_eq!(core.meta().next_mutation_id, 1, "no id consumed");
    assert!(core.take_live_diffs().is_empty(), "no live query saw anything");
    assert_eq!(core.live_rows(live).expect("live").len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_mutation_stays_abandoned_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("client.db");
    let ctx = Ctx::client("u");
    let store = SqliteStore::open(&path).expect("store");
    let mut core = ClientCore::<TodoMutators>::new(&SCHEMA, "g".into(), "c1".into());
    // As a client starts: a fresh store loads empty (creating the tables), then is initialised.
    assert!(store.load(&SCHEMA, "g", SCHEMA_VERSION).await.expect("load").is_none());
    store.init("g", SCHEMA_VERSION, core.meta()).expect("init");
    for (id, title) in [("a", "x".repeat(20_000)), ("b", "small".to_owned())] {
        let args = CreateTodo { id: id.into(), title, updated_at: 1, list_id: None };
        let (record, _handle) = core.mutate::<create_todo>(&ctx, args, 0).expect("mutate");
        store.append_pending(core.meta(), &record).expect("append");
    }
    let large = core.push_bytes_of(1).expect("pending");
    let (record, abandoned) = core.abandon_too_large(&ctx, 1).expect("abandon").expect("was pending");
    assert_eq!(abandoned.bytes, large as u64);
    assert_eq!(record.args.get(), "null");
    assert!(core.abandon_too_large(&ctx, 1).expect("abandon").is_none(), "only once");
    // Its effect left the view at once; the one behind it stays.
    assert_eq!(view_ids(&core), vec!["b"]);
    store.replace_pending(&record).expect("persist");
    drop(store);

    let store = SqliteStore::open(&path).expect("reopen");
    let persisted = store.load(&SCHEMA, "g", SCHEMA_VERSION).await.expect("load").expect("state");
    let restored = ClientCore::<TodoMutators>::restore(&SCHEMA, persisted, &ctx).expect("restore");
    let first = restored.pending().next().expect("still pending").clone();
    assert_eq!(first.abandoned, Some(abandoned), "abandoned durably");
    let request = restored.push_request(100).expect("push");
    assert_eq!(request.mutations.len(), 2, "both go out together now");
    assert!(encoded(&request) < 1_000, "the large body is never sent again: {} bytes", encoded(&request));
    assert_eq!(view_ids(&restored), vec!["b"], "restored without its effect");
}

/// Ids of the todos in a core's view.
fn view_ids(core: &ClientCore<TodoMutators>) -> Vec<String> {
    let todos = run_ready(async {
        let mut tx = core.view().begin().await?;
        Todo::select().fetch(&mut tx).await
    })
    .expect("ready")
    .expect("query");
    todos.into_iter().map(|t| t.id).collect()
}

#[test]
fn the_new_fields_are_optional_on_the_wire() {
    // A server that does not advertise limits still decodes; the client keeps what it knew.
    let page: PullResponse = serde_json::from_str(
        r#"{"cookie":{"order":1},"lastMutationIdChanges":{},"patch":[],"mutationErrors":[],"more":false}"#,
    )
    .expect("decodes without limits");
    assert_eq!(page.limits, None);
    let mut core = core_with(ServerLimits { max_body_bytes: 1_234, max_mutations_per_push: 5 }, &[]);
    let rebase = core.apply_pull(&None, &[page], &Ctx::client("u"), || "c2".into(), |_| Ok(()));
    assert!(rebase.is_ok());
    assert_eq!(core.limits(), ServerLimits { max_body_bytes: 1_234, max_mutations_per_push: 5 });

    // Ordinary mutations carry no `abandoned` key.
    let args = CreateTodo { id: "t".into(), title: "x".into(), updated_at: 1, list_id: None };
    let record = plasma::protocol::MutationRecord::new::<create_todo>("c1", 1, &args, 0).expect("record");
    let json = serde_json::to_value(&record).expect("encode");
    assert!(json.get("abandoned").is_none(), "{json}");
}
