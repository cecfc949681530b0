//! The push core on a database without interactive transactions (D1's
//! interface, here its SQLite model `SqliteBatchDb`): mutators read through
//! an overlay, writes commit as one guarded batch. It must answer exactly
//! as the SQLite backend does, and concurrent pushes that read the same rows
//! must never lose an update or apply a mutation twice.

use std::sync::Arc;

use plasma::exec::run_ready;
use plasma::protocol::{ErrorCode, MutationRecord, PROTOCOL_VERSION, PushRequest};
use plasma::server::storage::batch::{BatchDb, SqliteBatchDb, Statement, guard_tables};
use plasma::server::storage::batched::BatchStorage;
use plasma::server::{Scope, push};
use plasma::{MutatorError, SqliteExecutor, Transaction, Value};
use serde::{Deserialize, Serialize};

#[plasma::table(name = "counters")]
#[derive(Debug, Clone, PartialEq)]
pub struct Counter {
    #[plasma(id)]
    pub id: String,
    pub n: i64,
}

static SCHEMA: plasma::Schema = plasma::schema![version = "counters-v1"; Counter];

/// No read rules: every user reads and writes every row.
static EVERYTHING: std::sync::LazyLock<Scope> = std::sync::LazyLock::new(|| Scope::everything(&SCHEMA));

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bump {
    pub id: String,
    /// Refuse when the counter already reached this.
    pub max: i64,
}

/// Reads the counter, then writes it plus one: the read-modify-write a lost
/// update would break.
#[plasma::mutator(name = "bump")]
pub async fn bump(tx: &mut impl Transaction, _ctx: &(), args: Bump) -> Result<(), MutatorError> {
    match Counter::select().filter(Counter::ID.eq(args.id.as_str())).first(tx).await? {
        Some(c) if c.n >= args.max => return Err(MutatorError::app(format!("{} is full", args.id))),
        Some(c) => Counter::update().set(Counter::N, c.n + 1).filter(Counter::ID.eq(args.id)).run(tx).await?,
        None => Counter::insert().value(Counter::ID, args.id).value(Counter::N, 1).run(tx).await?,
    };
    Ok(())
}

plasma::mutators! {
    pub struct Counters { bump }
}

/// The rows `sql` reads on the SQLite backend's connection.
fn rows_of(sqlite: &SqliteExecutor, sql: &str) -> Vec<Vec<Value>> {
    let conn = sqlite.connection();
    let mut stmt = conn.prepare(sql).expect("prepare");
    let width = stmt.column_count();
    stmt.query_map([], |r| {
        (0..width).map(|i| r.get_ref(i).map(plasma::exec::sqlite::value_from_ref)).collect::<Result<Vec<_>, _>>()
    })
    .expect("query")
    .map(|r| r.expect("row"))
    .collect()
}

fn ready<T>(future: impl std::future::Future<Output = T>) -> T {
    run_ready(future).expect("SQLite never waits")
}

/// A SQLite file with the schema applied, as the SQLite backend, and a
/// second one as a batch database.
fn databases(dir: &tempfile::TempDir) -> (SqliteExecutor, BatchStorage<SqliteBatchDb>) {
    let sqlite = SqliteExecutor::open(dir.path().join("sqlite.db")).expect("open");
    sqlite.ensure_schema(&SCHEMA).expect("schema");
    let path = dir.path().join("batch.db");
    SqliteExecutor::open(&path).expect("open").ensure_schema(&SCHEMA).expect("schema");
    let batch = SqliteBatchDb::new(plasma::exec::rusqlite::Connection::open(&path).expect("connect"));
    for statement in guard_tables() {
        ready(batch.batch(&[statement])).expect("guard tables");
    }
    (sqlite, BatchStorage::new(batch))
}

fn push_of(group: &str, client: &str, ids: std::ops::RangeInclusive<u64>, max: i64) -> PushRequest {
    PushRequest {
        protocol_version: PROTOCOL_VERSION,
        schema_version: SCHEMA.version().into_owned(),
        client_group_id: group.into(),
        mutations: ids
            .map(|id| MutationRecord::new::<bump>(client, id, &Bump { id: "x".into(), max }, 0).expect("record"))
            .collect(),
        applied_through: Default::default(),
    }
}

/// Every row of the tables a push touches, as text. Change-log *positions*
/// differ by design: SQLite logs each write statement (an insert then an
/// update of one row is two entries), a batch logs each row's net change
/// once; pulls coalesce per row by latest position, so clients see the same.
/// What must match is which rows and bookkeeping entries were logged.
fn dump(query: impl Fn(&str) -> Vec<Vec<Value>>) -> Vec<String> {
    [
        ("counters", "SELECT * FROM counters ORDER BY 1"),
        ("clients", "SELECT id, client_group_id, last_mutation_id FROM _plasma_clients ORDER BY 1"),
        ("groups", "SELECT id, user_id FROM _plasma_client_groups ORDER BY 1"),
        ("errors", "SELECT client_id, mutation_id, message FROM _plasma_mutation_errors ORDER BY 1, 2"),
        // Each error's position is an `err` entry of its client.
        (
            "errors logged",
            "SELECT count(*) FROM _plasma_mutation_errors e JOIN _plasma_changes c \
             ON c.seq = e.seq AND c.op = 'err' AND c.pk = e.client_id",
        ),
        ("logged", "SELECT DISTINCT tbl, pk, op FROM _plasma_changes ORDER BY 1, 2, 3"),
    ]
    .iter()
    .flat_map(|(what, sql)| query(sql).into_iter().map(move |row| format!("{what}: {row:?}")))
    .collect()
}

#[test]
fn a_batch_backend_answers_every_push_as_the_sqlite_backend_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (sqlite, batch) = databases(&dir);
    let pushes = [
        push_of("g1", "c1", 1..=3, 2),  // the third is refused: full
        push_of("g1", "c1", 2..=4, 2),  // 2 and 3 are duplicates; 4 is refused too
        push_of("g2", "c2", 1..=1, 10), // another group
        push_of("g1", "c1", 6..=6, 10), // a gap: out of order, nothing runs
        push_of("g2", "c1", 5..=5, 10), // a client of another group: forbidden
    ];
    for (i, request) in pushes.iter().enumerate() {
        let on_sqlite = ready(push::process::<Counters, _>(
            &sqlite,
            push::Pusher { user_id: "u", ctx: &(), scope: &EVERYTHING },
            request,
            7,
        ));
        let on_batch = ready(push::process::<Counters, _>(
            &batch,
            push::Pusher { user_id: "u", ctx: &(), scope: &EVERYTHING },
            request,
            7,
        ));
        match (&on_sqlite, &on_batch) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.response, b.response, "push {i}");
                assert_eq!((a.data_changed, a.anything_committed), (b.data_changed, b.anything_committed), "push {i}");
            }
            (Err(a), Err(b)) => assert_eq!((a.code, &a.message), (b.code, &b.message), "push {i}"),
            _ => panic!("push {i}: SQLite {on_sqlite:?}, batch {on_batch:?}"),
        }
    }
    let from_sqlite = dump(|sql| rows_of(&sqlite, sql));
    let from_batch = dump(|sql| ready(batch.db().query(&Statement::new(sql, Vec::new()))).expect("query"));
    assert!(from_sqlite.iter().any(|l| l.starts_with("errors:")), "errors were recorded: {from_sqlite:?}");
    assert!(from_sqlite.contains(&"errors logged: [Integer(2)]".to_owned()), "{from_sqlite:?}");
    assert_eq!(from_batch, from_sqlite, "the same rows, bookkeeping and change log");
}

#[test]
fn concurrent_pushes_that_read_the_same_row_lose_no_update_and_apply_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, batch) = databases(&dir);
    let batch = Arc::new(batch);
    const PUSHES: u64 = 60;
    let pushers: Vec<_> = ["c1", "c2", "c3"]
        .into_iter()
        .map(|client| {
            let batch = Arc::clone(&batch);
            std::thread::spawn(move || {
                let mut busy = 0;
                let mut id = 1;
                while id <= PUSHES {
                    // Every other push is sent twice (a retried request): applied once.
                    let request = push_of(&format!("g-{client}"), client, id.saturating_sub(1).max(1)..=id, i64::MAX);
                    match ready(push::process::<Counters, _>(
                        &*batch,
                        push::Pusher { user_id: "u", ctx: &(), scope: &EVERYTHING },
                        &request,
                        0,
                    )) {
                        Ok(outcome) => {
                            assert_eq!(outcome.response.last_mutation_ids.get(client), Some(&id));
                            id += 1;
                        }
                        Err(e) if e.code == ErrorCode::Busy => busy += 1, // the client retries
                        Err(e) => panic!("{client}: {e:?}"),
                    }
                }
                busy
            })
        })
        .collect();
    for pusher in pushers {
        pusher.join().expect("pusher");
    }
    let n = ready(batch.db().query(&Statement::new("SELECT n FROM counters WHERE id = 'x'", Vec::new()))).expect("n");
    assert_eq!(n, vec![vec![Value::Integer(3 * PUSHES as i64)]], "every bump counted exactly once");
}

/// A push of mutations `ids`, each bumping its own counter `k<id>`.
fn push_keys(group: &str, client: &str, ids: std::ops::RangeInclusive<u64>) -> PushRequest {
    let mut request = push_of(group, client, ids.clone(), i64::MAX);
    request.mutations = ids
        .map(|id| {
            MutationRecord::new::<bump>(client, id, &Bump { id: format!("k{id:03}"), max: i64::MAX }, 0)
                .expect("record")
        })
        .collect();
    request
}

#[test]
fn a_batch_backend_pulls_exactly_what_the_sqlite_backend_pulls() {
    use plasma::server::pull::{self, PageLimit};
    let dir = tempfile::tempdir().expect("tempdir");
    let (sqlite, _) = databases(&dir);
    // The same file read both ways: written by the SQLite backend.
    let batch =
        SqliteBatchDb::new(plasma::exec::rusqlite::Connection::open(dir.path().join("sqlite.db")).expect("open"));
    for statement in guard_tables() {
        ready(batch.batch(&[statement])).expect("guard tables");
    }
    let batch = BatchStorage::new(batch);
    ready(push::process::<Counters, _>(
        &sqlite,
        push::Pusher { user_id: "u", ctx: &(), scope: &EVERYTHING },
        &push_keys("g1", "c1", 1..=40),
        1,
    ))
    .expect("push");
    let pull_both = |cookie: Option<plasma::protocol::Cookie>, rows: usize, group: &str| {
        let limit = PageLimit { rows, bytes: usize::MAX };
        let a = ready(pull::process(
            &sqlite,
            &SCHEMA,
            pull::Puller { user_id: "u", group, scope: &EVERYTHING },
            cookie.clone(),
            limit,
        ));
        let b = ready(pull::process(
            &batch,
            &SCHEMA,
            pull::Puller { user_id: "u", group, scope: &EVERYTHING },
            cookie,
            limit,
        ));
        match (a, b) {
            (Ok((a, _)), Ok((b, _))) => {
                assert_eq!(serde_json::to_value(&a).expect("json"), serde_json::to_value(&b).expect("json"));
                Some(a)
            }
            (Err(a), Err(b)) => {
                assert_eq!((a.code, a.message), (b.code, b.message));
                None
            }
            (a, b) => panic!("SQLite {a:?}, batch {b:?}"),
        }
    };
    // A reset in pages of 7 rows, to the end.
    let mut cookie = None;
    let mut pages = 0;
    loop {
        let page = pull_both(cookie.clone(), 7, "g1").expect("page");
        pages += 1;
        cookie = Some(page.cookie.clone());
        if !page.more {
            break;
        }
    }
    assert!(pages >= 6, "40 rows in pages of 7: {pages} pages");
    // More writes, then an incremental pull from there, paged too.
    ready(push::process::<Counters, _>(
        &sqlite,
        push::Pusher { user_id: "u", ctx: &(), scope: &EVERYTHING },
        &push_keys("g1", "c1", 41..=50),
        2,
    ))
    .expect("push");
    let page = pull_both(cookie.clone(), 4, "g1").expect("incremental");
    assert!(page.more && page.patch.len() == 4, "{page:?}");
    // Another user's group is refused the same way.
    assert!(pull_both(None, 10, "g1").is_some());
    let refused = ready(pull::process(
        &batch,
        &SCHEMA,
        pull::Puller { user_id: "intruder", group: "g1", scope: &EVERYTHING },
        None,
        PageLimit { rows: 10, bytes: 1 << 20 },
    ));
    assert_eq!(refused.expect_err("refused").code, ErrorCode::Forbidden);
}

#[test]
fn a_pull_that_a_commit_overtook_is_refused_as_busy_so_it_is_read_again() {
    use plasma::server::storage::{PullStorage, PullTx};
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, batch) = databases(&dir);
    let mut reads = ready(batch.begin_pull()).expect("begin");
    let head = ready(reads.head_seq()).expect("head");
    // A push commits between the pull's reads.
    ready(push::process::<Counters, _>(
        &batch,
        push::Pusher { user_id: "u", ctx: &(), scope: &EVERYTHING },
        &push_keys("g1", "c1", 1..=1),
        1,
    ))
    .expect("push");
    let ended = ready(<BatchStorage<SqliteBatchDb> as PullStorage>::end_pull(reads));
    assert_eq!(ended.expect_err("overtaken").code, ErrorCode::Busy);
    // Without a commit in between, the same reads stand.
    let reads = ready(batch.begin_pull()).expect("begin");
    ready(<BatchStorage<SqliteBatchDb> as PullStorage>::end_pull(reads)).expect("one moment");
    assert_eq!(head, 0);
}

#[test]
fn compaction_and_forgetting_on_a_batch_backend_leave_what_sqlite_leaves() {
    use plasma::server::{compact, forget};
    let dir = tempfile::tempdir().expect("tempdir");
    let (sqlite, _) = databases(&dir);
    ready(push::process::<Counters, _>(
        &sqlite,
        push::Pusher { user_id: "u", ctx: &(), scope: &EVERYTHING },
        &push_keys("g1", "c1", 1..=5),
        1,
    ))
    .expect("push");
    ready(push::process::<Counters, _>(
        &sqlite,
        push::Pusher { user_id: "u", ctx: &(), scope: &EVERYTHING },
        &push_of("g2", "c2", 1..=3, 2),
        100,
    ))
    .expect("push");
    // The same state in a second file, maintained the batch way.
    let copy = dir.path().join("copy.db");
    sqlite.connection().execute("VACUUM INTO ?", [copy.to_str().expect("utf-8 path")]).expect("copy");
    let batch = SqliteBatchDb::new(plasma::exec::rusqlite::Connection::open(&copy).expect("open"));
    for statement in guard_tables() {
        ready(batch.batch(&[statement])).expect("guard tables");
    }
    let batch = BatchStorage::new(batch);

    assert_eq!(ready(compact::compact(&sqlite, 4)).expect("compact"), 4);
    assert_eq!(ready(compact::compact(&batch, 4)).expect("compact"), 4);
    assert!(ready(forget::forget_group(&sqlite, "g1")).expect("forget"));
    assert!(ready(forget::forget_group(&batch, "g1")).expect("forget"));
    assert!(!ready(forget::forget_group(&batch, "nobody")).expect("forget"), "an unknown group did not exist");
    assert_eq!(ready(forget::forget_idle_groups(&sqlite, 50)).expect("idle"), 0);
    assert_eq!(ready(forget::forget_idle_groups(&batch, 50)).expect("idle"), 0);
    assert_eq!(ready(forget::forget_idle_groups(&sqlite, 1_000)).expect("idle"), 1);
    assert_eq!(ready(forget::forget_idle_groups(&batch, 1_000)).expect("idle"), 1);

    let everything = |query: &dyn Fn(&str) -> Vec<Vec<Value>>| -> Vec<String> {
        [
            "counters",
            "_plasma_clients",
            "_plasma_client_groups",
            "_plasma_mutation_errors",
            "_plasma_changes",
            "_plasma_forgotten",
            "_plasma_meta",
        ]
        .iter()
        .flat_map(|t| {
            query(&format!("SELECT * FROM \"{t}\" ORDER BY 1, 2")).into_iter().map(move |r| format!("{t}: {r:?}"))
        })
        .filter(|line| !line.contains("write_version"))
        .collect()
    };
    let from_sqlite = everything(&|sql| rows_of(&sqlite, sql));
    let from_batch = everything(&|sql| ready(batch.db().query(&Statement::new(sql, Vec::new()))).expect("query"));
    assert!(from_sqlite.iter().any(|l| l.starts_with("_plasma_forgotten")), "{from_sqlite:?}");
    assert!(from_sqlite.iter().any(|l| l.contains("forget")), "{from_sqlite:?}");
    assert_eq!(from_batch, from_sqlite);
}
