//! Shared setup for plasma's benchmarks: the same work done through plasma and
//! by hand with rusqlite, on databases with the same schema, indexes and
//! change-log triggers.

pub mod client;
pub mod live;

use plasma::exec::run_ready;
use plasma::exec::rusqlite::{self, Connection, params};
use plasma::{ExecError, Executor, SqliteExecutor};
use todo::Todo;

/// A todo whose id is unique per `(batch, i)`.
pub fn todo(batch: u64, i: u64) -> Todo {
    Todo {
        id: format!("b{batch}-{i:06}"),
        title: format!("todo number {i}"),
        done: i.is_multiple_of(3),
        updated_at: (i % 100) as i64,
        owner: String::new(),
        list_id: None,
    }
}

/// An in-memory database with the todo schema applied (tables, indexes, triggers).
pub fn fresh_db() -> SqliteExecutor {
    let db = SqliteExecutor::open_in_memory().expect("open in-memory SQLite");
    db.ensure_schema(&todo::SCHEMA).expect("ensure_schema");
    db
}

/// Inserts `rows` in one transaction through the typed builders.
pub fn typed_insert(db: &SqliteExecutor, rows: &[Todo]) -> Result<(), ExecError> {
    run_ready(async {
        let mut tx = db.begin().await?;
        for row in rows {
            Todo::insert().row(row).run(&mut tx).await?;
        }
        SqliteExecutor::commit(tx).await
    })?
}

/// Inserts `rows` in one transaction with a hand-written cached statement.
pub fn raw_insert(conn: &Connection, rows: &[Todo]) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut stmt = tx
            .prepare_cached(
            "INSERT INTO \"todos\" (\"id\", \"title\", \"done\", \"updatedAt\", \"owner\", \"listId\") VALUES (?, ?, ?, ?, ?, ?)",
        )?;
        for row in rows {
            stmt.execute(params![row.id, row.title, row.done, row.updated_at, row.owner, row.list_id])?;
        }
    }
    tx.commit()
}

/// Selects the todos with `updatedAt = value` through the typed builders.
pub fn typed_select(db: &SqliteExecutor, value: i64) -> Result<Vec<Todo>, ExecError> {
    run_ready(async {
        let mut tx = db.begin().await?;
        let rows = Todo::select().filter(Todo::UPDATED_AT.eq(value)).fetch(&mut tx).await?;
        SqliteExecutor::commit(tx).await?;
        Ok(rows)
    })?
}

/// The same select written by hand (same SQL shape, same transaction, same decoding into `Todo`).
pub fn raw_select(conn: &Connection, value: i64) -> rusqlite::Result<Vec<Todo>> {
    let tx = conn.unchecked_transaction()?;
    let rows = {
        let mut stmt = tx.prepare_cached(
            "SELECT \"id\", \"title\", \"done\", \"updatedAt\", \"owner\", \"listId\" FROM \"todos\" WHERE \"updatedAt\" = ? ORDER BY \"id\" ASC",
        )?;
        let rows = stmt.query_map([value], |r| {
            Ok(Todo {
                id: r.get(0)?,
                title: r.get(1)?,
                done: r.get(2)?,
                updated_at: r.get(3)?,
                owner: r.get(4)?,
                list_id: r.get(5)?,
            })
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    tx.commit()?;
    Ok(rows)
}

/// A database holding `n` todos, 100 of which share each `updatedAt` value when `n` = 10,000.
pub fn seeded(n: u64) -> SqliteExecutor {
    let db = fresh_db();
    let rows: Vec<Todo> = (0..n).map(|i| todo(0, i)).collect();
    typed_insert(&db, &rows).expect("seed");
    db
}
