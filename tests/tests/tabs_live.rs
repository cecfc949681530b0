//! Live updates between tabs without the server: a client applies another
//! client's mutation records as foreign pending mutations (below its own),
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
    Todo { id: id.into(), title: title.into(), done: false, updated_at }
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
    let args = CreateTodo { id: id.into(), title: id.into(), updated_at: at };
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
fn foreign_writes_apply_by_timestamp_below_own_writes() {
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

    // Its own pending write stays on top, also of foreign ones that arrive after it.
    rename(&mut b, "x", "from b", 5);
    let newest = rename(&mut a, "x", "from a again", 30);
    assert!(b.apply_foreign(&ctx(), newest));
    assert_eq!(rows(&b), pairs(&[("x", "from b")]));

    // A pull confirming only c's leaves a's (still above the snapshot) and b's own.
    pull(&mut b, page(2, &[todo("x", "from c", 10)], &[("cc", 1)], &[]));
    assert_eq!(b.foreign_pending().len(), 2);
    assert_eq!(rows(&b), pairs(&[("x", "from b")]));
    // Once the server has them all, only the server's row and b's own remain.
    pull(&mut b, page(3, &[todo("x", "from b", 5)], &[("ca", 2), ("cb", 1)], &[]));
    assert_eq!((b.foreign_pending().len(), b.pending().len()), (0, 0));
    assert_eq!(rows(&b), pairs(&[("x", "from b")]));
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
        .mutate::<todo::create_todo>(CreateTodo { id: "t".into(), title: "typed in A".into(), updated_at: 1 })
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
        &CreateTodo { id: "z".into(), title: "z".into(), updated_at: 2 },
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
