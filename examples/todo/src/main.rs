//! Runs the todo schema against a real SQLite file: creates the schema, writes
//! through the typed builders, and reads back what the change log recorded.
//!
//! `cargo run -p todo -- [path/to/todos.db]`

use std::error::Error;

use plasma::exec::run_ready;
use plasma::{Executor, SqliteExecutor};
use todo::{SCHEMA, Todo};

fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "todos.db".to_owned());
    let db = SqliteExecutor::open(&path)?;
    let changes = db.ensure_schema(&SCHEMA)?;
    println!("{path}: schema ready ({} change(s): {changes:?})", changes.len());

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    let open = run_ready(async {
        let mut tx = db.begin().await?;
        let id = format!("todo-{now}");
        Todo::insert()
            .value(Todo::id, id.as_str())
            .value(Todo::title, "Try plasma")
            .value(Todo::updated_at, now)
            .run(&mut tx)
            .await?;
        Todo::update()
            .set(Todo::done, true)
            .set(Todo::updated_at, now + 1)
            .filter(Todo::title.eq("Walk the dog"))
            .run(&mut tx)
            .await?;
        let open = Todo::select().filter(Todo::done.eq(false)).order_by(Todo::updated_at.asc()).fetch(&mut tx).await?;
        SqliteExecutor::commit(tx).await?;
        Ok::<_, plasma::ExecError>(open)
    })??;

    println!("open todos:");
    for todo in &open {
        println!("  [{}] {} (updated {})", todo.id, todo.title, todo.updated_at);
    }
    let logged: i64 = db.connection().query_row("SELECT count(*) FROM _plasma_changes", [], |r| r.get(0))?;
    println!("change log holds {logged} entr{}", if logged == 1 { "y" } else { "ies" });
    Ok(())
}
