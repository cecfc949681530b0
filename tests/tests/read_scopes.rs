//! Read scopes, tried as an attacker would: the todo app's rules (a todo is
//! its owner's or its list members'; lists and memberships are their
//! members') against a real server on 127.0.0.1 with a SQLite file.
//!
//! The simulation drives three users through random interleavings of
//! writes, shares and revocations, pulls with small pages and responses
//! lost in transit, and after every complete pull compares what each
//! client holds with the scope computed from scratch by plain SQL here.

use std::collections::{BTreeMap, BTreeSet};

use plasma::server::ServerConfig;
use plasma_tests::harness::TestServer;
use serde_json::{Value, json};

const USERS: [&str; 3] = ["alice", "bob", "carol"];

/// A deterministic generator (xorshift64*), one per seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// One client group's replica: rows by table and id, as the pulls left them.
#[derive(Default)]
struct Replica {
    cookie: Value,
    rows: BTreeMap<String, BTreeMap<String, Value>>,
    next_mutation: u64,
}

impl Replica {
    fn apply(&mut self, response: &Value) {
        for op in response["patch"].as_array().expect("patch") {
            match op["op"].as_str() {
                Some("clear") => self.rows.clear(),
                Some("put") => {
                    let table = op["table"].as_str().expect("table").to_owned();
                    let id = op["row"]["id"].as_str().expect("id").to_owned();
                    self.rows.entry(table).or_default().insert(id, op["row"].clone());
                }
                Some("del") => {
                    let table = op["table"].as_str().expect("table");
                    let id = op["id"].as_str().expect("id");
                    if let Some(rows) = self.rows.get_mut(table) {
                        rows.remove(id);
                    }
                }
                other => panic!("unknown patch op {other:?}: {op}"),
            }
        }
        self.cookie = response["cookie"].clone();
    }

    /// `(table, id, row)` of every row held.
    fn held(&self) -> BTreeSet<(String, String, String)> {
        self.rows
            .iter()
            .flat_map(|(t, rows)| rows.iter().map(move |(id, row)| (t.clone(), id.clone(), row.to_string())))
            .collect()
    }
}

/// What `user` may read, computed from scratch with plain SQL (not plasma's
/// rule rendering), as the wire spells each row.
fn scope_from_scratch(server: &TestServer, user: &str) -> BTreeSet<(String, String, String)> {
    server.server.with_db_blocking(|db| {
        let conn = db.connection();
        let mut out = BTreeSet::new();
        let mine = "SELECT \"listId\" FROM list_members WHERE \"userId\" = ?1";
        let queries = [
            (
                "todos",
                format!(
                    "SELECT json_object('id', id, 'title', title, 'done', done, \
                     'updatedAt', \"updatedAt\", 'owner', owner, 'listId', \"listId\") FROM todos \
                     WHERE (\"listId\" IS NULL AND owner = ?1) OR \"listId\" IN ({mine})"
                ),
            ),
            ("lists", format!("SELECT json_object('id', id, 'name', name, 'owner', owner) FROM lists WHERE id IN ({mine})")),
            (
                "list_members",
                format!(
                    "SELECT json_object('id', id, 'listId', \"listId\", 'userId', \"userId\") FROM list_members \
                     WHERE \"listId\" IN ({mine})"
                ),
            ),
        ];
        for (table, sql) in queries {
            let mut stmt = conn.prepare(&sql).expect("prepare scope");
            let rows = stmt.query_map([user], |r| r.get::<_, String>(0)).expect("scope query");
            for row in rows {
                let row: Value = serde_json::from_str(&row.expect("row")).expect("json");
                let id = row["id"].as_str().expect("id").to_owned();
                out.insert((table.to_owned(), id, row.to_string()));
            }
        }
        out
    })
}

struct World {
    server: TestServer,
    replicas: BTreeMap<&'static str, Replica>,
    lists: Vec<String>,
    todos: Vec<String>,
    next_id: u64,
}

impl World {
    async fn new(page_rows: usize) -> World {
        let config = ServerConfig { pull_page_rows: page_rows, ..ServerConfig::default() };
        let server = TestServer::start(config).await;
        let replicas = USERS.iter().map(|u| (*u, Replica::default())).collect();
        World { server, replicas, lists: Vec::new(), todos: Vec::new(), next_id: 0 }
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    async fn mutate(&mut self, user: &'static str, name: &str, args: Value) -> Value {
        let replica = self.replicas.get_mut(user).expect("replica");
        replica.next_mutation += 1;
        let id = replica.next_mutation;
        let client = format!("{user}-client");
        let (status, body) = self.server.push(user, &format!("{user}-group"), &[(&client, id, name, args)]).await;
        assert_eq!(status, 200, "push of {name} by {user}: {body}");
        body
    }

    /// Pulls until the server says no more follows; `lose` drops some
    /// responses on the way (the client keeps its cookie and asks again).
    async fn pull(&mut self, user: &'static str, rng: &mut Rng, lose: bool) {
        for _ in 0..1000 {
            let cookie = self.replicas[user].cookie.clone();
            let (status, response) = self.server.pull(user, &format!("{user}-group"), cookie).await;
            assert_eq!(status, 200, "pull by {user}: {response}");
            if lose && rng.chance(20) {
                continue;
            }
            self.replicas.get_mut(user).expect("replica").apply(&response);
            if response["more"] != json!(true) {
                return;
            }
        }
        panic!("the pull of {user} never finished");
    }

    async fn step(&mut self, rng: &mut Rng) {
        let user = USERS[rng.below(USERS.len())];
        match rng.below(10) {
            0 => {
                let id = self.fresh("l");
                self.mutate(user, "createList", json!({"id": id, "name": format!("list {id}")})).await;
                self.lists.push(id);
            }
            1 | 2 if !self.lists.is_empty() => {
                // Often a list the user is not in: refused, changes nothing.
                let list = self.lists[rng.below(self.lists.len())].clone();
                let to = USERS[rng.below(USERS.len())];
                self.mutate(user, "shareList", json!({"listId": list, "userId": to})).await;
            }
            3 if !self.lists.is_empty() => {
                let list = self.lists[rng.below(self.lists.len())].clone();
                let from = USERS[rng.below(USERS.len())];
                self.mutate(user, "unshareList", json!({"listId": list, "userId": from})).await;
            }
            4..=6 => {
                let id = self.fresh("t");
                let list = if rng.chance(60) && !self.lists.is_empty() {
                    Value::String(self.lists[rng.below(self.lists.len())].clone())
                } else {
                    Value::Null
                };
                let args = json!({"id": id, "title": format!("todo {id}"), "updatedAt": self.next_id, "listId": list});
                self.mutate(user, "createTodo", args).await;
                self.todos.push(id);
            }
            7 if !self.todos.is_empty() => {
                let id = self.todos[rng.below(self.todos.len())].clone();
                let title = format!("renamed by {user} {}", self.next_id);
                self.mutate(user, "renameTodo", json!({"id": id, "title": title, "updatedAt": self.next_id})).await;
            }
            8 if !self.todos.is_empty() => {
                let id = self.todos[rng.below(self.todos.len())].clone();
                self.mutate(user, "deleteTodo", json!({"id": id})).await;
            }
            _ => {
                self.pull(user, rng, true).await;
                self.check(user);
            }
        }
    }

    fn check(&self, user: &str) {
        let expected = scope_from_scratch(&self.server, user);
        let held = self.replicas[user].held();
        assert_eq!(
            held,
            expected,
            "{user} holds {:?} too many and misses {:?}",
            held.difference(&expected).collect::<Vec<_>>(),
            expected.difference(&held).collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn every_client_holds_exactly_its_scope_after_every_pull() {
    // PLASMA_SCOPE_SEEDS=500 for a longer soak; 20 keep the test command quick.
    let seeds: u64 = std::env::var("PLASMA_SCOPE_SEEDS").ok().and_then(|n| n.parse().ok()).unwrap_or(20);
    for seed in 1..=seeds {
        let mut rng = Rng::new(seed);
        let mut world = World::new([1, 3, 50][seed as usize % 3]).await;
        for _ in 0..120 {
            world.step(&mut rng).await;
        }
        for user in USERS {
            world.pull(user, &mut rng, false).await;
            world.check(user);
        }
    }
}

#[tokio::test]
async fn a_reset_sends_only_the_scope_and_a_shared_list_reaches_its_members() {
    let s = TestServer::start(ServerConfig::default()).await;
    s.push("alice", "ga", &[("ca", 1, "createTodo", json!({"id": "a1", "title": "alice private", "updatedAt": 1}))]).await;
    s.push("alice", "ga", &[("ca", 2, "createList", json!({"id": "L", "name": "groceries"}))]).await;
    s.push("alice", "ga", &[("ca", 3, "createTodo", json!({"id": "a2", "title": "milk", "updatedAt": 1, "listId": "L"}))])
        .await;
    s.push("bob", "gb", &[("cb", 1, "createTodo", json!({"id": "b1", "title": "bob private", "updatedAt": 1}))]).await;

    let ids = |pull: &Value| -> Vec<String> {
        pull["patch"].as_array().expect("patch").iter().filter_map(|op| op["row"]["id"].as_str().map(str::to_owned)).collect()
    };
    let (_, bob_first) = s.pull("bob", "gb", Value::Null).await;
    assert_eq!(ids(&bob_first), vec!["b1"], "bob's reset holds his own todo only: {bob_first}");

    s.push("alice", "ga", &[("ca", 4, "shareList", json!({"listId": "L", "userId": "bob"}))]).await;
    let (_, bob_second) = s.pull("bob", "gb", bob_first["cookie"].clone()).await;
    let mut got = ids(&bob_second);
    got.sort();
    assert_eq!(got, vec!["L", "L:alice", "L:bob", "a2"], "the share brings the list and its todo: {bob_second}");

    s.push("alice", "ga", &[("ca", 5, "unshareList", json!({"listId": "L", "userId": "bob"}))]).await;
    let (_, bob_third) = s.pull("bob", "gb", bob_second["cookie"].clone()).await;
    let mut dels: Vec<String> = bob_third["patch"]
        .as_array()
        .expect("patch")
        .iter()
        .filter(|op| op["op"] == "del")
        .map(|op| op["id"].as_str().expect("id").to_owned())
        .collect();
    dels.sort();
    assert_eq!(dels, vec!["L", "L:alice", "L:bob", "a2"], "the revocation takes them all back: {bob_third}");
    assert!(!bob_third.to_string().contains("alice private"), "never alice's private todo");
}

#[tokio::test]
async fn an_attacker_learns_nothing_and_changes_nothing() {
    let s = TestServer::start(ServerConfig::default()).await;
    s.push("alice", "ga", &[("ca", 1, "createTodo", json!({"id": "secret", "title": "alice's secret", "updatedAt": 1}))])
        .await;
    s.push("alice", "ga", &[("ca", 2, "createList", json!({"id": "L", "name": "alice's list"}))]).await;
    let (_, alice_pull) = s.pull("alice", "ga", Value::Null).await;
    let before = s.dump();

    // Another user's group: refused outright.
    let (status, body) = s.pull("mallory", "ga", Value::Null).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")), "{body}");

    // Alice's cookie replayed in mallory's own group: a reset of mallory's scope.
    let (status, replay) = s.pull("mallory", "gm", alice_pull["cookie"].clone()).await;
    assert_eq!(status, 200);
    assert_eq!(replay["patch"], json!([{"op": "clear"}]), "a forged cookie gets a reset of nothing: {replay}");
    let forged = json!({"order": 0, "database": alice_pull["cookie"]["database"]});
    let (_, forged_pull) = s.pull("mallory", "gm", forged).await;
    assert_eq!(forged_pull["patch"], json!([{"op": "clear"}]), "{forged_pull}");

    // Writes to rows out of scope: each fails or does nothing.
    let attempts = [
        ("renameTodo", json!({"id": "secret", "title": "pwned", "updatedAt": 2})),
        ("markDone", json!({"id": "secret", "updatedAt": 2})),
        ("deleteTodo", json!({"id": "secret"})),
        ("createTodo", json!({"id": "m1", "title": "into alice's list", "updatedAt": 2, "listId": "L"})),
        ("shareList", json!({"listId": "L", "userId": "mallory"})),
        ("createList", json!({"id": "L", "name": "take over"})),
        ("unshareList", json!({"listId": "L", "userId": "alice"})),
    ];
    let mut errors = Vec::new();
    for (i, (name, args)) in attempts.iter().enumerate() {
        let (status, body) = s.push("mallory", "gm", &[("cm", i as u64 + 1, name, args.clone())]).await;
        assert_eq!(status, 200, "{name}: {body}");
        let (_, pulled) = s.pull("mallory", "gm", Value::Null).await;
        errors.extend(pulled["mutationErrors"].as_array().cloned().unwrap_or_default());
        assert!(!pulled.to_string().contains("alice's"), "{name}: mallory never sees alice's rows: {pulled}");
    }
    let after: Vec<String> = s.dump().into_iter().filter(|line| !line.contains("cm") && !line.contains("gm")).collect();
    let before: Vec<String> = before.into_iter().filter(|line| !line.contains("cm") && !line.contains("gm")).collect();
    let rows = |dump: &[String]| dump.iter().filter(|l| l.starts_with("todos")).cloned().collect::<Vec<_>>();
    assert_eq!(rows(&after), rows(&before), "alice's todos are untouched");
    let text = serde_json::to_string(&errors).expect("json");
    assert!(text.contains("outside the writer's read scope"), "the scoped writes name the rule: {text}");
    let members = s.server.with_db_blocking(|db| {
        db.connection()
            .query_row("SELECT group_concat(id) FROM list_members", [], |r| r.get::<_, Option<String>>(0))
            .expect("members")
    });
    assert_eq!(members.as_deref(), Some("L:alice"), "no membership was granted or revoked");
}

#[tokio::test]
async fn the_build_refuses_missing_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = plasma::SqliteExecutor::open(dir.path().join("s.db")).expect("db");
    let missing = plasma::server::SyncServer::<todo::TodoMutators>::builder(&todo::SCHEMA, db)
        .auth(|_| async { Err(plasma::server::AuthRejection::unauthorized("no")) })
        .build();
    assert!(matches!(missing, Err(plasma::server::BuildError::MissingScopes)), "{:?}", missing.err());
    let db = plasma::SqliteExecutor::open(dir.path().join("t.db")).expect("db");
    let partial = plasma::server::SyncServer::<todo::TodoMutators>::builder(&todo::SCHEMA, db)
        .auth(|_| async { Err(plasma::server::AuthRejection::unauthorized("no")) })
        .scopes(plasma::server::Scopes::new().table::<todo::Todo>(|who| todo::Todo::OWNER.eq(who.user_id.as_str())))
        .build();
    let message = partial.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("`lists` has no read rule"), "{message}");
}

#[tokio::test]
async fn a_pull_under_another_users_rules_leaves_the_groups_record_alone() {
    let s = TestServer::start(ServerConfig::default()).await;
    s.push("bob", "gb", &[("cb", 1, "createList", json!({"id": "L", "name": "shared"}))]).await;
    s.push("bob", "gb", &[("cb", 2, "shareList", json!({"listId": "L", "userId": "alice"}))]).await;
    s.push("bob", "gb", &[("cb", 3, "createTodo", json!({"id": "t", "title": "ours", "updatedAt": 1, "listId": "L"}))])
        .await;
    // Alice reads only: her group never pushed, so it has no owner yet.
    let (_, first) = s.pull("alice", "ga", Value::Null).await;
    assert_eq!(first["patch"].as_array().map(Vec::len), Some(5), "clear, list, two members, todo: {first}");
    // Mallory pulls under alice's group id (allowed: nobody owns it) with her own rules.
    let (status, intruder) = s.pull("mallory", "ga", Value::Null).await;
    assert_eq!((status, intruder["patch"].clone()), (200, json!([{"op": "clear"}])), "{intruder}");
    // Bob takes the list back: alice's next pull must delete all of it.
    s.push("bob", "gb", &[("cb", 4, "unshareList", json!({"listId": "L", "userId": "alice"}))]).await;
    let (_, second) = s.pull("alice", "ga", first["cookie"].clone()).await;
    let mut dels: Vec<&str> =
        second["patch"].as_array().expect("patch").iter().filter_map(|op| op["id"].as_str()).collect();
    dels.sort();
    assert_eq!(dels, vec!["L", "L:alice", "L:bob", "t"], "{second}");
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn poke_socket(s: &TestServer, user: &str, group: &str) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = format!("ws://{}/sync/poke?clientGroupID={group}", s.addr).into_client_request().expect("request");
    request.headers_mut().insert("x-user", user.parse().expect("header"));
    let (mut socket, _) = tokio::time::timeout(plasma_tests::harness::TIMEOUT, tokio_tungstenite::connect_async(request))
        .await
        .expect("connect in time")
        .expect("websocket handshake");
    // Every socket gets one poke on connect (it may have missed changes).
    assert!(poked(&mut socket, std::time::Duration::from_secs(5)).await, "the welcome poke");
    socket
}

async fn poked(socket: &mut Socket, within: std::time::Duration) -> bool {
    use futures_util::StreamExt as _;
    matches!(tokio::time::timeout(within, socket.next()).await, Ok(Some(Ok(_))))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_pokes_only_the_groups_whose_scope_it_touched() {
    use std::time::Duration;
    let s = TestServer::start(ServerConfig { poke_coalesce: Duration::from_millis(5), ..ServerConfig::default() }).await;
    let mut alice_phone = poke_socket(&s, "alice", "alice-phone").await;
    let mut bob = poke_socket(&s, "bob", "bob-laptop").await;
    let mut carol = poke_socket(&s, "carol", "carol-laptop").await;
    let quiet = Duration::from_millis(300);

    // A private todo: only alice's other device hears of it.
    s.push("alice", "alice-laptop", &[("al", 1, "createTodo", json!({"id": "p", "title": "mine", "updatedAt": 1}))])
        .await;
    assert!(poked(&mut alice_phone, Duration::from_secs(5)).await, "alice's other group is poked");
    assert!(!poked(&mut bob, quiet).await, "bob reads nothing of it");
    assert!(!poked(&mut carol, quiet).await, "carol reads nothing of it");

    // Sharing a list with bob touches bob's scope (the grant), not carol's.
    s.push("alice", "alice-laptop", &[("al", 2, "createList", json!({"id": "L", "name": "shared"}))]).await;
    assert!(poked(&mut alice_phone, Duration::from_secs(5)).await);
    s.push("alice", "alice-laptop", &[("al", 3, "shareList", json!({"listId": "L", "userId": "bob"}))]).await;
    assert!(poked(&mut bob, Duration::from_secs(5)).await, "bob gained a list");
    assert!(!poked(&mut carol, quiet).await, "carol did not");
    assert!(poked(&mut alice_phone, Duration::from_secs(5)).await);

    // A todo in the list reaches both members; bob leaving is bob's to hear.
    let todo = json!({"id": "s", "title": "ours", "updatedAt": 1, "listId": "L"});
    s.push("alice", "alice-laptop", &[("al", 4, "createTodo", todo)]).await;
    assert!(poked(&mut bob, Duration::from_secs(5)).await, "a member is poked");
    assert!(poked(&mut alice_phone, Duration::from_secs(5)).await);
    assert!(!poked(&mut carol, quiet).await, "a stranger is not");
    s.push("alice", "alice-laptop", &[("al", 5, "unshareList", json!({"listId": "L", "userId": "bob"}))]).await;
    assert!(poked(&mut bob, Duration::from_secs(5)).await, "the revoked member must pull the deletes");
    assert!(!poked(&mut carol, quiet).await);
}

#[tokio::test]
async fn compaction_and_forgetting_sweep_the_record_of_rows_sent() {
    let s = TestServer::start(ServerConfig::default()).await;
    s.push("bob", "gb", &[("cb", 1, "createList", json!({"id": "L", "name": "shared"}))]).await;
    s.push("bob", "gb", &[("cb", 2, "shareList", json!({"listId": "L", "userId": "alice"}))]).await;
    let (_, first) = s.pull("alice", "ga", Value::Null).await;
    s.push("bob", "gb", &[("cb", 3, "unshareList", json!({"listId": "L", "userId": "alice"}))]).await;
    let (_, second) = s.pull("alice", "ga", first["cookie"].clone()).await;
    assert!(second["patch"].as_array().is_some_and(|p| p.len() == 3), "three deletes: {second}");
    s.pull("bob", "gb", Value::Null).await;
    // The record lives beside the database, out of the writer's way.
    let side = format!("{}-synced", s.server.with_db_blocking(|db| db.path().expect("file").display().to_string()));
    let count = |filter: &str| -> i64 {
        let conn = plasma::exec::rusqlite::Connection::open(&side).expect("side file");
        conn.query_row(&format!("SELECT count(*) FROM _plasma_synced WHERE {filter}"), [], |r| r.get(0)).expect("count")
    };
    assert_eq!(count("grp = 'ga' AND gone_at IS NOT NULL"), 3, "alice's deletes are recorded");
    let head = s.server.with_db_blocking(|db| {
        db.connection().query_row("SELECT max(seq) FROM _plasma_changes", [], |r| r.get::<_, i64>(0)).expect("head")
    });
    s.server.compact(head).await.expect("compact");
    assert_eq!(count("gone_at IS NOT NULL"), 0, "deletes at or below the horizon are swept");
    assert!(count("grp = 'gb'") > 0, "bob's rows stay recorded");
    assert!(s.server.forget_group("gb").await.expect("forget"), "bob's group existed");
    assert_eq!(count("grp = 'gb'"), 0, "a forgotten group's record goes with it");
}
