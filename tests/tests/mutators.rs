//! The same mutators, dispatched by name with JSON args, behave identically on
//! the in-memory executor and on SQLite: one function for client and server.

use plasma::exec::run_ready;
use plasma::{DispatchError, Executor, MemoryExecutor, Registry, SqliteExecutor};
use serde_json::json;
use todo::{Ctx, Todo, TodoMutators};

fn script() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("createTodo", json!({"id": "a", "title": "write tests", "updatedAt": 1})),
        ("createTodo", json!({"id": "b", "title": "ship", "updatedAt": 2})),
        ("markDone", json!({"id": "a", "updatedAt": 3})),
        ("renameTodo", json!({"id": "b", "title": "ship it", "updatedAt": 4})),
        ("createTodo", json!({"id": "c", "title": "  ", "updatedAt": 5})), // app error
        ("markDone", json!({"id": "zzz", "updatedAt": 6})),                // app error
        // Inserts d, then fails on the blank title: d must not stay.
        (
            "importTodos",
            json!({"todos": [{"id": "d", "title": "kept?", "updatedAt": 6}, {"id": "e", "title": " ", "updatedAt": 6}]}),
        ),
        ("deleteTodo", json!({"id": "a"})),
        ("renameTodo", json!({"id": 7})), // bad args
        ("noSuchMutator", json!({})),     // unknown
    ]
}

/// Runs every step in its own transaction, committing only successes.
fn run<E: Executor>(exec: &E, user: &str) -> (Vec<Todo>, Vec<String>) {
    let ctx = Ctx::client(user);
    let mut outcomes = Vec::new();
    for (name, args) in script() {
        let args = args.to_string();
        let outcome = run_ready(async {
            let mut tx = exec.begin().await.expect("begin");
            match TodoMutators::dispatch(&mut tx, &ctx, name, &args).await {
                Ok(()) => {
                    E::commit(tx).await.expect("commit");
                    "ok".to_owned()
                }
                Err(DispatchError::Mutator(e)) => format!("mutator: {e}"),
                Err(DispatchError::BadArgs { name, .. }) => format!("bad args for {name}"),
                Err(DispatchError::UnknownMutator(n)) => format!("unknown {n}"),
                Err(other) => format!("other: {other}"),
            }
        })
        .expect("ready");
        outcomes.push(outcome);
    }
    let rows = run_ready(async {
        let mut tx = exec.begin().await.expect("begin");
        Todo::select().fetch(&mut tx).await.expect("select")
    })
    .expect("ready");
    (rows, outcomes)
}

#[test]
fn mutators_run_identically_in_memory_and_on_sqlite() {
    let sqlite = SqliteExecutor::open_in_memory().expect("open");
    sqlite.ensure_schema(&todo::SCHEMA).expect("schema");
    let memory = MemoryExecutor::new(&todo::SCHEMA);
    let on_sqlite = run(&sqlite, "alice");
    let on_memory = run(&memory, "alice");
    assert_eq!(on_memory, on_sqlite);
    let (rows, outcomes) = on_sqlite;
    assert_eq!(
        rows,
        vec![Todo {
            id: "b".into(),
            title: "ship it".into(),
            done: false,
            updated_at: 4,
            owner: "alice".into(),
            list_id: None
        }]
    );
    assert_eq!(
        outcomes,
        vec![
            "ok",
            "ok",
            "ok",
            "ok",
            "mutator: a todo needs a title",
            "mutator: no todo `zzz`",
            "mutator: import entry 1 needs a title",
            "ok",
            "bad args for renameTodo",
            "unknown noSuchMutator",
        ]
    );
}

#[test]
fn mutators_receive_the_context() {
    let memory = MemoryExecutor::new(&todo::SCHEMA);
    let (rows, outcomes) = run(&memory, todo::VIEWER);
    assert!(rows.is_empty());
    assert_eq!(outcomes[0], "mutator: viewers cannot create todos");
}

#[test]
fn the_registry_lists_every_mutator() {
    assert_eq!(
        TodoMutators::NAMES,
        &[
            "createTodo",
            "markDone",
            "markUndone",
            "renameTodo",
            "deleteTodo",
            "importTodos",
            "createList",
            "shareList",
            "unshareList"
        ]
    );
    assert!(TodoMutators::contains("markDone") && !TodoMutators::contains("mark_done"));
}

/// Creates one todo with `title` under `ctx`, then renames it to `title` too;
/// the two outcomes.
fn create_and_rename(ctx: &Ctx, title: &str) -> [Result<(), String>; 2] {
    let memory = MemoryExecutor::new(&todo::SCHEMA);
    let seed = json!({"id": "a", "title": "short", "updatedAt": 1}).to_string();
    let steps = [
        ("createTodo", json!({"id": "b", "title": title, "updatedAt": 2}).to_string()),
        ("renameTodo", json!({"id": "a", "title": title, "updatedAt": 3}).to_string()),
    ];
    run_ready(async {
        let mut tx = memory.begin().await.expect("begin");
        TodoMutators::dispatch(&mut tx, ctx, "createTodo", &seed).await.expect("seed");
        MemoryExecutor::commit(tx).await.expect("commit");
        let mut out = Vec::new();
        for (name, args) in &steps {
            let mut tx = memory.begin().await.expect("begin");
            out.push(TodoMutators::dispatch(&mut tx, ctx, name, args).await.map_err(|e| e.to_string()));
        }
        [out.remove(0), out.remove(0)]
    })
    .expect("ready")
}

#[test]
fn the_title_limit_is_checked_only_in_the_canonical_run() {
    let long = "x".repeat(todo::MAX_TITLE_CHARS + 1);
    let at_limit = "é".repeat(todo::MAX_TITLE_CHARS); // characters, not bytes
    // The client's optimistic run accepts what only the server may refuse.
    assert_eq!(create_and_rename(&Ctx::client("alice"), &long), [Ok(()), Ok(())]);
    for outcome in create_and_rename(&Ctx::server("alice"), &long) {
        let error = outcome.expect_err("refused on the server");
        assert!(error.contains("too long"), "{error}");
    }
    assert_eq!(create_and_rename(&Ctx::server("alice"), &at_limit), [Ok(()), Ok(())]);
    let unlimited = Ctx::server_with("alice", todo::ServerRules::unlimited());
    assert_eq!(create_and_rename(&unlimited, &long), [Ok(()), Ok(())]);
}

#[test]
fn mark_undone_reopens_a_todo() {
    let memory = MemoryExecutor::new(&todo::SCHEMA);
    let ctx = Ctx::client("alice");
    let steps = [
        ("createTodo", json!({"id": "a", "title": "t", "updatedAt": 1})),
        ("markDone", json!({"id": "a", "updatedAt": 2})),
        ("markUndone", json!({"id": "a", "updatedAt": 3})),
    ];
    let todo = run_ready(async {
        let mut tx = memory.begin().await.expect("begin");
        for (name, args) in &steps {
            TodoMutators::dispatch(&mut tx, &ctx, name, &args.to_string()).await.expect(name);
        }
        Todo::select().fetch(&mut tx).await.expect("select")
    })
    .expect("ready");
    assert_eq!((todo[0].done, todo[0].updated_at), (false, 3));
}
