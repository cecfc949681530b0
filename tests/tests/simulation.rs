//! Deterministic simulation of clients, a lossy network and a restarting
//! server. Seeded, virtual time, no real sleeps.
//!
//! Each seed runs N clients (two sharing a client group) issuing random
//! mutations, some of which fail only on the server, over a network that
//! drops, duplicates, delays and reorders requests and responses, while the
//! server restarts from its SQLite file, and clients crash and restart from
//! their durable store (pending queue and snapshot survive; handles of the
//! dead process are lost, so the restarted client asks for new ones). Then the
//! network heals and everyone syncs. Checked: every client converged to the
//! server's rows; every mutation was answered exactly once; every handle of a
//! live process resolved with the same answer; no accepted mutation was lost
//! or applied twice (counters only add, so a double application shows).
//!
//! `SIM_SEEDS=N` runs N seeds (default 200); `SIM_SEED=S` replays one seed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use plasma::client::{ClientCore, MemoryStore, MutationFailed, MutationHandle, Outcome, Store};
use plasma::exec::run_ready;
use plasma::protocol::{Cookie, PullResponse, PushRequest};
use plasma::server::{pull, push};
use plasma::{Executor, MemoryExecutor, MutatorError, SqliteExecutor, Table, Transaction};
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

static SCHEMA: plasma::Schema = plasma::schema![Counter, Item];

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

async fn add_to(tx: &mut impl Transaction, id: String, n: i64) -> Result<(), MutatorError> {
    match Counter::select().filter(Counter::ID.eq(id.as_str())).first(tx).await? {
        Some(c) => Counter::update().set(Counter::VALUE, c.value + n).filter(Counter::ID.eq(id)).run(tx).await?,
        None => Counter::insert().value(Counter::ID, id).value(Counter::VALUE, n).run(tx).await?,
    };
    Ok(())
}

/// Not idempotent: applying it twice shows in the counter.
#[plasma::mutator]
pub async fn add(tx: &mut impl Transaction, _ctx: &Ctx, args: Add) -> Result<(), MutatorError> {
    add_to(tx, args.id, args.n).await
}

/// Fails when the counter is odd: may succeed locally and fail on the server.
#[plasma::mutator]
pub async fn add_if_even(tx: &mut impl Transaction, _ctx: &Ctx, args: Add) -> Result<(), MutatorError> {
    let current = Counter::select().filter(Counter::ID.eq(args.id.as_str())).first(tx).await?;
    if current.is_some_and(|c| c.value % 2 != 0) {
        return Err(MutatorError::app("counter is odd"));
    }
    add_to(tx, args.id, args.n).await
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

plasma::mutators! {
    pub struct Sim { add, add_if_even, create_item, draft_item, remove_item }
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

enum Message {
    Push { client: usize, request: PushRequest },
    Pull { client: usize, base: Option<Cookie>, cookie: Option<Cookie>, pages: Vec<PullResponse> },
    PushDone { client: usize },
    PullDone { client: usize, base: Option<Cookie>, pages: Vec<PullResponse> },
}

struct SimClient {
    core: ClientCore<Sim>,
    store: MemoryStore,
    ctx: Ctx,
    user: String,
    /// Handles held by the current process, by (client id, mutation id).
    handles: BTreeMap<(String, u64), MutationHandle>,
    restarts: u32,
    /// (client id, mutation id) -> the counter and amount an add carries.
    issued: BTreeMap<(String, u64), Option<(String, i64)>>,
    resolved: BTreeMap<(String, u64), Outcome>,
}

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
    log: Vec<String>,
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
                // Clients 0 and 1 share a group, like two tabs.
                let (group, user) = if i < 2 {
                    ("g-shared".to_owned(), "alice".to_owned())
                } else {
                    (format!("g{i}"), format!("user{i}"))
                };
                let core = ClientCore::new(&SCHEMA, group.clone(), "v1".into(), format!("c{i}"));
                let store = MemoryStore::new();
                store.init(&group, "v1", core.meta()).expect("init store");
                SimClient {
                    core,
                    store,
                    ctx: Ctx { user: user.clone(), on_server: false },
                    user,
                    handles: BTreeMap::new(),
                    restarts: 0,
                    issued: BTreeMap::new(),
                    resolved: BTreeMap::new(),
                }
            })
            .collect();
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
        let copies = if self.lossy && self.rng.chance(5) { 2 } else { 1 };
        for _ in 0..copies {
            let position = self.network.iter().position(|(t, _)| *t > at).unwrap_or(self.network.len());
            self.network.insert(position, (at, clone_message(&message)));
        }
    }

    fn mutate(&mut self, c: usize) {
        let key = self.rng.below(3);
        let item = format!("item{}", self.rng.below(4));
        let n = 1 + self.rng.below(5) as i64;
        let client = &mut self.clients[c];
        let now = self.now as i64;
        let counter = format!("k{key}");
        let adds = Some((counter.clone(), n));
        let draft = format!("draft-{}-{}", c, self.now);
        let result = match self.rng.below(5) {
            0 => client.core.mutate::<add>(&client.ctx, Add { id: counter, n }, now).map(|r| (r, adds)),
            1 => client.core.mutate::<add_if_even>(&client.ctx, Add { id: counter, n }, now).map(|r| (r, adds)),
            2 => client.core.mutate::<create_item>(&client.ctx, ItemArgs { id: item }, now).map(|r| (r, None)),
            3 => client.core.mutate::<draft_item>(&client.ctx, ItemArgs { id: draft }, now).map(|r| (r, None)),
            _ => client.core.mutate::<remove_item>(&client.ctx, ItemArgs { id: item }, now).map(|r| (r, None)),
        };
        // A mutator refusing locally queues nothing; that is not an error of the system.
        if let Ok(((record, handle), amount)) = result {
            client.store.append_pending(client.core.meta(), &record).expect("store append");
            let key = (record.client_id.clone(), record.id);
            client.issued.insert(key.clone(), amount);
            client.handles.insert(key, handle);
        }
    }

    /// The client process dies and restarts from its store: memory state and
    /// handles are gone; the pending queue and snapshot come back.
    fn restart_client(&mut self, c: usize) {
        let client = &mut self.clients[c];
        let group = client.core.client_group_id().to_owned();
        let persisted = run_ready(client.store.load(&SCHEMA, &group, "v1")).expect("ready").expect("load");
        let persisted = persisted.expect("store was initialised");
        client.core = ClientCore::restore(&SCHEMA, persisted, &client.ctx).expect("restore");
        client.restarts += 1;
        // Handles died with the process; the app can ask for fresh ones.
        client.handles.clear();
        let ids: Vec<u64> = client.core.pending().map(|r| r.id).collect();
        for id in ids {
            if let Some(handle) = client.core.handle(id) {
                client.handles.insert((client.core.client_id().to_owned(), id), handle);
            }
        }
        self.log.push(format!("t{} client {c} restarted", self.now));
    }

    fn request_push(&mut self, c: usize) {
        if let Some(request) = self.clients[c].core.push_request(1 + self.rng.below(5) as usize) {
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
                match push::process::<Sim>(db, &ctx.user, &ctx, &request, 0) {
                    Ok(_) => self.send(Message::PushDone { client }),
                    Err(e) => self.log.push(format!("t{} push refused: {}", self.now, e.message)),
                }
            }
            Message::Pull { client, base, cookie, mut pages } => {
                let Some(db) = &self.server else { return };
                let group = self.clients[client].core.client_group_id().to_owned();
                // Small pages, so paging is exercised too.
                match pull::process(
                    db,
                    &SCHEMA,
                    &self.clients[client].user,
                    &group,
                    cookie,
                    pull::PageLimit { rows: 7, bytes: usize::MAX },
                ) {
                    Ok(page) => {
                        let more = page.more;
                        let next = page.cookie.clone();
                        pages.push(page);
                        if more {
                            self.send(Message::Pull { client, base, cookie: Some(next), pages });
                        } else {
                            self.send(Message::PullDone { client, base, pages });
                        }
                    }
                    Err(e) => self.log.push(format!("t{} pull refused: {}", self.now, e.message)),
                }
            }
            Message::PushDone { client } => self.request_pull(client),
            Message::PullDone { client, base, pages } => {
                let fresh = {
                    self.fresh_ids += 1;
                    format!("c{client}-reset{}", self.fresh_ids)
                };
                let sim = &mut self.clients[client];
                // Outcomes refer to mutations of the client id before this pull.
                let client_id = sim.core.client_id().to_owned();
                let store = &sim.store;
                let rebase = sim
                    .core
                    .apply_pull(&base, &pages, &sim.ctx, || fresh, |commit| store.commit_pull(commit))
                    .expect("apply pull");
                for (id, outcome) in rebase.resolved {
                    let key = (client_id.clone(), id);
                    assert!(
                        sim.resolved.insert(key.clone(), outcome.clone()).is_none(),
                        "mutation {key:?} answered twice"
                    );
                    if let Some(mut handle) = sim.handles.remove(&key) {
                        let expected = match outcome {
                            Outcome::Ok => Ok(()),
                            Outcome::Rejected(m) => Err(MutationFailed::Rejected(m)),
                            Outcome::Dropped(m) => Err(MutationFailed::Dropped(m)),
                        };
                        assert_eq!(handle.try_outcome(), Some(expected), "handle of {key:?} disagrees with the rebase");
                    }
                }
            }
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
        for _round in 0..50 {
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
        for _ in 0..10 {
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

    fn server_rows(&self) -> (Vec<Counter>, Vec<Item>) {
        let db = self.server.as_ref().expect("server up");
        run_ready(async {
            let mut tx = db.begin().await.expect("begin");
            (
                Counter::select().fetch(&mut tx).await.expect("counters"),
                Item::select().fetch(&mut tx).await.expect("items"),
            )
        })
        .expect("ready")
    }
}

fn clone_message(m: &Message) -> Message {
    match m {
        Message::Push { client, request } => Message::Push { client: *client, request: request.clone() },
        Message::Pull { client, base, cookie, pages } => {
            Message::Pull { client: *client, base: base.clone(), cookie: cookie.clone(), pages: pages.clone() }
        }
        Message::PushDone { client } => Message::PushDone { client: *client },
        Message::PullDone { client, base, pages } => {
            Message::PullDone { client: *client, base: base.clone(), pages: pages.clone() }
        }
    }
}

fn view_rows(view: &MemoryExecutor) -> (Vec<Counter>, Vec<Item>) {
    let decode = |t: &'static plasma::TableDef| view.rows(t).expect("rows");
    (
        decode(Counter::DEF).into_iter().map(|r| Counter::from_row(r).expect("counter")).collect(),
        decode(Item::DEF).into_iter().map(|r| Item::from_row(r).expect("item")).collect(),
    )
}

fn run_seed(seed: u64) -> Result<(), String> {
    let mut world = World::new(seed);
    let ticks = 60 + world.rng.below(60);
    for _ in 0..ticks {
        world.step();
    }
    world.heal();
    let server = world.server_rows();
    let mut accepted: BTreeMap<String, i64> = BTreeMap::new();
    for (i, client) in world.clients.iter().enumerate() {
        if client.core.pending().len() != 0 {
            return Err(format!("client {i} still has {} pending mutations", client.core.pending().len()));
        }
        if view_rows(client.core.view()) != server {
            return Err(format!(
                "client {i} did not converge:\n  client {:?}\n  server {:?}",
                view_rows(client.core.view()),
                server
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
            if let (Outcome::Ok, Some(Some((counter, n)))) = (outcome, client.issued.get(key)) {
                *accepted.entry(counter.clone()).or_default() += n;
            }
        }
    }
    let stored: BTreeMap<String, i64> = server.0.iter().map(|c| (c.id.clone(), c.value)).collect();
    if stored != accepted {
        return Err(format!(
            "counters {stored:?} differ from the sum of accepted adds {accepted:?}: a mutation was lost or applied twice"
        ));
    }
    Ok(())
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
    for &seed in &seeds {
        let outcome = std::panic::catch_unwind(|| run_seed(seed)).unwrap_or_else(|p| {
            Err(p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default())
        });
        if let Err(why) = outcome {
            failures.push(format!(
                "seed {seed}: {why}\n  replay: SIM_SEED={seed} cargo test -p plasma-tests --test simulation -- --nocapture"
            ));
        }
    }
    println!("simulation: {} seeds, {} failed", seeds.len(), failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
