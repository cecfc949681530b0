//! Write checks under read scopes, the same on both server backends: random
//! pushes of several mutations each (lists created, shared and unshared,
//! todos written into lists and out of them, often by non-members) go to
//! the SQLite server and to `BatchServer` over D1's SQLite model (with D1's
//! limits), and every push answers alike and leaves the same rows.
//!
//! Several mutations per push make the D1 path write through its overlay:
//! a `createList` followed by a `createTodo` into that list in one push
//! must see the buffered membership, as SQLite sees its own write.

use bytes::Bytes;
use plasma::SqliteExecutor;
use plasma::exec::rusqlite::Connection;
use plasma::server::storage::batch::{BatchLimits, SqliteBatchDb};
use plasma::server::{BatchServer, ServerConfig, SyncServer};
use serde_json::{Value, json};
use todo::{ServerRules, TodoMutators};

type Batch = BatchServer<TodoMutators, SqliteBatchDb>;

const USERS: [&str; 3] = ["alice", "bob", "carol"];

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn request(user: &str, endpoint: &str, body: &Value) -> http::Request<Bytes> {
    http::Request::builder()
        .method("POST")
        .uri(format!("/sync/{endpoint}"))
        .header(todo::USER_HEADER, user)
        .body(Bytes::from(body.to_string()))
        .expect("request")
}

fn answer(response: http::Response<Bytes>) -> (u16, Value) {
    (response.status().as_u16(), serde_json::from_slice(response.body()).unwrap_or(Value::Null))
}

/// The app's rows and the recorded errors, as text, from a server's file.
fn rows(path: &std::path::Path) -> Vec<String> {
    let conn = Connection::open(path).expect("open");
    let mut out = Vec::new();
    for sql in [
        "SELECT 'todo', id, title, done, owner, \"listId\" FROM todos ORDER BY id",
        "SELECT 'list', id, name, owner, '', '' FROM lists ORDER BY id",
        "SELECT 'member', id, \"listId\", \"userId\", '', '' FROM list_members ORDER BY id",
        "SELECT 'error', client_id, mutation_id, message, '', '' FROM _plasma_mutation_errors ORDER BY 2, 3",
    ] {
        let mut stmt = conn.prepare(sql).expect("prepare");
        let found = stmt
            .query_map([], |r| {
                Ok((0..6).map(|i| format!("{:?}", r.get_ref(i).map(plasma::exec::sqlite::value_from_ref))).collect::<Vec<_>>().join(" "))
            })
            .expect("query");
        out.extend(found.map(|r| r.expect("row")));
    }
    out
}

fn mutation(rng: &mut Rng, user: &str, lists: &mut Vec<String>, todos: &mut Vec<String>, n: &mut u64) -> (String, Value) {
    *n += 1;
    let pick = |rng: &mut Rng, from: &[String]| from.get(rng.below(from.len().max(1))).cloned();
    match rng.below(8) {
        0 => {
            let id = format!("L{n}");
            lists.push(id.clone());
            ("createList".into(), json!({"id": id, "name": format!("list {n} of {user}")}))
        }
        1 | 2 => {
            let list = pick(rng, lists).unwrap_or_else(|| "none".into());
            ("shareList".into(), json!({"listId": list, "userId": USERS[rng.below(3)]}))
        }
        3 => {
            let list = pick(rng, lists).unwrap_or_else(|| "none".into());
            ("unshareList".into(), json!({"listId": list, "userId": USERS[rng.below(3)]}))
        }
        4 | 5 => {
            let id = format!("t{n}");
            todos.push(id.clone());
            let list = if rng.below(3) > 0 { pick(rng, lists).map_or(Value::Null, Value::String) } else { Value::Null };
            ("createTodo".into(), json!({"id": id, "title": format!("todo {n}"), "updatedAt": *n, "listId": list}))
        }
        6 => {
            let id = pick(rng, todos).unwrap_or_else(|| "none".into());
            ("renameTodo".into(), json!({"id": id, "title": format!("renamed by {user}"), "updatedAt": *n}))
        }
        _ => ("deleteTodo".into(), json!({"id": pick(rng, todos).unwrap_or_else(|| "none".into())})),
    }
}

#[tokio::test]
async fn scoped_writes_answer_and_land_alike_on_sqlite_and_on_d1s_model() {
    for seed in 1..=12u64 {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = ServerConfig::for_d1();
        let batch: Batch = BatchServer::builder(
            &todo::SCHEMA,
            SqliteBatchDb::with_limits(Connection::open(dir.path().join("d1.db")).expect("open"), BatchLimits::D1),
        )
        .config(config.clone())
        .auth(|headers| async move { todo::auth::authorize(&headers, ServerRules::unlimited()) })
        .scopes(todo::access::scopes())
        .build()
        .expect("build");
        plasma::exec::run_ready(batch.ensure_schema()).expect("ready").expect("schema");
        let sqlite: SyncServer<TodoMutators> = todo::server::build_with_rules(
            SqliteExecutor::open(dir.path().join("sqlite.db")).expect("open"),
            config,
            ServerRules::unlimited(),
        )
        .expect("build");

        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let (mut lists, mut todos, mut n) = (Vec::new(), Vec::new(), 0u64);
        let mut next_id = [0u64; 3];
        for _ in 0..40 {
            let who = rng.below(3);
            let user = USERS[who];
            let mut mutations = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let (name, args) = mutation(&mut rng, user, &mut lists, &mut todos, &mut n);
                next_id[who] += 1;
                mutations.push(json!({"clientId": format!("{user}-c"), "id": next_id[who], "name": name, "args": args, "timestamp": 1}));
            }
            let body = json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION,
                              "clientGroupId": format!("{user}-g"), "mutations": mutations});
            let on_batch = answer(plasma::exec::run_ready(batch.handle(request(user, "push", &body))).expect("ready"));
            let on_sqlite = answer(sqlite.handle(request(user, "push", &body)).await);
            assert_eq!(on_batch, on_sqlite, "seed {seed}: the push {body} answers alike");
            assert_eq!(on_sqlite.0, 200, "{}", on_sqlite.1);
            assert_eq!(
                rows(&dir.path().join("d1.db")),
                rows(&dir.path().join("sqlite.db")),
                "seed {seed}: after {body} both hold the same rows and errors"
            );
        }
        // The runs wrote something and refused something: the comparison was not empty.
        let end = rows(&dir.path().join("sqlite.db"));
        assert!(end.iter().any(|r| r.starts_with("\"todo\"") || r.contains("todo")), "seed {seed}: {end:?}");
        assert!(end.iter().any(|r| r.contains("outside the writer's read scope")), "seed {seed}: no write was refused: {end:?}");
    }
}
