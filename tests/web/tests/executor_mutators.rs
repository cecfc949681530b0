//! The app's mutators run on the IndexedDB executor unchanged: the todo
//! example's `createTodo`, `markDone` and the all-or-nothing `importTodos`,
//! called exactly as the server and the client call them.

#![cfg(target_arch = "wasm32")]

use plasma::exec::indexeddb::IndexedDbExecutor;
use plasma::{Executor, Mutator};
use todo::{CreateTodo, Ctx, ImportTodos, MarkDone, SCHEMA, Todo, create_todo, import_todos, mark_done};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn ctx() -> Ctx {
    Ctx::server("alice")
}

fn todo_args(id: &str, title: &str, at: i64) -> CreateTodo {
    CreateTodo { id: id.into(), title: title.into(), updated_at: at, list_id: None }
}

async fn titles(db: &IndexedDbExecutor) -> Vec<(String, bool)> {
    let mut tx = db.begin().await.expect("begin");
    let rows = Todo::select().order_by(Todo::ID.asc()).fetch(&mut tx).await.expect("select");
    rows.into_iter().map(|t| (t.title, t.done)).collect()
}

#[wasm_bindgen_test]
async fn the_todo_mutators_run_on_indexeddb_unchanged() {
    let name = format!("plasma-idb-mutators-{}", js_sys::Date::now());
    let db = IndexedDbExecutor::open(&name, &SCHEMA).await.expect("open");

    let mut tx = db.begin().await.expect("begin");
    create_todo::run(&mut tx, &ctx(), todo_args("a", "milk", 1)).await.expect("create a");
    create_todo::run(&mut tx, &ctx(), todo_args("b", "eggs", 2)).await.expect("create b");
    mark_done::run(&mut tx, &ctx(), MarkDone { id: "a".into(), updated_at: 3 }).await.expect("mark a");
    IndexedDbExecutor::commit(tx).await.expect("commit");
    assert_eq!(titles(&db).await, [("milk".to_owned(), true), ("eggs".to_owned(), false)]);

    // A mutator that writes, then fails midway: its transaction is dropped
    // uncommitted, as the server and client do, and nothing of it remains.
    let mut tx = db.begin().await.expect("begin");
    let import = ImportTodos { todos: vec![todo_args("c", "bread", 4), todo_args("d", "  ", 5)] };
    let failed = import_todos::run(&mut tx, &ctx(), import).await;
    assert!(failed.is_err(), "a blank title fails the import");
    drop(tx);
    assert_eq!(titles(&db).await.len(), 2, "the failed import left nothing behind");

    // A refusal by the app (a taken id is a constraint error) changes nothing either.
    let mut tx = db.begin().await.expect("begin");
    assert!(create_todo::run(&mut tx, &ctx(), todo_args("a", "again", 6)).await.is_err());
    drop(tx);
    assert_eq!(titles(&db).await, [("milk".to_owned(), true), ("eggs".to_owned(), false)]);

    drop(db);
    IndexedDbExecutor::delete(&name).await.expect("delete");
}
