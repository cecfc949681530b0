//! Native clients against the real todo server on 127.0.0.1: pokes, offline
//! work, restarts mid-queue, rejections, status, resets, tabs and groups.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use plasma::client::platform::native::{HttpTransport, TokioPlatform};
use plasma::client::{Client, ClientEvent, MemoryStore, MutationFailed, SqliteStore, Store, SyncStatus};
use plasma::{Select, Table};
use plasma_tests::clients::{PATIENCE, client_with, create, quick_backoff, titles, until};
use todo::client::connect;
use todo::{CreateTodo, Ctx, MarkDone, SCHEMA, SCHEMA_VERSION, Todo, TodoMutators, create_todo, mark_done};

/// A todo server in its own runtime, so dropping it kills every connection
/// like a process exit would.
struct ServerProcess {
    runtime: Option<tokio::runtime::Runtime>,
    addr: SocketAddr,
}

impl ServerProcess {
    fn start(db: &Path, addr: SocketAddr) -> ServerProcess {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("server runtime");
        let server = todo::server::open(db).expect("open server");
        let listener = std::net::TcpListener::bind(addr).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        {
            let _enter = runtime.enter();
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            runtime.spawn(async move {
                let serve = plasma::server::ServeConfig::default();
                plasma::server::serve(listener, plasma::server::router(server), serve).await;
            });
        }
        ServerProcess { runtime: Some(runtime), addr }
    }

    fn endpoint(&self) -> String {
        format!("http://{}/sync", self.addr)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A port nothing listens on (yet).
fn free_port() -> u16 {
    std::net::TcpListener::bind(local(0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_see_each_other_through_pokes_within_a_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(&dir.path().join("server.db"), local(0));
    // One user on two devices (groups): each reads what the other writes.
    let laptop = client_with(&server.endpoint(), "alice", "alice-laptop", MemoryStore::new(), true).await;
    let phone = client_with(&server.endpoint(), "alice", "alice-phone", MemoryStore::new(), true).await;
    until("both in sync", || laptop.status() == SyncStatus::InSync && phone.status() == SyncStatus::InSync).await;

    let handle = create(&laptop, "from the laptop");
    // Optimistic: visible locally before any network round trip.
    assert_eq!(titles(&laptop), vec!["from the laptop"]);
    let seen = until("the phone sees the laptop's todo", || titles(&phone) == vec!["from the laptop"]).await;
    assert!(seen < Duration::from_secs(1), "the phone saw the laptop's write after {seen:?}");
    assert_eq!(handle.await, Ok(()));

    let handle = create(&phone, "from the phone");
    let seen = until("the laptop sees the phone's todo", || titles(&laptop).len() == 2).await;
    assert!(seen < Duration::from_secs(1), "the laptop saw the phone's write after {seen:?}");
    assert_eq!(handle.await, Ok(()));
    assert_eq!(titles(&laptop), titles(&phone));
    println!("poke latency: the laptop saw the phone's write in {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_queries_see_their_own_write_at_once_and_the_other_clients_through_a_poke() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(&dir.path().join("server.db"), local(0));
    // One user on two devices (groups): each reads what the other writes.
    let laptop = client_with(&server.endpoint(), "alice", "alice-laptop", MemoryStore::new(), true).await;
    let phone = client_with(&server.endpoint(), "alice", "alice-phone", MemoryStore::new(), true).await;
    until("both in sync", || laptop.status() == SyncStatus::InSync && phone.status() == SyncStatus::InSync).await;
    let open = || Todo::select().filter(Todo::DONE.eq(false)).order_by(Todo::UPDATED_AT.desc()).limit(10);
    let laptop_open = laptop.live(&open()).expect("live");
    let phone_open = phone.live(&open()).expect("live");
    let laptop_diffs: Arc<Mutex<Vec<plasma::live::Diff<Todo>>>> = Arc::default();
    let sink = Arc::clone(&laptop_diffs);
    laptop_open.on_change(move |d| sink.lock().expect("lock").push(d.clone()));
    let mut phone_changes = phone_open.changes();

    let handle = create(&laptop, "live");
    assert_eq!(laptop_diffs.lock().expect("lock").len(), 1, "the laptop's own write notified before mutate returned");
    let start = Instant::now();
    let diff =
        tokio::time::timeout(PATIENCE, phone_changes.next()).await.expect("the phone's diff in time").expect("diff");
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(1), "the phone's live query updated after {elapsed:?}");
    match &diff.changes[..] {
        [plasma::live::LiveChange::Added { index: 0, row }] => assert_eq!(row.title, "live"),
        other => panic!("expected one addition, got {other:?}"),
    }
    assert_eq!(handle.await, Ok(()));
    until("the laptop in sync", || laptop.status() == SyncStatus::InSync).await;
    assert_eq!(
        laptop_diffs.lock().expect("lock").len(),
        1,
        "the server confirming the laptop's row unchanged is no change"
    );

    let id = phone_open.rows().expect("rows")[0].id.clone();
    let done = phone.mutate::<mark_done>(MarkDone { id, updated_at: 2 }).expect("mutate");
    let diff = tokio::time::timeout(PATIENCE, phone_changes.next()).await.expect("the phone's own diff").expect("diff");
    assert!(matches!(&diff.changes[..], [plasma::live::LiveChange::Removed { old_index: 0, .. }]), "{diff:?}");
    assert_eq!(done.await, Ok(()));
    until("the laptop's window empties", || laptop_open.rows().is_ok_and(|r| r.is_empty())).await;
    assert_eq!(laptop_diffs.lock().expect("lock").len(), 2, "one diff for the phone's change");
    println!("live query latency across clients: {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_writes_survive_a_killed_client_and_sync_when_the_server_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_path = dir.path().join("client.db");
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}/sync");

    // The first "process": its own runtime, so killing it stops its tasks.
    let first = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let (client, ids) = {
        let endpoint = endpoint.clone();
        let store_path = store_path.clone();
        first
            .spawn(async move {
                let store = SqliteStore::open(&store_path).expect("store");
                let client = client_with(&endpoint, "carol", "carol-desk", store, true).await;
                let ids: Vec<String> = (0..3).map(|_| client.new_id()).collect();
                for (i, id) in ids.iter().enumerate() {
                    let args = CreateTodo {
                        id: id.clone(),
                        title: format!("offline {i}"),
                        updated_at: i as i64,
                        list_id: None,
                    };
                    let _queued = client.mutate::<create_todo>(args).expect("mutate offline");
                }
                (client, ids)
            })
            .await
            .expect("first process")
    };
    until("the client notices it is offline", || client.status() == SyncStatus::Offline).await;
    assert_eq!(client.pending_count().expect("client state"), 3);
    assert_eq!(titles(&client), vec!["offline 0", "offline 1", "offline 2"]);
    // Kill: no destructor runs, the store is never closed, tasks just stop.
    std::mem::forget(client);
    first.shutdown_background();

    let server = ServerProcess::start(&dir.path().join("server.db"), local(port));
    let store = SqliteStore::open(&store_path).expect("reopen store");
    let client = client_with(&server.endpoint(), "carol", "carol-desk", store, true).await;
    // The restarted client still shows its unconfirmed writes and resumes pushing them.
    let handles: Vec<_> = client
        .pending_ids()
        .expect("client state")
        .into_iter()
        .filter_map(|id| client.handle(id).expect("client state"))
        .collect();
    assert_eq!(handles.len(), 3, "the pending queue survived the kill");
    for handle in handles {
        assert_eq!(tokio::time::timeout(PATIENCE, handle).await.expect("answered"), Ok(()));
    }
    until("in sync", || client.status() == SyncStatus::InSync).await;
    assert_eq!(client.pending_count().expect("client state"), 0);
    // The server holds exactly those todos, once each, with the ids the client chose.
    let observer = client_with(&server.endpoint(), "carol", "carol-tablet", MemoryStore::new(), false).await;
    until("observer pulled", || titles(&observer).len() == 3).await;
    let mut server_ids: Vec<String> =
        observer.query(&Todo::select()).expect("query").into_iter().map(|t| t.id).collect();
    server_ids.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(server_ids, expected);
    assert_eq!(titles(&client), titles(&observer));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutation_the_server_rejects_resolves_with_its_error_and_rolls_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(&dir.path().join("server.db"), local(0));
    let first = client_with(&server.endpoint(), "dan", "dan-1", MemoryStore::new(), false).await;
    let late = client_with(&server.endpoint(), "dan", "dan-2", MemoryStore::new(), false).await;
    until("late client pulled once", || late.status() == SyncStatus::InSync).await;

    let id = first.new_id();
    let handle =
        first.mutate::<create_todo>(CreateTodo { id: id.clone(), title: "first".into(), updated_at: 1, list_id: None });
    assert_eq!(handle.expect("queued").await, Ok(()));
    // `late` has not pulled since: creating the same id succeeds locally, then fails on the server.
    let handle = late
        .mutate::<create_todo>(CreateTodo { id, title: "second".into(), updated_at: 2, list_id: None })
        .expect("queued");
    assert_eq!(titles(&late), vec!["second"]);
    match tokio::time::timeout(PATIENCE, handle).await.expect("answered") {
        Err(MutationFailed::Rejected(message)) => assert!(!message.is_empty()),
        other => panic!("expected a rejection, got {other:?}"),
    }
    // The optimistic row was replaced by the server's.
    assert_eq!(titles(&late), vec!["first"]);
    // A mutator that fails locally queues nothing.
    let missing = late.mutate::<mark_done>(MarkDone { id: "nope".into(), updated_at: 3 });
    assert!(missing.is_err());
    assert_eq!(late.pending_count().expect("client state"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_and_auth_errors_stop_syncing_with_an_observable_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(&dir.path().join("server.db"), local(0));

    let transport = HttpTransport::new(server.endpoint()).expect("transport").header(todo::USER_HEADER, "erin");
    // The same tables, an older app version: a client built before a release.
    static OUTDATED: plasma::Schema = plasma::schema![version = "todos-v0"; Todo];
    let outdated = Client::<TodoMutators>::builder(&OUTDATED, "erin-old")
        .context(|| Ctx::client("erin"))
        .backoff(quick_backoff())
        .build(transport, TokioPlatform::current().expect("runtime"))
        .await
        .expect("build");
    let mut events = outdated.events();
    outdated.start();
    until("update needed", || outdated.status() == SyncStatus::UpdateNeeded).await;
    // Local work goes on and is kept.
    let _kept = create(&outdated, "still works");
    assert_eq!(titles(&outdated), vec!["still works"]);
    let mut statuses = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(200), events.next()).await {
        if let ClientEvent::Status(status) = event {
            statuses.push(status);
        }
    }
    assert_eq!(statuses, vec![SyncStatus::Syncing, SyncStatus::UpdateNeeded], "no retry after a version error");

    // Credentials that rotate: none at first, then a user.
    let token: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let source = Arc::clone(&token);
    let transport = HttpTransport::new(server.endpoint()).expect("transport").headers(move || {
        source.lock().expect("lock").clone().map(|user| vec![(todo::USER_HEADER.to_owned(), user)]).unwrap_or_default()
    });
    let anonymous = Client::<TodoMutators>::builder(&SCHEMA, "frank-1")
        .context(|| Ctx::client("frank"))
        .backoff(quick_backoff())
        .build(transport, TokioPlatform::current().expect("runtime"))
        .await
        .expect("build");
    anonymous.start();
    let handle = create(&anonymous, "after login");
    until("unauthorized", || anonymous.status() == SyncStatus::Unauthorized).await;
    *token.lock().expect("lock") = Some("frank".into());
    anonymous.resume();
    assert_eq!(tokio::time::timeout(PATIENCE, handle).await.expect("answered"), Ok(()));
    until("in sync after login", || anonymous.status() == SyncStatus::InSync).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tabs_of_one_group_and_several_groups_converge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(&dir.path().join("server.db"), local(0));
    let endpoint = server.endpoint();
    let tab1 = client_with(&endpoint, "gina", "gina-browser", MemoryStore::new(), true).await;
    let tab2 = client_with(&endpoint, "gina", "gina-browser", MemoryStore::new(), true).await;
    let phone = client_with(&endpoint, "gina", "gina-phone", MemoryStore::new(), true).await;
    let clients = [&tab1, &tab2, &phone];
    let mut handles = Vec::new();
    for round in 0..5 {
        for (i, client) in clients.iter().enumerate() {
            handles.push(create(client, &format!("r{round} c{i}")));
        }
    }
    for handle in handles {
        assert_eq!(tokio::time::timeout(PATIENCE, handle).await.expect("answered"), Ok(()));
    }
    until("all converge", || {
        clients.iter().all(|c| titles(c).len() == 15 && c.pending_count().expect("client state") == 0)
    })
    .await;
    assert_eq!(titles(&tab1), titles(&tab2));
    assert_eq!(titles(&tab1), titles(&phone));
    assert_ne!(tab1.client_id().expect("client state"), tab2.client_id().expect("client state"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_the_server_forgot_resets_to_server_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let server = ServerProcess::start(&dir.path().join("first.db"), local(port));
    let store = MemoryStore::new();
    let client = client_with(&server.endpoint(), "hank", "hank-1", store.clone(), false).await;
    assert_eq!(create(&client, "old world").await, Ok(()));
    let old_id = client.client_id().expect("client state");
    drop(client);
    drop(server);

    // The server comes back with a different database: it knows nothing of hank-1.
    let server = ServerProcess::start(&dir.path().join("second.db"), local(port));
    let other = client_with(&server.endpoint(), "hank", "hank-2", MemoryStore::new(), false).await;
    assert_eq!(create(&other, "new world").await, Ok(()));
    let client = client_with(&server.endpoint(), "hank", "hank-1", store.clone(), false).await;
    let mut events = client.events();
    until("reset to server state", || titles(&client) == vec!["new world"]).await;
    assert_ne!(client.client_id().expect("client state"), old_id, "a reset client starts over under a new id");
    // After the reset, the client works normally under its new identity.
    assert_eq!(create(&client, "after reset").await, Ok(()));
    let persisted = store.load(&SCHEMA, "hank-1", SCHEMA_VERSION).await.expect("load").expect("state");
    assert_eq!(persisted.meta.client_id, client.client_id().expect("client state"), "the store follows the reset");
    let mut saw_reset = false;
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(100), events.next()).await {
        saw_reset |= matches!(event, ClientEvent::Reset { .. });
    }
    // The reset may have happened before we subscribed; the id change above proves it either way.
    let _ = saw_reset;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_reads_use_the_typed_builders_on_confirmed_plus_pending_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(&dir.path().join("server.db"), local(0));
    let client = connect(&server.endpoint(), "ivy", "ivy-1", MemoryStore::new()).await.expect("connect");
    client.start();
    let done_id = client.new_id();
    assert_eq!(
        client
            .mutate::<create_todo>(CreateTodo { id: done_id.clone(), title: "b".into(), updated_at: 2, list_id: None })
            .expect("queued")
            .await,
        Ok(())
    );
    let _pending = create(&client, "a");
    let _pending = client.mutate::<mark_done>(MarkDone { id: done_id.clone(), updated_at: 3 }).expect("queued");
    let open: Vec<Todo> = client.query(&Select::<Todo>::new().filter(Todo::DONE.eq(false))).expect("query");
    assert_eq!(open.iter().map(|t| t.title.as_str()).collect::<Vec<_>>(), vec!["a"]);
    let newest = client.query(&Todo::select().order_by(Todo::UPDATED_AT.desc()).limit(1)).expect("query");
    assert_eq!(newest[0].id, done_id);
    assert_eq!(Todo::DEF.name, "todos");
}

/// A SQLite store that counts the pages it stages.
struct CountingStore {
    inner: SqliteStore,
    staged_pages: Arc<std::sync::atomic::AtomicUsize>,
}

impl Store for CountingStore {
    fn load(
        &self,
        schema: &'static plasma::Schema,
        group: &str,
        version: &str,
    ) -> plasma::client::BoxFuture<'_, Result<Option<plasma::client::Persisted>, plasma::client::StoreError>> {
        self.inner.load(schema, group, version)
    }
    fn init(
        &self,
        group: &str,
        version: &str,
        meta: &plasma::client::ClientMeta,
    ) -> Result<(), plasma::client::StoreError> {
        self.inner.init(group, version, meta)
    }
    fn append_pending(
        &self,
        meta: &plasma::client::ClientMeta,
        record: &plasma::protocol::MutationRecord,
    ) -> Result<(), plasma::client::StoreError> {
        self.inner.append_pending(meta, record)
    }
    fn replace_pending(&self, record: &plasma::protocol::MutationRecord) -> Result<(), plasma::client::StoreError> {
        self.inner.replace_pending(record)
    }
    fn commit_pull(&self, commit: plasma::client::PullCommit<'_>) -> Result<(), plasma::client::StoreError> {
        self.inner.commit_pull(commit)
    }
    fn begin_stage(&self, schema: &'static plasma::Schema) -> Result<bool, plasma::client::StoreError> {
        self.inner.begin_stage(schema)
    }
    fn stage(
        &self,
        schema: &'static plasma::Schema,
        changes: &[plasma::client::Change],
    ) -> Result<(), plasma::client::StoreError> {
        self.staged_pages.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.stage(schema, changes)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_page_initial_sync_streams_into_the_store_and_survives_a_restart() {
    let server = plasma_tests::harness::TestServer::start(plasma::server::ServerConfig {
        pull_page_rows: 4,
        ..Default::default()
    })
    .await;
    let seed: Vec<(&str, u64, &str, serde_json::Value)> = (1..=30)
        .map(|i| ("seed", i, "createTodo", plasma_tests::harness::create(&format!("t{i:02}"), &format!("todo {i:02}"))))
        .collect();
    let (status, _) = server.push("kim", "kim-desktop", &seed).await;
    assert_eq!(status, 200);

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("client.db");
    let staged_pages = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let store =
        CountingStore { inner: SqliteStore::open(&path).expect("store"), staged_pages: Arc::clone(&staged_pages) };
    let client = client_with(&server.url("/sync"), "kim", "kim-laptop", store, false).await;
    until("the initial sync", || client.status() == SyncStatus::InSync && titles(&client).len() == 30).await;
    assert!(
        staged_pages.load(std::sync::atomic::Ordering::SeqCst) >= 8,
        "30 rows in pages of 4 are written to the store page by page as they arrive"
    );
    // The store works on after the swap: a local write and its confirmation.
    assert_eq!(create(&client, "after the sync").await, Ok(()));
    let expected = titles(&client);
    drop(client);

    // Everything is durable in the file, and no stage is left behind.
    let store = SqliteStore::open(&path).expect("reopen");
    let persisted = store.load(&SCHEMA, "kim-laptop", SCHEMA_VERSION).await.expect("load").expect("state");
    let mut restored: Vec<String> =
        persisted.rows.into_iter().map(|(_, row)| Todo::from_row(row).expect("todo").title).collect();
    restored.sort();
    assert_eq!(restored, expected);
    assert_eq!(restored.len(), 31);
    drop(store);
    let db = plasma::SqliteExecutor::open(&path).expect("open file");
    let stages: i64 = db
        .connection()
        .query_row("SELECT count(*) FROM sqlite_master WHERE name LIKE '\\_plasma\\_stage\\_%' ESCAPE '\\'", [], |r| {
            r.get(0)
        })
        .expect("count stages");
    assert_eq!(stages, 0, "the stage was renamed into place");
}

/// Loses the answer to the first push after the server applied it, and has
/// the server forget the client's group meanwhile.
#[derive(Clone)]
struct ForgetAfterFirstPush {
    inner: Arc<HttpTransport>,
    server: plasma::server::SyncServer<TodoMutators>,
    group: String,
    fired: Arc<std::sync::atomic::AtomicBool>,
}

impl plasma::client::Transport for ForgetAfterFirstPush {
    fn push(
        &self,
        request: plasma::protocol::PushRequest,
    ) -> plasma::client::BoxFuture<'static, Result<plasma::protocol::PushResponse, plasma::client::TransportError>>
    {
        let this = self.clone();
        Box::pin(async move {
            let result = this.inner.push(request).await;
            if result.is_ok() && !this.fired.swap(true, std::sync::atomic::Ordering::SeqCst) {
                this.server.forget_group(this.group.clone()).await.expect("forget");
                return Err(plasma::client::TransportError::network("the answer was lost"));
            }
            result
        })
    }

    fn pull(
        &self,
        request: plasma::protocol::PullRequest,
    ) -> plasma::client::BoxFuture<'static, Result<plasma::protocol::PullResponse, plasma::client::TransportError>>
    {
        self.inner.pull(request)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_forgotten_with_an_unconfirmed_push_starts_over_without_applying_it_twice() {
    let server = plasma_tests::harness::TestServer::start(plasma::server::ServerConfig::default()).await;
    let transport = ForgetAfterFirstPush {
        inner: Arc::new(HttpTransport::new(server.url("/sync")).expect("transport").header(todo::USER_HEADER, "lee")),
        server: server.server.clone(),
        group: "lee-laptop".into(),
        fired: Arc::new(std::sync::atomic::AtomicBool::new(false)),
    };
    let client = Client::<TodoMutators>::builder(&SCHEMA, "lee-laptop")
        .context(|| Ctx::client("lee"))
        .store(MemoryStore::new())
        .pokes(false)
        .pull_interval(Duration::from_secs(600))
        .backoff(quick_backoff())
        .build(transport, TokioPlatform::current().expect("runtime"))
        .await
        .expect("client");
    let old_id = client.client_id().expect("client state");
    let mut events = client.events();
    client.start();
    let handle = create(&client, "exactly once");
    // The server applied it, then forgot the client: whether it ran is not
    // knowable from the client, so the handle says so instead of retrying.
    match tokio::time::timeout(PATIENCE, handle).await.expect("answered") {
        Err(MutationFailed::Dropped(_)) => {}
        other => panic!("expected Dropped, got {other:?}"),
    }
    until("in sync again", || client.status() == SyncStatus::InSync && titles(&client) == vec!["exactly once"]).await;
    assert_ne!(client.client_id().expect("client state"), old_id, "it started over under a new id");
    assert_eq!(
        server.dump().iter().filter(|l| l.starts_with("todos:")).count(),
        1,
        "the server ran the mutation once: {:?}",
        server.dump()
    );
    let mut saw_reset = false;
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(100), events.next()).await {
        saw_reset |= matches!(event, ClientEvent::Reset { .. });
    }
    assert!(saw_reset, "the app hears that the client started over");
    // It works on as the new client.
    assert_eq!(create(&client, "afterwards").await, Ok(()));
}
