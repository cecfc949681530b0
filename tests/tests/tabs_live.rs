//! Live updates between tabs without the server: a client applies another
//! client's mutation records as foreign pending mutations (merged with its own
//! in timestamp order),
//! its live queries see them at once, and a pull that confirms or rejects
//! them takes them out again (no double effect). On cores directly, and on
//! two real clients wired with an in-process tab channel.

use plasma_tests::harness::Offline;
use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use plasma::Table;
use plasma::client::platform::native::TokioPlatform;
use plasma::client::{Client, ClientCore, LocalTabs, MemoryStore, TabChannel, TabMessage};
use plasma::live::LiveChange;
use plasma::protocol::{Cookie, MutationError, MutationRecord, PatchOp, PullResponse};
use plasma::wire::row_to_json_text;
use todo::{CreateTodo, Ctx, RenameTodo, SCHEMA, Todo, TodoMutators};

type Core = ClientCore<TodoMutators>;

fn ctx() -> Ctx {
    Ctx::client("alice")
}

fn todo(id: &str, title: &str, updated_at: i64) -> Todo {
    Todo { id: id.into(), title: title.into(), done: false, updated_at, owner: String::new(), list_id: None }
}

/// One pull page: rows put, clients' new last mutation ids, errors.
fn page(order: i64, puts: &[Todo], lmids: &[(&str, u64)], errors: &[(&str, u64)]) -> PullResponse {
    PullResponse {
        cookie: Cookie::at(order),
        last_mutation_id_changes: lmids.iter().map(|(c, l)| ((*c).to_owned(), *l)).collect::<BTreeMap<_, _>>(),
        patch: puts
            .iter()
            .map(|t| PatchOp::Put {
                table: Todo::DEF.name.into(),
                row: row_to_json_text(Todo::DEF, &t.to_row()).expect("encode"),
            })
            .collect(),
        mutation_errors: errors
            .iter()
            .map(|(c, id)| MutationError { client_id: (*c).to_owned(), mutation_id: *id, message: "refused".into() })
            .collect(),
        more: false,
        limits: None,
    }
}

fn pull(core: &mut Core, page: PullResponse) {
    let base = core.cookie();
    let rebase = core.apply_pull(&base, &[page], &ctx(), || "new".into(), |_| Ok(())).expect("pull");
    assert!(!rebase.stale);
}

fn rows(core: &Core) -> Vec<(String, String)> {
    let select = Todo::select().order_by(Todo::ID.asc());
    let todos = plasma::exec::run_ready(async {
        let mut tx = plasma::Executor::begin(core.view()).await.expect("begin");
        select.fetch(&mut tx).await.expect("fetch")
    })
    .expect("ready");
    todos.into_iter().map(|t| (t.id, t.title)).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

/// Two tabs' cores on the same snapshot (todo `x` titled "zero").
fn two_tabs() -> (Core, Core) {
    let mut a = Core::new(&SCHEMA, "g".into(), "ca".into());
    let mut b = Core::new(&SCHEMA, "g".into(), "cb".into());
    for core in [&mut a, &mut b] {
        pull(core, page(1, &[todo("x", "zero", 1)], &[], &[]));
    }
    (a, b)
}

fn rename(core: &mut Core, id: &str, title: &str, at: i64) -> MutationRecord {
    let args = RenameTodo { id: id.into(), title: title.into(), updated_at: at };
    core.mutate::<todo::rename_todo>(&ctx(), args, at).expect("rename").0
}

fn create(core: &mut Core, id: &str, at: i64) -> MutationRecord {
    let args = CreateTodo { id: id.into(), title: id.into(), updated_at: at, list_id: None };
    core.mutate::<todo::create_todo>(&ctx(), args, at).expect("create").0
}

#[test]
fn a_foreign_write_shows_at_once_and_leaves_when_a_pull_confirms_it() {
    let (mut a, mut b) = two_tabs();
    let (live, _) = b.watch(Todo::select().order_by(Todo::ID.asc()).query().clone()).expect("watch");
    let renamed = rename(&mut a, "x", "one", 10);

    assert!(b.apply_foreign(&ctx(), renamed.clone()), "taken");
    assert_eq!(rows(&b), pairs(&[("x", "one")]), "B shows A's write before any pull");
    let diffs = b.take_live_diffs();
    assert_eq!(diffs.len(), 1, "one diff: {diffs:?}");
    assert_eq!(diffs[0].0, live);
    assert!(matches!(&diffs[0].1.changes[..], [LiveChange::Edited { .. }]), "{diffs:?}");
    assert!(!b.apply_foreign(&ctx(), renamed.clone()), "a duplicate is ignored");
    let own = create(&mut b, "mine", 11);
    assert!(!b.apply_foreign(&ctx(), own), "its own record is ignored");
    assert!(b.push_request(100).is_some_and(|p| p.mutations.iter().all(|m| m.client_id == "cb")), "never pushed");

    // The server applied A's rename, then another client renamed it again.
    pull(&mut b, page(2, &[todo("x", "two", 12)], &[("ca", 1), ("cc", 1)], &[]));
    assert_eq!(rows(&b), pairs(&[("mine", "mine"), ("x", "two")]), "the server's row, not A's rename on top of it");
    assert_eq!(b.foreign_pending().len(), 0, "confirmed: dropped");
    assert_eq!(b.pending().len(), 1, "B's own mutation is still pending");
    assert!(!b.apply_foreign(&ctx(), renamed), "a late copy of a confirmed record is ignored");
    assert_eq!(rows(&b), pairs(&[("mine", "mine"), ("x", "two")]));
}

#[test]
fn a_rejected_foreign_write_leaves_when_a_pull_carries_its_error() {
    let (mut a, mut b) = two_tabs();
    let created = create(&mut a, "r", 10);
    assert!(b.apply_foreign(&ctx(), created));
    assert_eq!(rows(&b), pairs(&[("r", "r"), ("x", "zero")]));

    // The server refused it: its error (and the consumed id) come with a pull.
    pull(&mut b, page(2, &[], &[("ca", 1)], &[("ca", 1)]));
    assert_eq!(rows(&b), pairs(&[("x", "zero")]), "the rejected write is gone");

    // The error alone is enough.
    let again = create(&mut a, "s", 11);
    assert!(b.apply_foreign(&ctx(), again));
    pull(&mut b, page(3, &[], &[], &[("ca", 2)]));
    assert_eq!(rows(&b), pairs(&[("x", "zero")]));
    assert_eq!(b.foreign_pending().len(), 0);
}

#[test]
fn pending_writes_apply_in_timestamp_order_own_and_foreign() {
    let (mut a, mut b) = two_tabs();
    let mut c = Core::new(&SCHEMA, "g".into(), "cc".into());
    pull(&mut c, page(1, &[todo("x", "zero", 1)], &[], &[]));
    let later = rename(&mut a, "x", "from a", 20);
    let earlier = rename(&mut c, "x", "from c", 10);
    // Received out of order: the earlier one still applies first.
    assert!(b.apply_foreign(&ctx(), later.clone()));
    assert!(b.apply_foreign(&ctx(), earlier.clone()));
    assert_eq!(rows(&b), pairs(&[("x", "from a")]));
    let order: Vec<_> = b.foreign_pending().map(|r| r.client_id.clone()).collect();
    assert_eq!(order, ["cc", "ca"]);

    // An own write made on top of them is stamped above them (its clock
    // said 5, but it was made after seeing the write stamped 20)...
    let own = rename(&mut b, "x", "from b", 5);
    assert!(own.timestamp >= 20, "stamped above what it ran on: {}", own.timestamp);
    assert_eq!(rows(&b), pairs(&[("x", "from b")]));
    // ...and a later foreign write goes on top of it, as on the server.
    let newest = rename(&mut a, "x", "from a again", 30);
    assert!(b.apply_foreign(&ctx(), newest));
    assert_eq!(rows(&b), pairs(&[("x", "from a again")]));
    // One that was made earlier but arrives late slides below it.
    let mut d = Core::new(&SCHEMA, "g".into(), "cd".into());
    pull(&mut d, page(1, &[todo("x", "zero", 1)], &[], &[]));
    assert!(b.apply_foreign(&ctx(), rename(&mut d, "x", "from d", 15)));
    assert_eq!(rows(&b), pairs(&[("x", "from a again")]));
    let order: Vec<_> = b.foreign_pending().map(|r| r.client_id.clone()).collect();
    assert_eq!(order, ["cc", "cd", "ca", "ca"]);

    // A pull confirming only c's leaves the others above the snapshot.
    pull(&mut b, page(2, &[todo("x", "from c", 10)], &[("cc", 1)], &[]));
    assert_eq!((b.foreign_pending().len(), b.pending().len()), (3, 1));
    assert_eq!(rows(&b), pairs(&[("x", "from a again")]));
    // Once the server has them all, only the server's row remains.
    pull(&mut b, page(3, &[todo("x", "from a again", 30)], &[("ca", 2), ("cb", 1), ("cd", 1)], &[]));
    assert_eq!((b.foreign_pending().len(), b.pending().len()), (0, 0));
    assert_eq!(rows(&b), pairs(&[("x", "from a again")]));
}

/// The bug two tabs hit: tab B marks done a todo tab A created and has not
/// pushed yet. In A, B's write must apply after A's create (it was made on
/// it), not below A's own pending writes where the todo does not exist yet.
#[test]
fn a_foreign_write_made_on_an_own_pending_write_applies_after_it() {
    let (mut a, mut b) = two_tabs();
    let (live, _) = a.watch(Todo::select().order_by(Todo::ID.asc()).query().clone()).expect("watch");
    let created = create(&mut a, "n", 100);
    assert!(b.apply_foreign(&ctx(), created));
    // B's clock may even read earlier than A's: B still stamps above.
    let done = b
        .mutate::<todo::mark_done>(&ctx(), todo::MarkDone { id: "n".into(), updated_at: 99 }, 99)
        .expect("mark done in B")
        .0;
    assert!(done.timestamp > 100 || (done.timestamp == 100 && "cb" > "ca"), "{}", done.timestamp);
    drop(a.take_live_diffs());

    assert!(a.apply_foreign(&ctx(), done));
    let done_in = |core: &Core| {
        plasma::exec::run_ready(async {
            let mut tx = plasma::Executor::begin(core.view()).await.expect("begin");
            Todo::select().filter(Todo::ID.eq("n")).fetch(&mut tx).await.expect("fetch")
        })
        .expect("ready")
        .first()
        .map(|t| t.done)
    };
    assert_eq!(done_in(&a), Some(true), "A shows B's mark-done on its own unpushed todo");
    assert_eq!(done_in(&b), Some(true));
    let diffs = a.take_live_diffs();
    assert!(
        matches!(&diffs[..], [(l, d)] if *l == live && matches!(&d.changes[..], [LiveChange::Edited { .. }])),
        "{diffs:?}"
    );

    // A's next write stacks on B's, and a rebase keeps that order.
    let renamed = rename(&mut a, "n", "renamed in A", 50);
    assert!(renamed.timestamp >= 100);
    pull(&mut a, page(2, &[], &[], &[]));
    assert_eq!(done_in(&a), Some(true), "the replay after a pull keeps the causal order");
    assert_eq!(rows(&a), pairs(&[("n", "renamed in A"), ("x", "zero")]));

    // Abandoning a write (its store refused it) keeps the others applied.
    let doomed = rename(&mut a, "n", "never stored", 200);
    a.abandon_last(&ctx());
    assert_eq!(a.meta().next_mutation_id, doomed.id, "its id is taken back");
    assert_eq!(rows(&a), pairs(&[("n", "renamed in A"), ("x", "zero")]));
    assert_eq!(done_in(&a), Some(true));
}

#[test]
fn foreign_writes_are_capped_oldest_first_and_dropped_on_reset() {
    let (mut a, mut b) = two_tabs();
    b.set_max_foreign_pending(2);
    for (i, id) in ["p", "q", "r"].iter().enumerate() {
        let record = create(&mut a, id, 10 + i as i64);
        assert!(b.apply_foreign(&ctx(), record));
    }
    assert_eq!(rows(&b), pairs(&[("q", "q"), ("r", "r"), ("x", "zero")]), "the oldest went");

    // A foreign mutation whose mutator fails here is a no-op.
    let failing = rename(&mut a, "p", "p2", 20);
    assert!(b.apply_foreign(&ctx(), failing));
    assert_eq!(rows(&b), pairs(&[("r", "r"), ("x", "zero")]), "capped again; the rename of p does nothing");

    // The server forgot this client: it starts over, foreign writes included.
    rename(&mut b, "x", "own", 21);
    pull(&mut b, page(2, &[todo("x", "own", 21)], &[("cb", 1)], &[]));
    assert_eq!(b.foreign_pending().len(), 2, "not confirmed yet");
    let forgotten = PullResponse { patch: vec![PatchOp::Clear], ..page(3, &[todo("x", "own", 21)], &[], &[]) };
    let forgotten = PullResponse {
        patch: [forgotten.patch, page(3, &[todo("x", "own", 21)], &[], &[]).patch].concat(),
        ..forgotten
    };
    let base = b.cookie();
    let rebase = b.apply_pull(&base, &[forgotten], &ctx(), || "cb2".into(), |_| Ok(())).expect("reset");
    assert!(rebase.reset_client);
    assert_eq!(b.foreign_pending().len(), 0, "dropped on reset");
    assert_eq!(rows(&b), pairs(&[("x", "own")]));
}

async fn tab(channel: impl TabChannel) -> Client<TodoMutators> {
    let client = Client::<TodoMutators>::builder(&SCHEMA, "g")
        .context(ctx)
        .store(MemoryStore::new())
        .tabs(channel)
        .build(Offline, TokioPlatform::current().expect("runtime"))
        .await
        .expect("client");
    client.start();
    client
}

#[tokio::test]
async fn two_clients_on_a_tab_channel_see_each_others_writes_offline() {
    let hub = LocalTabs::new();
    let (a, b) = (tab(hub.channel()).await, tab(hub.channel()).await);
    let mut changes = b.live(&Todo::select().order_by(Todo::ID.asc())).expect("live").into_changes();

    let _handle = a
        .mutate::<todo::create_todo>(CreateTodo {
            id: "t".into(),
            title: "typed in A".into(),
            updated_at: 1,
            list_id: None,
        })
        .expect("mutate");
    let diff = tokio::time::timeout(Duration::from_secs(5), changes.next()).await.expect("in time").expect("diff");
    assert!(matches!(&diff.changes[..], [LiveChange::Added { row, .. }] if row.title == "typed in A"), "{diff:?}");
    assert_eq!((b.foreign_pending_count().expect("b"), b.pending_count().expect("b")), (1, 0));
    assert_eq!((a.foreign_pending_count().expect("a"), a.pending_count().expect("a")), (0, 1));

    // Messages of another schema version, or whose sender is not the
    // record's client, are ignored.
    let stranger = hub.channel();
    let record = MutationRecord::new::<todo::create_todo>(
        "cz",
        1,
        &CreateTodo { id: "z".into(), title: "z".into(), updated_at: 2, list_id: None },
        2,
    )
    .expect("record");
    let version = SCHEMA.version().into_owned();
    stranger.send(&TabMessage { schema_version: "old".into(), sender: "cz".into(), record: record.clone() });
    stranger.send(&TabMessage { schema_version: version.clone(), sender: "cy".into(), record: record.clone() });
    stranger.send(&TabMessage { schema_version: version, sender: "cz".into(), record });
    let diff = tokio::time::timeout(Duration::from_secs(5), changes.next()).await.expect("in time").expect("diff");
    assert!(matches!(&diff.changes[..], [LiveChange::Added { row, .. }] if row.id == "z"), "{diff:?}");
    assert_eq!(b.foreign_pending_count().expect("b"), 2, "only the well-formed message was taken");
    let titles: Vec<String> =
        b.query(&Todo::select().order_by(Todo::ID.asc())).expect("query").into_iter().map(|t| t.id).collect();
    assert_eq!(titles, ["t", "z"]);
}

/// Talks to a real server, but holds every push until released (a tab whose
/// network is slow, or that is about to close).
#[derive(Clone)]
struct HeldPushes {
    inner: std::sync::Arc<plasma::client::platform::native::HttpTransport>,
    open: tokio::sync::watch::Receiver<bool>,
}

impl plasma::client::Transport for HeldPushes {
    fn push(
        &self,
        request: plasma::protocol::PushRequest,
    ) -> plasma::client::BoxFuture<'static, Result<plasma::protocol::PushResponse, plasma::client::TransportError>>
    {
        let push = self.inner.push(request);
        let mut open = self.open.clone();
        Box::pin(async move {
            // A dropped sender (the test ended) leaves the push held forever.
            if open.wait_for(|open| *open).await.is_err() {
                std::future::pending::<()>().await;
            }
            push.await
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

/// A tab on `hub` syncing with `server` as alice; its pushes wait for `open`.
async fn synced_tab(
    server: &plasma_tests::harness::TestServer,
    channel: impl TabChannel,
    open: tokio::sync::watch::Receiver<bool>,
    causal_wait: Duration,
) -> Client<TodoMutators> {
    let http = plasma::client::platform::native::HttpTransport::new(server.url("/sync"))
        .expect("transport")
        .header(todo::USER_HEADER, "alice");
    let client = Client::<TodoMutators>::builder(&SCHEMA, "g")
        .context(ctx)
        .store(MemoryStore::new())
        .tabs(channel)
        .causal_wait(causal_wait)
        .pull_interval(Duration::from_secs(600))
        .backoff(plasma::client::BackoffConfig { initial: Duration::from_millis(20), max: Duration::from_millis(200) })
        .build(HeldPushes { inner: std::sync::Arc::new(http), open }, TokioPlatform::current().expect("runtime"))
        .await
        .expect("client");
    client.start();
    client
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "gave up waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn has(client: &Client<TodoMutators>, id: &str) -> bool {
    client.query(&Todo::select().filter(Todo::ID.eq(id))).expect("query").len() == 1
}

/// Tab A creates a todo whose push is slow; tab B marks it done. Without the
/// causal wait B's push would reach the server first and be refused ("no
/// todo"); with it, B holds its push until a pull confirms A's create.
async fn mark_done_on_the_other_tabs_unpushed_create(
    causal_wait: Duration,
) -> Result<(), plasma::client::MutationFailed> {
    let server = plasma_tests::harness::TestServer::start(plasma::server::ServerConfig::default()).await;
    let hub = LocalTabs::new();
    let (open_a, held_a) = tokio::sync::watch::channel(false);
    let (_open_b, held_b) = tokio::sync::watch::channel(true);
    let a = synced_tab(&server, hub.channel(), held_a, causal_wait).await;
    let b = synced_tab(&server, hub.channel(), held_b, causal_wait).await;
    let _created = a
        .mutate::<todo::create_todo>(CreateTodo {
            id: "n".into(),
            title: "from A".into(),
            updated_at: 1,
            list_id: None,
        })
        .expect("create");
    until("B shows A's unpushed todo", || has(&b, "n")).await;
    let done = b.mutate::<todo::mark_done>(todo::MarkDone { id: "n".into(), updated_at: 2 }).expect("mark done");
    // Long enough for B's push (unheld) to reach the server if nothing holds it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    open_a.send(true).expect("release A's pushes");
    let outcome = tokio::time::timeout(Duration::from_secs(10), done).await.expect("B's write answered");
    if outcome.is_ok() {
        // B's view is the server's snapshot now: the todo is there, done.
        until("B in sync", || b.pending_count().expect("b") == 0 && b.foreign_pending_count().expect("b") == 0).await;
        let rows = b.query(&Todo::select().filter(Todo::ID.eq("n"))).expect("query");
        assert!(rows.first().is_some_and(|t| t.done), "the server has it done: {rows:?}");
    }
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_another_tabs_unpushed_write_reaches_the_server_after_it() {
    let outcome = mark_done_on_the_other_tabs_unpushed_create(Duration::from_secs(5)).await;
    assert_eq!(outcome, Ok(()), "B's mark-done ran on the server after A's create");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_causal_wait_the_dependent_write_races_ahead_and_is_refused() {
    // The control: shows the first test would fail without the wait.
    let outcome = mark_done_on_the_other_tabs_unpushed_create(Duration::ZERO).await;
    assert!(
        matches!(outcome, Err(plasma::client::MutationFailed::Rejected(ref m)) if m.contains("no todo")),
        "{outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_that_never_pushes_holds_the_other_only_for_the_causal_wait() {
    let server = plasma_tests::harness::TestServer::start(plasma::server::ServerConfig::default()).await;
    let hub = LocalTabs::new();
    let (_never, held_a) = tokio::sync::watch::channel(false);
    let (_open_b, held_b) = tokio::sync::watch::channel(true);
    let wait = Duration::from_millis(400);
    let a = synced_tab(&server, hub.channel(), held_a, wait).await;
    let b = synced_tab(&server, hub.channel(), held_b, wait).await;
    let _stuck = a
        .mutate::<todo::create_todo>(CreateTodo {
            id: "n".into(),
            title: "stuck in A".into(),
            updated_at: 1,
            list_id: None,
        })
        .expect("create");
    until("B shows A's todo", || has(&b, "n")).await;
    let started = std::time::Instant::now();
    let own = b
        .mutate::<todo::create_todo>(CreateTodo {
            id: "m".into(),
            title: "B's own".into(),
            updated_at: 2,
            list_id: None,
        })
        .expect("create in B");
    tokio::time::timeout(Duration::from_secs(10), own).await.expect("answered").expect("B's write is accepted");
    assert!(started.elapsed() >= wait, "it waited for A first ({:?})", started.elapsed());
    // A later write of B, above the same stuck one, does not wait again.
    let started = std::time::Instant::now();
    let again = b
        .mutate::<todo::create_todo>(CreateTodo {
            id: "o".into(),
            title: "B again".into(),
            updated_at: 3,
            list_id: None,
        })
        .expect("create in B");
    tokio::time::timeout(Duration::from_secs(10), again).await.expect("answered").expect("accepted");
    assert!(started.elapsed() < wait, "no second wait for the same stuck write ({:?})", started.elapsed());
    drop(a);
}
