//! Change-log compaction: bounded storage for the log. Clients whose cookie
//! falls below the horizon get a full reset on their next pull, so nothing is
//! lost, only re-sent.

use crate::exec::sqlite::SqliteExecutor;
use crate::server::error::ServerError;
use crate::server::pull::{COMPACTED_THROUGH, head_seq};
use crate::sql::ddl::{CHANGES_TABLE, META_TABLE, MUTATION_ERRORS_TABLE};

/// Deletes change-log entries (and recorded mutation errors) at or below
/// `through`, clamped to the newest position. Returns how many log entries went.
pub fn compact(db: &SqliteExecutor, through: i64) -> Result<usize, ServerError> {
    let tx = db.begin_immediate_sync()?;
    let through = through.min(head_seq(&tx)?);
    let conn = tx.connection();
    let deleted = conn.execute(&format!("DELETE FROM \"{CHANGES_TABLE}\" WHERE \"seq\" <= ?"), [through])?;
    conn.execute(&format!("DELETE FROM \"{MUTATION_ERRORS_TABLE}\" WHERE \"seq\" <= ?"), [through])?;
    conn.execute(
        &format!(
            "INSERT INTO \"{META_TABLE}\" (\"key\", \"value\") VALUES (?1, ?2) \
             ON CONFLICT (\"key\") DO UPDATE SET \"value\" = CAST(max(CAST(\"value\" AS INTEGER), CAST(?2 AS INTEGER)) AS TEXT)"
        ),
        rusqlite::params![COMPACTED_THROUGH, through.to_string()],
    )?;
    tx.commit_sync()?;
    Ok(deleted)
}
