//! The todo app on `BatchServer` over D1's SQLite model with D1's limits
//! enforced as D1 enforces them (`SqliteBatchDb::with_limits`): 100 bound
//! values per statement, 100 KB of SQL, 2 MB per value or row, 50 MB per
//! result. Pushes and pulls that go past them are split or paged and answer
//! exactly as the SQLite server does; a row D1 cannot store is that
//! mutation's error; an incremental pull reads its rows a window at a time
//! (a Worker invocation may run only 1,000 statements).

use bytes::Bytes;
use plasma::SqliteExecutor;
use plasma::exec::rusqlite::Connection;
use plasma::server::storage::batch::{BatchLimits, SqliteBatchDb};
use plasma::server::{BatchServer, Scope, ServerConfig, SyncServer, push};
use serde_json::{Value, json};
use todo::{ServerRules, TodoMutators, create_todo};

type Batch = BatchServer<TodoMutators, SqliteBatchDb>;

/// No read rules, for pushes of this file's own mutators straight to the core.
static EVERYTHING: std::sync::LazyLock<Scope> = std::sync::LazyLock::new(|| Scope::everything(&todo::SCHEMA));

fn config() -> ServerConfig {
    ServerConfig { max_body_bytes: 16 << 20, pull_page_bytes: 64 << 20, ..ServerConfig::default() }
}

fn batch_server(dir: &tempfile::TempDir, limits: BatchLimits) -> Batch {
    let conn = Connection::open(dir.path().join("d1.db")).expect("open");
    let server = BatchServer::builder(&todo::SCHEMA, SqliteBatchDb::with_limits(conn, limits))
        .config(config())
        .auth(|headers| async move { todo::auth::authorize(&headers, ServerRules::unlimited()) })
        .scopes(todo::access::scopes())
        .build()
        .expect("build");
    let changes = plasma::exec::run_ready(server.ensure_schema()).expect("ready").expect("schema");
    assert!(!changes.is_empty(), "a fresh database gets the todo table");
    let again = plasma::exec::run_ready(server.ensure_schema()).expect("ready").expect("schema");
    assert!(again.is_empty(), "ensure_schema is idempotent: {again:?}");
    server
}

fn sqlite_server(dir: &tempfile::TempDir) -> SyncServer<TodoMutators> {
    let db = SqliteExecutor::open(dir.path().join("sqlite.db")).expect("open");
    todo::server::build_with_rules(db, config(), ServerRules::unlimited()).expect("build")
}

fn request(endpoint: &str, body: &Value) -> http::Request<Bytes> {
    http::Request::builder()
        .method("POST")
        .uri(format!("/sync/{endpoint}"))
        .header(todo::USER_HEADER, "alice")
        .body(Bytes::from(body.to_string()))
        .expect("request")
}

fn answer(response: http::Response<Bytes>) -> (u16, Value) {
    (response.status().as_u16(), serde_json::from_slice(response.body()).unwrap_or(Value::Null))
}

fn on_batch(server: &Batch, endpoint: &str, body: &Value) -> (u16, Value) {
    answer(plasma::exec::run_ready(server.handle(request(endpoint, body))).expect("SQLite never waits"))
}

async fn on_sqlite(server: &SyncServer<TodoMutators>, endpoint: &str, body: &Value) -> (u16, Value) {
    answer(server.handle(request(endpoint, body)).await)
}

fn push(client: &str, id: u64, name: &str, args: Value) -> Value {
    json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": "g1",
           "mutations": [{"clientId": client, "id": id, "name": name, "args": args, "timestamp": id}]})
}

fn import(prefix: &str, n: usize, title_bytes: usize) -> Value {
    let todos: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("{prefix}-{i:05}"), "title": format!("{i:05}{}", "t".repeat(title_bytes)), "updatedAt": 1}))
        .collect();
    json!({"todos": todos})
}

/// Every page of a first pull, then: the rows (sorted), LMIDs and errors.
fn what_a_pull_shows(mut pull: impl FnMut(&Value) -> (u16, Value)) -> (Vec<String>, Value, Value) {
    let mut cookie = Value::Null;
    let mut rows = Vec::new();
    let (mut lmids, mut errors) = (json!({}), json!([]));
    loop {
        let body = json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": "g1", "cookie": cookie});
        let (status, page) = pull(&body);
        assert_eq!(status, 200, "{page}");
        for op in page["patch"].as_array().expect("patch") {
            if op["op"] == "put" {
                rows.push(op["row"].to_string());
            }
        }
        if page["lastMutationIdChanges"].as_object().is_some_and(|m| !m.is_empty()) {
            lmids = page["lastMutationIdChanges"].clone();
        }
        if page["mutationErrors"].as_array().is_some_and(|e| !e.is_empty()) {
            errors = page["mutationErrors"].clone();
        }
        cookie = page["cookie"].clone();
        if page["more"] == false {
            break;
        }
    }
    rows.sort();
    (rows, lmids, errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_and_pulls_past_d1s_limits_answer_as_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batch = batch_server(&dir, BatchLimits::D1);
    let sqlite = sqlite_server(&dir);
    // One mutation inserting 400 rows: the overlay looks 400 ids up at once.
    let requests = [
        push("c1", 1, "importTodos", import("a", 400, 10)),
        push("c1", 2, "importTodos", import("b", 150, 10)),
        // A duplicate id among 150: the whole import is refused on both.
        push(
            "c1",
            3,
            "importTodos",
            json!({"todos": [{"id": "fresh", "title": "x", "updatedAt": 1}, {"id": "a-00007", "title": "x", "updatedAt": 1}]}),
        ),
    ];
    for (i, body) in requests.iter().enumerate() {
        assert_eq!(on_batch(&batch, "push", body), on_sqlite(&sqlite, "push", body).await, "push {i}");
    }
    let before = batch.storage().db().statements_run();
    let from_batch = what_a_pull_shows(|body| on_batch(&batch, "pull", body));
    let reset_statements = batch.storage().db().statements_run() - before;
    let from_sqlite = what_a_pull_shows(|body| {
        tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(on_sqlite(&sqlite, "pull", body)))
    });
    assert_eq!(from_batch.0.len(), 550);
    assert_eq!(from_batch, from_sqlite, "the same rows, LMIDs and errors");
    println!("reset pull of 550 rows: {reset_statements} statements");

    // 550 rows change, then an incremental pull: rows are read a window at a time.
    let body =
        json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": "g1", "cookie": null});
    let (_, first) = on_batch(&batch, "pull", &body);
    let mut cookie = first["cookie"].clone();
    while let (200, page) = on_batch(
        &batch,
        "pull",
        &json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": "g1", "cookie": cookie}),
    ) {
        cookie = page["cookie"].clone();
        if page["more"] == false {
            break;
        }
    }
    let renames: Vec<Value> = (0..550)
        .map(|i| {
            let id = if i < 400 { format!("a-{i:05}") } else { format!("b-{:05}", i - 400) };
            json!({"clientId": "c1", "id": 4 + i as u64, "name": "renameTodo", "args": {"id": id, "title": format!("renamed {i}"), "updatedAt": 2}, "timestamp": 4 + i})
        })
        .collect();
    let body = json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": "g1", "mutations": renames});
    let (status, answer) = on_batch(&batch, "push", &body);
    assert_eq!(status, 200, "{answer}");
    let before = batch.storage().db().statements_run();
    let body =
        json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": "g1", "cookie": cookie});
    let (status, page) = on_batch(&batch, "pull", &body);
    assert_eq!(status, 200, "{page}");
    let puts = page["patch"].as_array().expect("patch").iter().filter(|op| op["op"] == "put").count();
    assert_eq!(puts, 550, "every renamed row");
    let statements = batch.storage().db().statements_run() - before;
    // Row by row this was 550 + bookkeeping; a window of 100 ids per statement is 6.
    assert!(statements <= 20, "an incremental pull of 550 rows ran {statements} statements");
    println!("incremental pull of 550 changed rows: {statements} statements");
}

#[tokio::test]
async fn a_row_d1_cannot_store_is_that_mutations_error_and_wide_rows_page_within_the_result_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    // D1's limits, with a 6 MB result limit so a few wide rows pass it.
    let limits = BatchLimits { max_result_bytes: 6_000_000, ..BatchLimits::D1 };
    let batch = batch_server(&dir, limits);
    let big = "b".repeat(2_500_000);
    let (status, answer) =
        on_batch(&batch, "push", &push("c1", 1, "createTodo", json!({"id": "big", "title": big, "updatedAt": 1})));
    assert_eq!(status, 200, "a mutation's failure, not the push's: {answer}");
    assert_eq!(answer["lastMutationIds"]["c1"], 1);
    // D1 binds JS numbers: an integer past 53 bits is that mutation's error too.
    let huge = json!({"id": "huge", "title": "x", "updatedAt": 1_i64 << 60});
    let (status, answer) = on_batch(&batch, "push", &push("c2", 1, "createTodo", huge));
    assert_eq!(status, 200, "a mutation's failure, not the push's: {answer}");
    // Twelve rows of 1.5 MB: 18 MB, three times the result limit.
    for i in 0..12u64 {
        let title = format!("{i:02}{}", "w".repeat(1_500_000));
        let (status, answer) = on_batch(
            &batch,
            "push",
            &push("c1", 2 + i, "createTodo", json!({"id": format!("wide-{i:02}"), "title": title, "updatedAt": 1})),
        );
        assert_eq!(status, 200, "{answer}");
    }
    let (rows, lmids, errors) = what_a_pull_shows(|body| on_batch(&batch, "pull", body));
    assert_eq!(rows.len(), 12, "every wide row, none lost to the result limit");
    assert_eq!(lmids["c1"], 13);
    let errors = errors.as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{errors:?}");
    let message = |client: &str| {
        errors.iter().find(|e| e["clientId"] == client).and_then(|e| e["message"].as_str()).unwrap_or("").to_owned()
    };
    assert!(message("c1").contains("at most 2000000"), "the limit, in the mutation's error: {}", message("c1"));
    assert!(message("c2").contains("beyond what this database stores exactly"), "{}", message("c2"));

    // Maintenance on the batch database: compact through the head.
    let head = plasma::exec::run_ready(batch.change_log_head()).expect("ready").expect("head");
    assert!(head >= 14, "every push logged: head {head}");
    let compacted = plasma::exec::run_ready(batch.compact(head)).expect("ready").expect("compact");
    assert!(compacted > 0, "compaction removed log entries");
}

/// Marks every listed todo done in one statement: a read of 300 ids.
#[plasma::mutator(name = "markMany")]
pub async fn mark_many(
    tx: &mut impl plasma::Transaction,
    _ctx: &todo::Ctx,
    args: Vec<String>,
) -> Result<(), plasma::MutatorError> {
    todo::Todo::update().set(todo::Todo::DONE, true).filter(todo::Todo::ID.is_in(args.clone())).run(tx).await?;
    let found = todo::Todo::select().filter(todo::Todo::ID.is_in(args)).fetch(tx).await?;
    if found.iter().any(|t| !t.done) {
        return Err(plasma::MutatorError::app("a todo stayed open"));
    }
    Ok(())
}

plasma::mutators! {
    /// The todo mutators' table, plus one that reads many ids at once.
    pub struct Many { mark_many }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutator_reading_hundreds_of_ids_is_split_within_the_parameter_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batch = batch_server(&dir, BatchLimits::D1);
    let (status, answer) = on_batch(&batch, "push", &push("c1", 1, "importTodos", import("m", 300, 5)));
    assert_eq!(status, 200, "{answer}");
    let ids: Vec<String> = (0..300).map(|i| format!("m-{i:05}")).collect();
    let request = plasma::protocol::PushRequest {
        protocol_version: plasma::protocol::PROTOCOL_VERSION,
        schema_version: todo::SCHEMA_VERSION.into(),
        client_group_id: "g1".into(),
        mutations: vec![plasma::protocol::MutationRecord::new::<mark_many>("c1", 2, &ids, 2).expect("record")],
        applied_through: Default::default(),
    };
    let ctx = todo::Ctx::server_with("alice", ServerRules::unlimited());
    let outcome = plasma::exec::run_ready(plasma::server::push::process::<Many, _>(
        batch.storage(),
        push::Pusher { user_id: "alice", ctx: &ctx, scope: &EVERYTHING },
        &request,
        1,
    ))
    .expect("ready")
    .expect("push");
    assert_eq!(outcome.response.last_mutation_ids["c1"], 2);
    let (rows, _, errors) = what_a_pull_shows(|body| on_batch(&batch, "pull", body));
    assert_eq!(errors, json!([]), "the 300-id reads ran, split in statements of at most 100 values");
    assert!(rows.iter().all(|r| r.contains(r#""done":1"#)), "every todo marked done");
    assert_eq!(rows.len(), 300);
}

/// Inserts a todo, then deletes it again: refused if the id exists (the
/// insert fails), a no-op otherwise.
#[plasma::mutator(name = "flicker")]
pub async fn flicker(
    tx: &mut impl plasma::Transaction,
    _ctx: &todo::Ctx,
    id: String,
) -> Result<(), plasma::MutatorError> {
    todo::Todo::insert()
        .value(todo::Todo::ID, id.as_str())
        .value(todo::Todo::TITLE, "flicker")
        .value(todo::Todo::UPDATED_AT, 1)
        .run(tx)
        .await?;
    todo::Todo::delete().filter(todo::Todo::ID.eq(id)).run(tx).await?;
    Ok(())
}

plasma::mutators! {
    /// Inserts that end deleted, next to the todo app's creates.
    pub struct Flickers { flicker, create_todo }
}

/// Pushes skip the lookup of each inserted id (one D1 round trip per row)
/// and assume it new; a wrong assumption fails the commit and the push runs
/// again with lookups. Both kinds of wrong assumption (a created row, and a
/// row created then deleted, which writes nothing) must end exactly as on
/// SQLite; and a push of 100 creates takes a handful of round trips, not 100.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blind_inserts_end_as_on_sqlite_when_the_id_exists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batch = batch_server(&dir, BatchLimits::D1);
    let sqlite = SqliteExecutor::open(dir.path().join("flicker.db")).expect("open");
    sqlite.ensure_schema(&todo::SCHEMA).expect("schema");
    let ctx = todo::Ctx::server_with("alice", ServerRules::unlimited());
    let record = |id: u64, name: &str, args: Value| json!({"clientId": "c1", "id": id, "name": name, "args": args, "timestamp": id});
    let creates: Vec<Value> = (1..=100)
        .map(|i| record(i, "createTodo", json!({"id": format!("t{i:03}"), "title": "x", "updatedAt": 1})))
        .collect();
    let pushes = [
        creates,
        vec![
            record(101, "flicker", json!("t007")),
            record(102, "flicker", json!("fresh")),
            record(103, "createTodo", json!({"id": "t050", "title": "again", "updatedAt": 1})),
        ],
        vec![
            record(104, "flicker", json!("t001")),
            record(105, "createTodo", json!({"id": "t101", "title": "after", "updatedAt": 1})),
        ],
    ];
    for (i, mutations) in pushes.into_iter().enumerate() {
        let body = json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": "g1", "mutations": mutations});
        let request: plasma::protocol::PushRequest = serde_json::from_value(body).expect("request");
        let before = batch.storage().db().round_trips();
        let on_batch = plasma::exec::run_ready(plasma::server::push::process::<Flickers, _>(
            batch.storage(),
            push::Pusher { user_id: "alice", ctx: &ctx, scope: &EVERYTHING },
            &request,
            1,
        ))
        .expect("ready")
        .expect("push");
        let trips = batch.storage().db().round_trips() - before;
        let on_sqlite = plasma::exec::run_ready(plasma::server::push::process::<Flickers, _>(
            &sqlite,
            push::Pusher { user_id: "alice", ctx: &ctx, scope: &EVERYTHING },
            &request,
            1,
        ))
        .expect("ready")
        .expect("push");
        assert_eq!(on_batch.response, on_sqlite.response, "push {i}");
        // (`data_changed` may differ: SQLite logs a row inserted and deleted
        // again, a batch writes its net change, none.)
        if i == 0 {
            // Version, group, client, tombstone reads and one batch; a lookup per create was 100 more.
            assert!(trips <= 10, "100 creates took {trips} round trips");
        }
    }
    // The same rows, and the same mutations refused.
    let rows = |conn: &Connection| -> Vec<String> {
        let mut stmt = conn.prepare("SELECT id, title FROM todos ORDER BY id").expect("prepare");
        stmt.query_map([], |r| Ok(format!("{}={}", r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .expect("query")
            .map(|r| r.expect("row"))
            .collect()
    };
    let refused = |conn: &Connection| -> Vec<i64> {
        let mut stmt = conn.prepare("SELECT mutation_id FROM _plasma_mutation_errors ORDER BY 1").expect("prepare");
        stmt.query_map([], |r| r.get(0)).expect("query").map(|r| r.expect("row")).collect()
    };
    let d1 = Connection::open(dir.path().join("d1.db")).expect("open");
    assert_eq!(rows(&d1), rows(sqlite.connection()));
    assert_eq!(refused(&d1), vec![101, 103, 104], "the flickers of existing ids and the duplicate create");
    assert_eq!(refused(&d1), refused(sqlite.connection()));
}

/// An incremental pull after 250 other groups pushed: their clients' LMID
/// entries are in the change log too, and are looked up a window at a time
/// (a statement per client was 250 round trips); none of them reaches g1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_pull_looks_up_other_groups_clients_a_window_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batch = batch_server(&dir, BatchLimits::D1);
    let (status, answer) =
        on_batch(&batch, "push", &push("c1", 1, "createTodo", json!({"id": "mine", "title": "x", "updatedAt": 1})));
    assert_eq!(status, 200, "{answer}");
    let (_, first) = on_batch(
        &batch,
        "pull",
        &json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": "g1", "cookie": null}),
    );
    for i in 0..250 {
        let body = json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": format!("other-{i}"),
            "mutations": [{"clientId": format!("oc-{i}"), "id": 1, "name": "createTodo", "args": {"id": format!("t-{i:03}"), "title": "y", "updatedAt": 1}, "timestamp": 1}]});
        let (status, answer) = on_batch(&batch, "push", &body);
        assert_eq!(status, 200, "{answer}");
    }
    let (status, answer) =
        on_batch(&batch, "push", &push("c1", 2, "createTodo", json!({"id": "mine-2", "title": "x", "updatedAt": 1})));
    assert_eq!(status, 200, "{answer}");
    let before = batch.storage().db().statements_run();
    let body = json!({"protocolVersion": 1, "schemaVersion": todo::SCHEMA_VERSION, "clientGroupId": "g1", "cookie": first["cookie"]});
    let (status, page) = on_batch(&batch, "pull", &body);
    assert_eq!(status, 200, "{page}");
    let statements = batch.storage().db().statements_run() - before;
    let puts = page["patch"].as_array().expect("patch").iter().filter(|op| op["op"] == "put").count();
    assert_eq!(puts, 251, "every new todo");
    assert_eq!(page["lastMutationIdChanges"], json!({"c1": 2}), "only g1's own clients");
    // Six windows of 100 keys, a rows read and a clients read each, plus bookkeeping; a
    // statement per client key was 250 more.
    assert!(statements <= 30, "500 changed keys (250 of them other groups' clients) took {statements} statements");
    println!("incremental pull past 250 other clients: {statements} statements");
}
