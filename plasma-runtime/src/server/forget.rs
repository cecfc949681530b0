//! Forgetting client groups: bounded bookkeeping for installs that went away.
//!
//! A forgotten group loses its owner, its clients, their last mutation ids and
//! their recorded errors. Its next pull gets a reset without its clients'
//! LMIDs, which is how a client learns it was forgotten: it takes a new
//! client id and drops what it had queued (PROTOCOL.md, "Reset").
//!
//! Forgotten groups and clients leave tombstones (`_plasma_forgotten`, one
//! small row each): a forgotten client's late or repeated push is refused with
//! `client_forgotten` instead of running its mutations a second time, and a
//! group created again by another of its clients still resets old cookies.
//!
//! Forgetting appends an entry to the change log and records the new head as
//! [`FORGOTTEN_THROUGH`], so every cookie issued before it is older than that
//! mark: an unknown group pulling with such a cookie may be a forgotten one
//! and gets a reset, while a group that never pushed (read-only clients)
//! keeps pulling incrementally with cookies issued after it.

use crate::exec::sqlite::{SqliteExecutor, SqliteTx};
use crate::server::error::ServerError;
use crate::server::pull::{FORGOTTEN_THROUGH, raise_meta_i64};
use crate::sql::ddl::{CHANGES_TABLE, CLIENT_GROUPS_TABLE, CLIENTS_TABLE, FORGOTTEN_TABLE, MUTATION_ERRORS_TABLE};

/// Forgets one client group. Returns whether it existed.
pub fn forget_group(db: &SqliteExecutor, group: &str) -> Result<bool, ServerError> {
    let tx = db.begin_immediate_sync()?;
    let existed = delete_group(&tx, group)?;
    if existed {
        mark_forgotten(&tx, &[group.to_owned()])?;
    }
    tx.commit_sync()?;
    Ok(existed)
}

/// Forgets every client group that has not pushed since `last_seen_before_ms`
/// (milliseconds since the Unix epoch). Returns how many went.
pub fn forget_idle_groups(db: &SqliteExecutor, last_seen_before_ms: i64) -> Result<usize, ServerError> {
    let tx = db.begin_immediate_sync()?;
    let idle: Vec<String> = tx
        .connection()
        .prepare_cached(&format!("SELECT \"id\" FROM \"{CLIENT_GROUPS_TABLE}\" WHERE \"last_seen\" < ?"))?
        .query_map([last_seen_before_ms], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for group in &idle {
        delete_group(&tx, group)?;
    }
    if !idle.is_empty() {
        mark_forgotten(&tx, &idle)?;
    }
    tx.commit_sync()?;
    Ok(idle.len())
}

fn delete_group(tx: &SqliteTx<'_>, group: &str) -> Result<bool, ServerError> {
    let conn = tx.connection();
    let clients: Vec<String> = conn
        .prepare_cached(&format!("SELECT \"id\" FROM \"{CLIENTS_TABLE}\" WHERE \"client_group_id\" = ?"))?
        .query_map([group], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    conn.prepare_cached(&format!(
        "DELETE FROM \"{MUTATION_ERRORS_TABLE}\" WHERE \"client_id\" IN \
         (SELECT \"id\" FROM \"{CLIENTS_TABLE}\" WHERE \"client_group_id\" = ?)"
    ))?
    .execute([group])?;
    conn.prepare_cached(&format!("DELETE FROM \"{CLIENTS_TABLE}\" WHERE \"client_group_id\" = ?"))?.execute([group])?;
    let groups =
        conn.prepare_cached(&format!("DELETE FROM \"{CLIENT_GROUPS_TABLE}\" WHERE \"id\" = ?"))?.execute([group])?;
    // Tombstones first get position 0; `mark_forgotten` stamps them all.
    let mut tombstone = conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO \"{FORGOTTEN_TABLE}\" (\"kind\", \"id\", \"at\") VALUES (?, ?, 0)"
    ))?;
    if groups > 0 {
        tombstone.execute(["group", group])?;
    }
    for client in &clients {
        tombstone.execute(["client", client.as_str()])?;
    }
    Ok(groups > 0)
}

/// Moves the head past every cookie issued so far and remembers it, for
/// every group (unknown groups with older cookies reset) and in the new
/// tombstones (a group created again by another of its clients still resets
/// old cookies; a forgotten client's pushes are refused).
fn mark_forgotten(tx: &SqliteTx<'_>, groups: &[String]) -> Result<(), ServerError> {
    let conn = tx.connection();
    let Some(last) = groups.last() else { return Ok(()) };
    conn.prepare_cached(&format!(
        "INSERT INTO \"{CHANGES_TABLE}\" (\"tbl\", \"pk\", \"op\") VALUES ('{CLIENT_GROUPS_TABLE}', ?, 'forget')"
    ))?
    .execute([last])?;
    let at = conn.last_insert_rowid();
    conn.prepare_cached(&format!("UPDATE \"{FORGOTTEN_TABLE}\" SET \"at\" = ? WHERE \"at\" = 0"))?.execute([at])?;
    raise_meta_i64(tx, FORGOTTEN_THROUGH, at)
}

/// Where `group` was last forgotten (0 if never).
pub fn group_forgotten_at(tx: &SqliteTx<'_>, group: &str) -> Result<i64, ServerError> {
    tombstone(tx, "group", group)
}

/// Whether `client` was forgotten: its pushes are refused, so mutations the
/// server applied before forgetting it can never run a second time.
pub fn client_forgotten(tx: &SqliteTx<'_>, client: &str) -> Result<bool, ServerError> {
    Ok(tombstone(tx, "client", client)? > 0)
}

fn tombstone(tx: &SqliteTx<'_>, kind: &str, id: &str) -> Result<i64, ServerError> {
    use rusqlite::OptionalExtension;
    Ok(tx
        .connection()
        .prepare_cached(&format!("SELECT \"at\" FROM \"{FORGOTTEN_TABLE}\" WHERE \"kind\" = ? AND \"id\" = ?"))?
        .query_row([kind, id], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}
