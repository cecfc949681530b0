//! Deterministic simulation of clients, a lossy network and a restarting
//! server. Seeded, virtual time, no real sleeps.
//!
//! Each seed runs N clients (two sharing a client group) issuing random
//! mutations over a network that drops, duplicates, delays and reorders
//! requests and responses, while the server restarts from its SQLite file,
//! compacts its change log and forgets client groups, and clients crash and
//! restart from their durable store (pending queue and snapshot survive;
//! handles of the dead process are lost, so the restarted client asks for new
//! ones). The world is bigger than a pull page (tens to hundreds of rows, pages
//! of 3 to 10 rows), so resets and deltas take several pages, and compaction
//! strands cookies below the horizon in the middle of paged pulls. Clients
//! pipeline pushes, so the server also sees pushes out of order.
//!
//! Mutators include order-dependent ones (increments, appends to a text), bulk
//! ones writing several rows, and ones that write several rows and then fail
//! (on the server only, or on both sides depending on the state), so savepoint
//! rollback on the server and undo / replay on the client are exercised.
//!
//! Checked **while it runs**, after every applied pull and every client
//! restart, against a model built independently of the client's rebase: the
//! client's view equals its confirmed snapshot (the pulled patches applied to
//! a separate `MemoryExecutor`) with its pending mutations re-run from scratch
//! in order; its pending queue is exactly the issued mutations the server has
//! not confirmed; each pull resolves exactly the mutations at or below the new
//! LMID with the server's answer; a pull requested from another cookie is
//! ignored; and when the server wrote nothing since the pull's cookie, the
//! confirmed snapshot equals the server's tables. After the network heals:
//! everyone converged to the server's rows; every mutation was answered exactly
//! once; every handle of a live process resolved with the same answer; no
//! accepted mutation was lost or applied twice (counters only add and every
//! append carries a unique token, so a double application shows), and appends
//! of one client landed in the order it issued them. Across all seeds, every
//! scenario above (multi-page resets, compaction resets, forgotten groups,
//! out-of-order pushes, server-side rollbacks, failed replays) must occur.
//!
//! `SIM_SEEDS=N` runs N seeds (default 200); `SIM_SEED=S` replays one seed;
//! `SIM_TRACE=1` prints every push, applied pull and forgetting as it happens.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use plasma::client::Change;
use plasma::client::{ClientCore, MemoryStore, MutationFailed, MutationHandle, Rebase, Store};
use plasma::exec::run_ready;
use plasma::protocol::{Cookie, ErrorCode, MutationRecord, PullResponse, PushRequest};
use plasma::query::tree::SelectQuery;
use plasma::server::{Scope, bookkeeping, compact, pull, push};
use plasma::{Executor, MemoryExecutor, MutatorError, Registry, Row, SqliteExecutor, Table, TableDef, Transaction};
use serde::{Deserialize, Serialize};

#[plasma::table(name = "counters")]
#[derive(Debug, Clone, PartialEq)]
pub struct Counter {
    #[plasma(id)]
    pub id: String,
    pub value: i64,
}

#[plasma::table(name = "items")]
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    #[plasma(id)]
    pub id: String,
    pub owner: String,
}

/// A text that mutators append to: the result depends on the order of the appends.
#[plasma::table(name = "notes")]
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    #[plasma(id)]
    pub id: String,
    pub text: String,
}

static SCHEMA: plasma::Schema = plasma::schema![Counter, Item, Note];

/// No read rules: every user reads and writes every row.
static EVERYTHING: std::sync::LazyLock<Scope> = std::sync::LazyLock::new(|| Scope::everything(&SCHEMA));

pub struct Ctx {
    pub user: String,
    /// True when the server runs the mutator (its auth hook would set this).
    pub on_server: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Add {
    pub id: String,
    pub n: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemArgs {
    pub id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Append {
    pub id: String,
    /// Unique per mutation, ends with `;`.
    pub token: String,
}

/// Adds `n` to several counters and appends `token` to a note.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bulk {
    pub ids: Vec<String>,
    pub n: i64,
    pub note: String,
    pub token: String,
}

async fn add_to(tx: &mut impl Transaction, id: String, n: i64) -> Result<i64, MutatorError> {
    match Counter::select().filter(Counter::ID.eq(id.as_str())).first(tx).await? {
        Some(c) => {
            Counter::update().set(Counter::VALUE, c.value + n).filter(Counter::ID.eq(id)).run(tx).await?;
            Ok(c.value + n)
        }
        None => {
            Counter::insert().value(Counter::ID, id).value(Counter::VALUE, n).run(tx).await?;
            Ok(n)
        }
    }
}

async fn append_to(tx: &mut impl Transaction, id: String, token: &str) -> Result<(), MutatorError> {
    match Note::select().filter(Note::ID.eq(id.as_str())).first(tx).await? {
        Some(note) => {
            Note::update().set(Note::TEXT, format!("{}{token}", note.text)).filter(Note::ID.eq(id)).run(tx).await?
        }
        None => Note::insert().value(Note::ID, id).value(Note::TEXT, token).run(tx).await?,
    };
    Ok(())
}

/// Writes every row of a bulk; returns the first counter's new value.
async fn bulk_write(tx: &mut impl Transaction, args: Bulk) -> Result<i64, MutatorError> {
    let mut first = None;
    for id in args.ids {
        let value = add_to(tx, id, args.n).await?;
        first.get_or_insert(value);
    }
    append_to(tx, args.note, &args.token).await?;
    Ok(first.unwrap_or(0))
}

/// Not idempotent: applying it twice shows in the counter.
#[plasma::mutator]
pub async fn add(tx: &mut impl Transaction, _ctx: &Ctx, args: Add) -> Result<(), MutatorError> {
    add_to(tx, args.id, args.n).await.map(drop)
}

/// Fails when the counter is odd: may succeed locally and fail on the server.
#[plasma::mutator]
pub async fn add_if_even(tx: &mut impl Transaction, _ctx: &Ctx, args: Add) -> Result<(), MutatorError> {
    let current = Counter::select().filter(Counter::ID.eq(args.id.as_str())).first(tx).await?;
    if current.is_some_and(|c| c.value % 2 != 0) {
        return Err(MutatorError::app("counter is odd"));
    }
    add_to(tx, args.id, args.n).await.map(drop)
}

/// Fails on a duplicate id (another client may have created it first).
#[plasma::mutator]
pub async fn create_item(tx: &mut impl Transaction, ctx: &Ctx, args: ItemArgs) -> Result<(), MutatorError> {
    Item::insert().value(Item::ID, args.id).value(Item::OWNER, ctx.user.as_str()).run(tx).await?;
    Ok(())
}

/// Writes optimistically, but the server always refuses it: the optimistic
/// row must vanish on rebase.
#[plasma::mutator]
pub async fn draft_item(tx: &mut impl Transaction, ctx: &Ctx, args: ItemArgs) -> Result<(), MutatorError> {
    if ctx.on_server {
        return Err(MutatorError::app("drafts are refused by the server"));
    }
    Item::insert().value(Item::ID, args.id).value(Item::OWNER, ctx.user.as_str()).run(tx).await?;
    Ok(())
}

#[plasma::mutator]
pub async fn remove_item(tx: &mut impl Transaction, _ctx: &Ctx, args: ItemArgs) -> Result<(), MutatorError> {
    Item::delete().filter(Item::ID.eq(args.id)).run(tx).await?;
    Ok(())
}

/// Order-dependent: the note's text is the appends in the order they ran.
#[plasma::mutator]
pub async fn append(tx: &mut impl Transaction, _ctx: &Ctx, args: Append) -> Result<(), MutatorError> {
    append_to(tx, args.id, &args.token).await
}

/// Writes several rows.
#[plasma::mutator]
pub async fn bulk_add(tx: &mut impl Transaction, _ctx: &Ctx, args: Bulk) -> Result<(), MutatorError> {
    bulk_write(tx, args).await.map(drop)
}

/// Writes several rows, then the server refuses it: its savepoint must roll
/// all of them back, and the client must undo its optimistic writes.
#[plasma::mutator]
pub async fn bulk_then_refuse(tx: &mut impl Transaction, ctx: &Ctx, args: Bulk) -> Result<(), MutatorError> {
    bulk_write(tx, args).await?;
    if ctx.on_server {
        return Err(MutatorError::app("refused after writing"));
    }
    Ok(())
}

/// Writes several rows, then fails (on either side) when the first counter
/// came out odd: the partial writes must vanish wherever it fails.
#[plasma::mutator]
pub async fn bulk_if_even(tx: &mut impl Transaction, _ctx: &Ctx, args: Bulk) -> Result<(), MutatorError> {
    if bulk_write(tx, args).await? % 2 != 0 {
        return Err(MutatorError::app("first counter came out odd"));
    }
    Ok(())
}

plasma::mutators! {
    pub struct Sim {
        add, add_if_even, create_item, draft_item, remove_item, append, bulk_add, bulk_then_refuse, bulk_if_even
    }
}

/// SplitMix64: small, seedable, and the same on every machine.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone)]
enum Message {
    Push {
        client: usize,
        request: PushRequest,
    },
    Pull {
        client: usize,
        base: Option<Cookie>,
        cookie: Option<Cookie>,
        pages: Vec<PullResponse>,
    },
    PushDone {
        client: usize,
        out_of_order: bool,
    },
    PullDone {
        client: usize,
        base: Option<Cookie>,
        pages: Vec<PullResponse>,
    },
    /// The server refused a push of `client_id` as forgotten.
    Forgotten {
        client: usize,
        client_id: String,
    },
}

impl Message {
    fn client(&self) -> usize {
        match self {
            Message::Push { client, .. }
            | Message::Pull { client, .. }
            | Message::PushDone { client, .. }
            | Message::PullDone { client, .. }
            | Message::Forgotten { client, .. } => *client,
        }
    }
}

/// What a mutation would do to the checked totals if the server accepts it.
#[derive(Debug, Clone, Default)]
struct Effects {
    adds: Vec<(String, i64)>,
    /// (note, token)
    appends: Vec<(String, String)>,
    /// The server refuses it whatever the state.
    always_refused: bool,
}

/// The client as the test understands it, kept without ClientCore's rebase.
struct Model {
    /// The server snapshot the client holds: every applied pull's patch.
    confirmed: MemoryExecutor,
    cookie: Option<Cookie>,
    client_id: String,
    lmid: u64,
    /// Issued and not yet answered, oldest first.
    pending: Vec<MutationRecord>,
}

struct SimClient {
    core: ClientCore<Sim>,
    store: MemoryStore,
    ctx: Ctx,
    user: String,
    model: Model,
    /// Handles held by the current process, by (client id, mutation id).
    handles: BTreeMap<(String, u64), MutationHandle>,
    /// The newest mutation id sent in a push; the next push may start after it (pipelining).
    pushed_through: u64,
    issued: BTreeMap<(String, u64), Effects>,
    resolved: BTreeMap<(String, u64), Result<(), MutationFailed>>,
}

/// How often each scenario happened, summed over seeds: each must occur.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    multi_page_resets: u64,
    multi_page_deltas: u64,
    restarted_resets: u64,
    compactions: u64,
    horizon_resets: u64,
    forgotten_groups: u64,
    client_resets: u64,
    forgotten_pushes: u64,
    out_of_order_pushes: u64,
    rejected_after_writing: u64,
    failed_replays: u64,
    local_failures: u64,
    view_checks: u64,
    server_checks: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.multi_page_resets += o.multi_page_resets;
        self.multi_page_deltas += o.multi_page_deltas;
        self.restarted_resets += o.restarted_resets;
        self.compactions += o.compactions;
        self.horizon_resets += o.horizon_resets;
        self.forgotten_groups += o.forgotten_groups;
        self.client_resets += o.client_resets;
        self.forgotten_pushes += o.forgotten_pushes;
        self.out_of_order_pushes += o.out_of_order_pushes;
        self.rejected_after_writing += o.rejected_after_writing;
        self.failed_replays += o.failed_replays;
        self.local_failures += o.local_failures;
        self.view_checks += o.view_checks;
        self.server_checks += o.server_checks;
    }

    fn missing(&self) -> Vec<&'static str> {
        let all = [
            ("multi-page resets", self.multi_page_resets),
            ("multi-page deltas", self.multi_page_deltas),
            ("paged resets that restarted midway (compacted or forgotten meanwhile)", self.restarted_resets),
            ("compactions", self.compactions),
            ("resets of cookies below the compaction horizon", self.horizon_resets),
            ("forgotten groups", self.forgotten_groups),
            ("clients starting over after their group was forgotten", self.client_resets),
            ("pushes refused as client_forgotten", self.forgotten_pushes),
            ("out-of-order pushes", self.out_of_order_pushes),
            ("server rollbacks of a mutator that wrote then failed", self.rejected_after_writing),
            ("failed replays", self.failed_replays),
            ("local failures after writing", self.local_failures),
            ("checks of the view", self.view_checks),
            ("checks against the server", self.server_checks),
        ];
        all.iter().filter(|(_, n)| *n == 0).map(|(what, _)| *what).collect()
    }
}

/// Every row of every table, in id order.
type Dump = Vec<(&'static str, Vec<Row>)>;

fn dump_memory(db: &MemoryExecutor) -> Dump {
    SCHEMA.tables.iter().map(|t| (t.name, db.rows(t).expect("rows"))).collect()
}

fn dump_server(db: &SqliteExecutor) -> Dump {
    let tx = db.begin_sync().expect("begin");
    SCHEMA
        .tables
        .iter()
        .map(|t| {
            let mut rows = tx.select_sync(&SelectQuery::all(t)).expect("select");
            rows.sort_by(|a, b| a.pk(t).cmp(&b.pk(t)));
            (t.name, rows)
        })
        .collect()
}

fn head_seq(db: &SqliteExecutor) -> i64 {
    let tx = db.begin_sync().expect("begin");
    bookkeeping::head_seq(&tx).expect("head")
}

/// `confirmed` with `pending` re-run from scratch, in order: a mutator that
/// fails is a no-op. Independent of the client's undo logs and rebase.
fn replayed(confirmed: &MemoryExecutor, pending: &[MutationRecord], ctx: &Ctx) -> MemoryExecutor {
    let copy = MemoryExecutor::new(&SCHEMA);
    for table in SCHEMA.tables {
        for row in confirmed.rows(table).expect("rows") {
            copy.put_row(table, row).expect("put");
        }
    }
    for record in pending {
        run_ready(async {
            let mut tx = copy.begin().await.expect("begin");
            if Sim::dispatch(&mut tx, ctx, &record.name, record.args.get()).await.is_ok() {
                <MemoryExecutor as Executor>::commit(tx).await.expect("commit");
            }
        })
        .expect("ready");
    }
    copy
}

fn describe_difference(what: &str, left: &Dump, right: &Dump) -> String {
    let mut out = format!("{what}:");
    for ((table, a), (_, b)) in left.iter().zip(right) {
        if a != b {
            let def: &TableDef = SCHEMA.table(table).expect("table");
            let keyed = |rows: &Vec<Row>| -> BTreeMap<String, Row> {
                rows.iter().map(|r| (r.pk(def).unwrap_or_default().to_owned(), r.clone())).collect()
            };
            let (a, b) = (keyed(a), keyed(b));
            for id in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
                if a.get(id) != b.get(id) {
                    out.push_str(&format!("\n    {table}/{id}: {:?} vs {:?}", a.get(id), b.get(id)));
                }
            }
        }
    }
    out
}

/// Longest paged pull the test tolerates before calling it endless.
const MAX_PAGES: usize = 300;

struct World {
    rng: Rng,
    dir: tempfile::TempDir,
    server: Option<SqliteExecutor>,
    clients: Vec<SimClient>,
    /// (deliver at tick, message), kept sorted by tick then insertion.
    network: VecDeque<(u64, Message)>,
    now: u64,
    down_until: u64,
    lossy: bool,
    fresh_ids: u64,
    tokens: u64,
    /// Rows (and bytes of row JSON) per pull page.
    page_limit: pull::PageLimit,
    /// How many distinct counters, items and notes mutators pick from.
    counters: u64,
    items: u64,
    notes: u64,
    /// The highest compaction point so far.
    horizon: i64,
    stats: Stats,
    log: Vec<String>,
}

fn group_of(i: usize) -> (String, String) {
    // Clients 0 and 1 share a group, like two tabs.
    if i < 2 { ("g-shared".to_owned(), "alice".to_owned()) } else { (format!("g{i}"), format!("user{i}")) }
}

fn normalized(resolved: &[(u64, Result<(), MutationFailed>)]) -> Vec<(u64, Result<(), MutationFailed>)> {
    resolved
        .iter()
        .map(|(id, o)| {
            (
                *id,
                if let Err(MutationFailed::Dropped(_)) = o {
                    Err(MutationFailed::Dropped(String::new()))
                } else {
                    o.clone()
                },
            )
        })
        .collect()
}

impl World {
    fn new(seed: u64) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = SqliteExecutor::open(dir.path().join("server.db")).expect("open");
        server.ensure_schema(&SCHEMA).expect("schema");
        let mut rng = Rng(seed);
        let n = 2 + rng.below(3) as usize; // 2..=4 clients
        let clients = (0..n)
            .map(|i| {
                let (group, user) = group_of(i);
                let core = ClientCore::new(&SCHEMA, group.clone(), format!("c{i}"));
                let store = MemoryStore::new();
                store.init(&group, &SCHEMA.version(), core.meta()).expect("init store");
                SimClient {
                    model: Model {
                        confirmed: MemoryExecutor::new(&SCHEMA),
                        cookie: None,
                        client_id: core.client_id().to_owned(),
                        lmid: 0,
                        pending: Vec::new(),
                    },
                    core,
                    store,
                    ctx: Ctx { user: user.clone(), on_server: false },
                    user,
                    handles: BTreeMap::new(),
                    pushed_through: 0,
                    issued: BTreeMap::new(),
                    resolved: BTreeMap::new(),
                }
            })
            .collect();
        let rows = 3 + rng.below(8) as usize; // 3..=10
        let bytes = if rng.chance(25) { 40 + rng.below(200) as usize } else { usize::MAX };
        let page_limit = pull::PageLimit { rows, bytes };
        let counters = 20 + rng.below(60);
        let items = 10 + rng.below(60);
        let notes = 4 + rng.below(20);
        World {
            rng,
            dir,
            server: Some(server),
            clients,
            network: VecDeque::new(),
            now: 0,
            down_until: 0,
            lossy: true,
            fresh_ids: 0,
            tokens: 0,
            page_limit,
            counters,
            items,
            notes,
            horizon: 0,
            stats: Stats::default(),
            log: Vec::new(),
        }
    }

    fn send(&mut self, message: Message) {
        if self.lossy && self.rng.chance(10) {
            self.log.push(format!("t{} dropped a message", self.now));
            return;
        }
        let delay = if self.lossy { 1 + self.rng.below(6) } else { 1 };
        let at = self.now + delay;
        let position = self.network.iter().position(|(t, _)| *t > at).unwrap_or(self.network.len());
        if self.lossy && self.rng.chance(5) {
            self.network.insert(position, (at, message.clone()));
            self.network.insert(position + 1, (at, message));
        } else {
            self.network.insert(position, (at, message));
        }
    }

    fn mutate(&mut self, c: usize) {
        let counter = format!("k{}", self.rng.below(self.counters));
        let item = format!("item{}", self.rng.below(self.items));
        let note = format!("n{}", self.rng.below(self.notes));
        let n = 1 + self.rng.below(5) as i64;
        self.tokens += 1;
        let token = format!("c{c}.{};", self.tokens);
        let width = 2 + self.rng.below(5);
        let ids: Vec<String> = (0..width).map(|_| format!("k{}", self.rng.below(self.counters))).collect();
        let kind = self.rng.below(11);
        let client = &mut self.clients[c];
        let now = self.now as i64;
        let draft = format!("draft-{}-{}", c, self.now);
        let bulk = Bulk { ids: ids.clone(), n, note: note.clone(), token: token.clone() };
        let bulk_effects = |always_refused| Effects {
            adds: ids.iter().map(|id| (id.clone(), n)).collect(),
            appends: vec![(note.clone(), token.clone())],
            always_refused,
        };
        let adds = Effects { adds: vec![(counter.clone(), n)], ..Effects::default() };
        let (ctx, core) = (&client.ctx, &mut client.core);
        let (result, effects) = match kind {
            0 => (core.mutate::<add>(ctx, Add { id: counter, n }, now), adds),
            1 => (core.mutate::<add_if_even>(ctx, Add { id: counter, n }, now), adds),
            2 => (core.mutate::<create_item>(ctx, ItemArgs { id: item }, now), Effects::default()),
            3 => (
                core.mutate::<draft_item>(ctx, ItemArgs { id: draft }, now),
                Effects { always_refused: true, ..Effects::default() },
            ),
            4 => (core.mutate::<remove_item>(ctx, ItemArgs { id: item }, now), Effects::default()),
            5 | 6 => (
                core.mutate::<append>(ctx, Append { id: note.clone(), token: token.clone() }, now),
                Effects { appends: vec![(note.clone(), token.clone())], ..Effects::default() },
            ),
            7 => (core.mutate::<bulk_add>(ctx, bulk, now), bulk_effects(false)),
            8 => (core.mutate::<bulk_then_refuse>(ctx, bulk, now), bulk_effects(true)),
            _ => (core.mutate::<bulk_if_even>(ctx, bulk, now), bulk_effects(false)),
        };
        match result {
            Ok((record, handle)) => {
                client.store.append_pending(client.core.meta(), &record).expect("store append");
                assert_eq!(
                    record.client_id, client.model.client_id,
                    "client {c} mutates under an unexpected client id"
                );
                let key = (record.client_id.clone(), record.id);
                client.model.pending.push(record);
                client.issued.insert(key.clone(), effects);
                client.handles.insert(key, handle);
            }
            // A mutator refusing locally queues nothing, and its partial writes vanish.
            Err(_) => {
                if kind >= 9 {
                    self.stats.local_failures += 1;
                    self.check_view(c, "after a local mutator failed");
                }
            }
        }
    }

    /// The view must be the confirmed snapshot with the pending mutations
    /// re-run from scratch, and the pending queue the unanswered mutations.
    fn check_view(&mut self, c: usize, when: &str) {
        let client = &self.clients[c];
        let pending: Vec<u64> = client.core.pending().map(|r| r.id).collect();
        let expected: Vec<u64> = client.model.pending.iter().map(|r| r.id).collect();
        assert_eq!(pending, expected, "t{} client {c} {when}: pending queue is not the unanswered mutations", self.now);
        assert_eq!(client.core.client_id(), client.model.client_id, "t{} client {c} {when}: client id", self.now);
        let view = dump_memory(client.core.view());
        let reference = dump_memory(&replayed(&client.model.confirmed, &client.model.pending, &client.ctx));
        if view != reference {
            panic!(
                "{}",
                describe_difference(
                    &format!(
                        "t{} client {c} {when}: the view (left) is not the confirmed snapshot with pending {expected:?} replayed (right)",
                        self.now
                    ),
                    &view,
                    &reference
                )
            );
        }
        self.stats.view_checks += 1;
    }

    /// The client process dies and restarts from its store: memory state and
    /// handles are gone; the pending queue and snapshot come back.
    fn restart_client(&mut self, c: usize) {
        let client = &mut self.clients[c];
        let group = client.core.client_group_id().to_owned();
        let persisted = run_ready(client.store.load(&SCHEMA, &group, &SCHEMA.version())).expect("ready").expect("load");
        let persisted = persisted.expect("store was initialised");
        client.core = ClientCore::restore(&SCHEMA, persisted, &client.ctx).expect("restore");
        client.pushed_through = 0;
        // Handles died with the process; the app can ask for fresh ones.
        client.handles.clear();
        let ids: Vec<u64> = client.core.pending().map(|r| r.id).collect();
        for id in ids {
            if let Some(handle) = client.core.handle(id) {
                client.handles.insert((client.core.client_id().to_owned(), id), handle);
            }
        }
        self.log.push(format!("t{} client {c} restarted", self.now));
        self.check_view(c, "after a restart");
    }

    /// Pushes the oldest pending mutations, or (pipelining, like a client
    /// that does not wait for answers) the ones after the last push.
    fn request_push(&mut self, c: usize) {
        let max = 1 + self.rng.below(5) as usize;
        let pipelined = self.clients[c].pushed_through > 0 && self.rng.chance(40);
        let client = &mut self.clients[c];
        let request = if pipelined {
            client.core.push_request_after(client.pushed_through, max)
        } else {
            client.core.push_request(max)
        };
        if let Some(request) = request {
            client.pushed_through = request.mutations.last().map_or(0, |m| m.id);
            self.send(Message::Push { client: c, request });
        }
    }

    fn request_pull(&mut self, c: usize) {
        let base = self.clients[c].core.cookie();
        self.send(Message::Pull { client: c, base: base.clone(), cookie: base, pages: Vec::new() });
    }

    fn deliver(&mut self, message: Message) {
        match message {
            Message::Push { client, request } => {
                let Some(db) = &self.server else { return };
                let ctx = Ctx { user: self.clients[client].user.clone(), on_server: true };
                let result = ready(push::process::<Sim, _>(
                    db,
                    push::Pusher { user_id: &ctx.user, ctx: &ctx, scope: &EVERYTHING },
                    &request,
                    0,
                ));
                if std::env::var("SIM_TRACE").is_ok() {
                    let ids: Vec<_> =
                        request.mutations.iter().map(|m| (m.client_id.as_str(), m.id, m.name.as_str())).collect();
                    eprintln!(
                        "t{} push {ids:?} -> {:?}",
                        self.now,
                        result.as_ref().map(|o| &o.response).map_err(|e| e.code)
                    );
                }
                match result {
                    Ok(_) => self.send(Message::PushDone { client, out_of_order: false }),
                    Err(e) if e.code == ErrorCode::OutOfOrderMutation => {
                        self.stats.out_of_order_pushes += 1;
                        self.send(Message::PushDone { client, out_of_order: true });
                    }
                    Err(e) if e.code == ErrorCode::ClientForgotten => {
                        self.stats.forgotten_pushes += 1;
                        let client_id = request.mutations.first().map(|m| m.client_id.clone()).unwrap_or_default();
                        self.send(Message::Forgotten { client, client_id });
                    }
                    Err(e) => panic!("t{} push refused: {}", self.now, e.message),
                }
            }
            Message::Pull { client, base, cookie, mut pages } => {
                let Some(db) = &self.server else { return };
                let group = self.clients[client].core.client_group_id().to_owned();
                match ready(pull::process(
                    db,
                    &SCHEMA,
                    pull::Puller { user_id: &self.clients[client].user, group: &group, scope: &EVERYTHING },
                    cookie,
                    self.page_limit,
                )) {
                    Ok((page, writes)) => {
                        // As the servers do: record what the group was sent (nothing, with no rules).
                        let who = pull::Puller { user_id: &self.clients[client].user, group: &group, scope: &EVERYTHING };
                        ready(pull::record(db, who, page.cookie.order, &writes)).expect("record");
                        let more = page.more;
                        let next = page.cookie.clone();
                        pages.push(page);
                        assert!(
                            pages.len() <= MAX_PAGES,
                            "t{} client {client}: a paged pull of {group} from {base:?} never ends ({} pages of {:?}; last cookie {next:?})",
                            self.now,
                            pages.len(),
                            self.page_limit
                        );
                        if more {
                            self.send(Message::Pull { client, base, cookie: Some(next), pages });
                        } else {
                            self.send(Message::PullDone { client, base, pages });
                        }
                    }
                    Err(e) => panic!("t{} pull refused: {}", self.now, e.message),
                }
            }
            Message::PushDone { client, out_of_order } => {
                if out_of_order {
                    // Like the real client: pull, then push again from the oldest pending.
                    self.clients[client].pushed_through = 0;
                }
                self.request_pull(client)
            }
            Message::PullDone { client, base, pages } => self.apply_pull(client, base, pages),
            Message::Forgotten { client, client_id } => self.start_over(client, &client_id),
        }
    }

    /// Records what a rebase answered and checks each live handle agrees.
    fn record_resolved(&mut self, c: usize, rebase: &Rebase) {
        let sim = &mut self.clients[c];
        for (id, outcome) in &rebase.resolved {
            let key = (sim.model.client_id.clone(), *id);
            assert!(sim.resolved.insert(key.clone(), outcome.clone()).is_none(), "mutation {key:?} answered twice");
            if let Some(mut handle) = sim.handles.remove(&key) {
                assert_eq!(handle.try_outcome(), Some(outcome.clone()), "handle of {key:?} disagrees with the rebase");
            }
            let effects = sim.issued.get(&key).cloned().unwrap_or_default();
            if effects.always_refused {
                assert!(outcome.is_err(), "t{} mutation {key:?} always fails on the server but resolved ok", self.now);
                if matches!(outcome, Err(MutationFailed::Rejected(_))) && !effects.adds.is_empty() {
                    self.stats.rejected_after_writing += 1;
                }
            }
        }
    }

    /// Like the real client on `client_forgotten`: start over under a new id,
    /// every pending mutation dropped (the server refused them, so none ran).
    fn start_over(&mut self, c: usize, client_id: &str) {
        if self.clients[c].core.client_id() != client_id {
            return; // a late answer to the client's previous identity
        }
        self.fresh_ids += 1;
        let fresh = format!("c{c}-forgotten{}", self.fresh_ids);
        let sim = &mut self.clients[c];
        let store = &sim.store;
        let rebase = sim.core.start_over(fresh, &sim.ctx, |commit| store.commit_pull(commit)).expect("start over");
        let expected: Vec<(u64, Result<(), MutationFailed>)> =
            sim.model.pending.drain(..).map(|r| (r.id, Err(MutationFailed::Dropped(String::new())))).collect();
        assert_eq!(
            normalized(&rebase.resolved),
            expected,
            "t{} client {c}: starting over drops what is pending",
            self.now
        );
        assert!(rebase.reset_client);
        self.record_resolved(c, &rebase);
        let sim = &mut self.clients[c];
        sim.model.client_id = sim.core.client_id().to_owned();
        sim.model.lmid = 0;
        sim.model.cookie = None;
        sim.pushed_through = 0;
        self.stats.client_resets += 1;
        self.check_view(c, "after starting over");
    }

    fn apply_pull(&mut self, c: usize, base: Option<Cookie>, pages: Vec<PullResponse>) {
        self.fresh_ids += 1;
        let fresh = format!("c{c}-reset{}", self.fresh_ids);
        let sim = &mut self.clients[c];
        let store = &sim.store;
        let rebase = sim
            .core
            .apply_pull(&base, &pages, &sim.ctx, || fresh, |commit| store.commit_pull(commit))
            .expect("apply pull");
        if std::env::var("SIM_TRACE").is_ok() {
            eprintln!("t{} client {c} pull from {base:?}: {} pages, {:?}", self.now, pages.len(), rebase);
            for p in &pages {
                eprintln!("    lmids {:?} errors {:?}", p.last_mutation_id_changes, p.mutation_errors);
            }
        }
        self.check_pull(c, &base, &pages, &rebase);
        self.record_resolved(c, &rebase);
        let sim = &mut self.clients[c];
        if rebase.reset_client {
            sim.model.client_id = sim.core.client_id().to_owned();
            sim.pushed_through = 0;
        }
        self.stats.failed_replays += rebase.failed_replays.len() as u64;
        if !rebase.stale {
            self.check_view(c, "after a pull");
            self.check_confirmed_against_server(c);
        }
    }

    /// Checks what the pull did against the model, then advances the model.
    fn check_pull(&mut self, c: usize, base: &Option<Cookie>, pages: &[PullResponse], rebase: &Rebase) {
        let now = self.now;
        let model = &mut self.clients[c].model;
        let stale = *base != model.cookie;
        assert_eq!(
            rebase.stale, stale,
            "t{now} client {c}: a pull requested from {base:?} when the client's cookie is {:?} must be applied iff they match",
            model.cookie
        );
        if stale {
            assert!(
                rebase.resolved.is_empty() && !rebase.reset_client,
                "t{now} client {c}: a stale pull changed something"
            );
            return;
        }
        let mut lmid = None;
        let mut errors = BTreeMap::new();
        let mut saw_clear = false;
        for page in pages {
            let decoded = ClientCore::<Sim>::decode_page(&SCHEMA, page).expect("decode");
            // A reset that restarted midway starts over: earlier pages no longer hold.
            if decoded.changes.iter().any(|c| matches!(c, Change::Clear)) {
                if saw_clear {
                    self.stats.restarted_resets += 1;
                }
                lmid = None;
                errors.clear();
            }
            if let Some(l) = decoded.last_mutation_id_changes.get(&model.client_id) {
                lmid = Some(*l);
            }
            for e in decoded.mutation_errors.into_iter().filter(|e| e.client_id == model.client_id) {
                errors.insert(e.mutation_id, e.message);
            }
            for change in decoded.changes.iter() {
                match change {
                    Change::Clear => {
                        saw_clear = true;
                        model.confirmed.clear();
                    }
                    Change::Put(def, row) => model.confirmed.put_row(def, row.clone()).expect("put"),
                    Change::Del(def, id) => {
                        model.confirmed.delete_row(def, id).expect("del");
                    }
                }
            }
        }
        model.cookie = pages.last().map(|p| p.cookie.clone());
        if pages.len() > 1 {
            if saw_clear {
                self.stats.multi_page_resets += 1;
            } else {
                self.stats.multi_page_deltas += 1;
            }
        }
        if saw_clear && base.as_ref().is_some_and(|b| b.order < self.horizon) {
            self.stats.horizon_resets += 1;
        }
        // PROTOCOL.md: a reset that lacks a client which had an LMID > 0 means
        // the server forgot it: new client id, pending mutations dropped.
        let forgotten = saw_clear && lmid.is_none() && model.lmid > 0;
        assert_eq!(rebase.reset_client, forgotten, "t{now} client {c}: starting over as a new client");
        let mut expected = Vec::new();
        if forgotten {
            self.stats.client_resets += 1;
            expected.extend(model.pending.drain(..).map(|r| (r.id, Err(MutationFailed::Dropped(String::new())))));
            model.lmid = 0;
        } else {
            model.lmid = model.lmid.max(lmid.unwrap_or(0));
            while model.pending.first().is_some_and(|r| r.id <= model.lmid) {
                let r = model.pending.remove(0);
                expected.push((r.id, errors.remove(&r.id).map_or(Ok(()), |m| Err(MutationFailed::Rejected(m)))));
            }
        }
        assert_eq!(
            normalized(&rebase.resolved),
            expected,
            "t{now} client {c}: the pull (LMID {lmid:?}, errors {errors:?}) resolved other mutations than the server answered"
        );
    }

    /// When the server wrote nothing since the client's cookie, the confirmed
    /// snapshot is exactly the server's tables.
    fn check_confirmed_against_server(&mut self, c: usize) {
        let Some(db) = &self.server else { return };
        let model = &self.clients[c].model;
        let Some(cookie) = &model.cookie else { return };
        if cookie.reset_after.is_some() || cookie.order != head_seq(db) {
            return;
        }
        let server = dump_server(db);
        let confirmed = dump_memory(&model.confirmed);
        if confirmed != server {
            panic!(
                "{}",
                describe_difference(
                    &format!(
                        "t{} client {c}: confirmed snapshot (left) at {cookie:?} is not the server (right)",
                        self.now
                    ),
                    &confirmed,
                    &server
                )
            );
        }
        self.stats.server_checks += 1;
    }

    /// Compacts the change log up to a recent position, stranding cookies
    /// below it.
    fn compact(&mut self) {
        let Some(db) = &self.server else { return };
        let through = head_seq(db) - self.rng.below(8) as i64;
        ready(compact::compact(db, through)).expect("compact");
        self.horizon = self.horizon.max(through);
        self.stats.compactions += 1;
        self.log.push(format!("t{} compacted through {through}", self.now));
    }

    /// Forgets a client group, when that cannot re-apply a mutation: every
    /// client of the group knows its LMID (so no pending mutation was already
    /// applied) and none of its pushes is in flight. Real servers forget only
    /// long-idle groups, which meets both.
    fn forget(&mut self) {
        let Some(db) = &self.server else { return };
        // Often a group in the middle of a paged reset, so the reset restarts.
        let paging: Vec<usize> = self
            .network
            .iter()
            .filter_map(|(_, m)| match m {
                Message::Pull { client, cookie: Some(Cookie { reset_after: Some(_), .. }), .. } => Some(*client),
                _ => None,
            })
            .collect();
        let c = if !paging.is_empty() && self.rng.chance(60) {
            paging[self.rng.below(paging.len() as u64) as usize]
        } else {
            self.rng.below(self.clients.len() as u64) as usize
        };
        let group = group_of(c).0;
        let members: Vec<usize> = (0..self.clients.len()).filter(|&i| group_of(i).0 == group).collect();
        let lmids: BTreeMap<String, u64> = {
            let conn = db.connection();
            let mut stmt = conn
                .prepare("SELECT id, last_mutation_id FROM _plasma_clients WHERE client_group_id = ?")
                .expect("prepare");
            stmt.query_map([&group], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows")
        };
        let settled = members.iter().all(|&i| {
            let model = &self.clients[i].model;
            lmids.get(&model.client_id).copied().unwrap_or(0) == model.lmid
        });
        if !settled {
            return;
        }
        self.network.retain(|(_, m)| !(matches!(m, Message::Push { .. }) && members.contains(&m.client())));
        ready(plasma::server::forget::forget_group(db, &group)).expect("forget");
        self.stats.forgotten_groups += 1;
        self.log.push(format!("t{} forgot {group}", self.now));
        if std::env::var("SIM_TRACE").is_ok() {
            eprintln!("t{} forgot {group} at head {}", self.now, head_seq(db));
        }
    }

    fn step(&mut self) {
        self.now += 1;
        for c in 0..self.clients.len() {
            match self.rng.below(10) {
                0..=3 => self.mutate(c),
                4 | 5 => self.request_push(c),
                6 | 7 => self.request_pull(c),
                8 if self.rng.chance(10) => self.restart_client(c),
                _ => {}
            }
        }
        if self.rng.chance(5) {
            self.compact();
        }
        if self.rng.chance(6) {
            self.forget();
        }
        if self.server.is_some() && self.rng.chance(3) {
            // The process dies; requests reaching it while down are lost; it comes back from its file.
            self.server = None;
            self.down_until = self.now + 1 + self.rng.below(3);
            self.log.push(format!("t{} server down", self.now));
        }
        if self.server.is_none() && self.now >= self.down_until {
            self.server = Some(SqliteExecutor::open(self.dir.path().join("server.db")).expect("reopen"));
        }
        while self.network.front().is_some_and(|(t, _)| *t <= self.now) {
            if let Some((_, message)) = self.network.pop_front() {
                if self.lossy && self.rng.chance(5) {
                    continue; // lost on arrival
                }
                self.deliver(message);
            }
        }
    }

    fn heal(&mut self) {
        self.lossy = false;
        if self.server.is_none() {
            self.server = Some(SqliteExecutor::open(self.dir.path().join("server.db")).expect("reopen"));
        }
        for _round in 0..100 {
            for c in 0..self.clients.len() {
                self.request_push(c);
                self.request_pull(c);
            }
            for _ in 0..4 {
                self.step_quiet();
            }
            if self.clients.iter().all(|c| c.core.pending().len() == 0) && self.network.is_empty() {
                break;
            }
        }
        for c in 0..self.clients.len() {
            self.request_pull(c);
        }
        while !self.network.is_empty() {
            self.step_quiet();
        }
    }

    fn step_quiet(&mut self) {
        self.now += 1;
        while self.network.front().is_some_and(|(t, _)| *t <= self.now) {
            if let Some((_, message)) = self.network.pop_front() {
                self.deliver(message);
            }
        }
    }
}

fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(';').filter(|t| !t.is_empty())
}

fn run_seed(seed: u64) -> Result<Stats, String> {
    let mut world = World::new(seed);
    let ticks = 60 + world.rng.below(60);
    for _ in 0..ticks {
        world.step();
    }
    world.heal();
    let server = dump_server(world.server.as_ref().expect("server up"));
    let mut accepted: BTreeMap<String, i64> = BTreeMap::new();
    let mut appended: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, client) in world.clients.iter().enumerate() {
        if client.core.pending().len() != 0 {
            return Err(format!("client {i} still has {} pending mutations", client.core.pending().len()));
        }
        let view = dump_memory(client.core.view());
        if view != server {
            return Err(describe_difference(
                &format!("client {i} did not converge (client left, server right)"),
                &view,
                &server,
            ));
        }
        let unanswered: BTreeSet<_> = client.issued.keys().filter(|k| !client.resolved.contains_key(*k)).collect();
        if !unanswered.is_empty() {
            return Err(format!("client {i}: mutations never answered: {unanswered:?}"));
        }
        if !client.handles.is_empty() {
            return Err(format!("client {i}: handles never resolved: {:?}", client.handles.keys()));
        }
        for (key, outcome) in &client.resolved {
            if let (Ok(()), Some(effects)) = (outcome, client.issued.get(key)) {
                for (counter, n) in &effects.adds {
                    *accepted.entry(counter.clone()).or_default() += n;
                }
                for (note, token) in &effects.appends {
                    appended.entry(note.clone()).or_default().push(token.trim_end_matches(';').to_owned());
                }
            }
        }
    }
    let table = |name: &str| server.iter().find(|(t, _)| *t == name).map(|(_, rows)| rows.clone()).unwrap_or_default();
    let stored: BTreeMap<String, i64> = table("counters")
        .into_iter()
        .map(|r| Counter::from_row(r).expect("counter"))
        .map(|c| (c.id, c.value))
        .collect();
    if stored != accepted {
        return Err(format!(
            "counters {stored:?} differ from the sum of accepted adds {accepted:?}: a mutation was lost or applied twice"
        ));
    }
    let notes: BTreeMap<String, String> =
        table("notes").into_iter().map(|r| Note::from_row(r).expect("note")).map(|n| (n.id, n.text)).collect();
    for note in notes.keys().chain(appended.keys()).collect::<BTreeSet<_>>() {
        let text = notes.get(note).map(String::as_str).unwrap_or_default();
        let mut found: Vec<&str> = tokens(text).collect();
        // Appends of one client land in the order it issued them.
        let mut last: BTreeMap<&str, u64> = BTreeMap::new();
        for token in &found {
            let (who, n) = token.split_once('.').expect("token");
            let n: u64 = n.parse().expect("token number");
            if last.insert(who, n).is_some_and(|before| before > n) {
                return Err(format!("note {note} = {text:?}: appends of {who} landed out of their order"));
            }
        }
        found.sort_unstable();
        let mut expected: Vec<&str> =
            appended.get(note).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default();
        expected.sort_unstable();
        if found != expected {
            return Err(format!(
                "note {note} = {text:?} holds other appends than the accepted ones {expected:?}: one was lost or applied twice"
            ));
        }
    }
    Ok(world.stats)
}

#[test]
fn clients_converge_under_a_lossy_network_and_server_restarts() {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("SIM_SEED is a number")],
        Err(_) => {
            let n: u64 = std::env::var("SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
            (0..n).collect()
        }
    };
    let mut failures = Vec::new();
    let mut stats = Stats::default();
    for &seed in &seeds {
        let outcome = std::panic::catch_unwind(|| run_seed(seed)).unwrap_or_else(|p| {
            Err(p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default())
        });
        match outcome {
            Ok(s) => stats.add(&s),
            Err(why) => failures.push(format!(
                "seed {seed}: {why}\n  replay: SIM_SEED={seed} cargo test -p plasma-tests --test simulation -- --nocapture"
            )),
        }
    }
    println!("simulation: {} seeds, {} failed; {stats:?}", seeds.len(), failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    if seeds.len() >= 100 {
        let missing = stats.missing();
        assert!(missing.is_empty(), "the simulation never reached: {missing:?} ({stats:?})");
    }
}

/// Follows a pull from `cookie` to its last page.
fn pull_all(
    db: &SqliteExecutor,
    group: &str,
    user: &str,
    mut cookie: Option<Cookie>,
    rows: usize,
) -> Vec<PullResponse> {
    let mut pages = Vec::new();
    loop {
        let page = ready(pull::process(
            db,
            &SCHEMA,
            pull::Puller { user_id: user, group, scope: &EVERYTHING },
            cookie,
            pull::PageLimit { rows, bytes: usize::MAX },
        ))
        .expect("pull")
        .0;
        cookie = Some(page.cookie.clone());
        let more = page.more;
        pages.push(page);
        if !more {
            return pages;
        }
        assert!(pages.len() < MAX_PAGES, "the pull never ends");
    }
}

/// The rare interleaving the simulation reaches only now and then, pinned: a
/// paged reset whose group is forgotten between its pages restarts, and the
/// client must take that restart's word (it was forgotten) over the first page's.
#[test]
fn a_paged_reset_restarted_by_forgetting_resets_the_client() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = SqliteExecutor::open(dir.path().join("server.db")).expect("open");
    db.ensure_schema(&SCHEMA).expect("schema");
    let ctx = Ctx { user: "alice".into(), on_server: false };
    let server_ctx = Ctx { user: "alice".into(), on_server: true };
    let mut core = ClientCore::<Sim>::new(&SCHEMA, "g".into(), "c0".into());
    for i in 0..10 {
        let _ = core.mutate::<add>(&ctx, Add { id: format!("k{i}"), n: 1 }, 0).expect("mutate");
    }
    let request = core.push_request(100).expect("push");
    ready(push::process::<Sim, _>(
        &db,
        push::Pusher { user_id: "alice", ctx: &server_ctx, scope: &EVERYTHING },
        &request,
        0,
    ))
    .expect("push");
    let pages = pull_all(&db, "g", "alice", None, 3);
    let rebase = core.apply_pull(&None, &pages, &ctx, || unreachable!(), |_| Ok(())).expect("apply");
    assert_eq!(rebase.resolved.len(), 10);
    let _ = core.mutate::<add>(&ctx, Add { id: "k0".into(), n: 1 }, 0).expect("mutate");

    // Another group writes, and compaction strands the cookie: the next pull is a paged reset.
    let mut other = ClientCore::<Sim>::new(&SCHEMA, "h".into(), "d0".into());
    let _ = other.mutate::<add>(&ctx, Add { id: "k99".into(), n: 1 }, 0).expect("mutate");
    ready(push::process::<Sim, _>(
        &db,
        push::Pusher { user_id: "alice", ctx: &server_ctx, scope: &EVERYTHING },
        &other.push_request(1).expect("push"),
        0,
    ))
    .expect("push");
    let base = core.cookie();
    ready(compact::compact(&db, i64::MAX)).expect("compact");
    let first = ready(pull::process(
        &db,
        &SCHEMA,
        pull::Puller { user_id: "alice", group: "g", scope: &EVERYTHING },
        base.clone(),
        pull::PageLimit { rows: 3, bytes: usize::MAX },
    ))
    .expect("pull")
    .0;
    assert!(first.more && first.last_mutation_id_changes.contains_key("c0"), "{first:?}");
    // Forgotten between two pages: the rest of the reset starts over, without c0.
    assert!(ready(plasma::server::forget::forget_group(&db, "g")).expect("forget"));
    let mut pages = vec![first.clone()];
    pages.extend(pull_all(&db, "g", "alice", Some(first.cookie), 3));
    let rebase = core.apply_pull(&base, &pages, &ctx, || "c0-new".into(), |_| Ok(())).expect("apply");
    assert!(rebase.reset_client, "the client must learn it was forgotten: {rebase:?}");
    assert_eq!(core.client_id(), "c0-new");
    assert_eq!(normalized(&rebase.resolved), vec![(11, Err(MutationFailed::Dropped(String::new())))]);
    assert_eq!(dump_memory(core.view()), dump_server(&db), "only the server's rows remain");
}

/// Drives a server call on SQLite, whose futures never wait.
fn ready<T>(future: impl std::future::Future<Output = T>) -> T {
    plasma::exec::run_ready(future).expect("SQLite never waits")
}
