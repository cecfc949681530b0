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
use crate::server::bookkeeping::{self, FORGOTTEN_THROUGH, raise_meta_i64};
use crate::server::error::ServerError;

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
    let idle = bookkeeping::groups_idle_since(&tx, last_seen_before_ms)?;
    for group in &idle {
        delete_group(&tx, group)?;
    }
    if !idle.is_empty() {
        mark_forgotten(&tx, &idle)?;
    }
    tx.commit_sync()?;
    Ok(idle.len())
}

/// Deletes the group, its clients and their errors, leaving unstamped
/// tombstones. Returns whether the group existed.
fn delete_group(tx: &SqliteTx<'_>, group: &str) -> Result<bool, ServerError> {
    let clients = bookkeeping::group_clients(tx, group)?;
    bookkeeping::drop_group_errors(tx, group)?;
    bookkeeping::delete_group_clients(tx, group)?;
    let existed = bookkeeping::delete_group_row(tx, group)?;
    // Tombstones first get position 0; `mark_forgotten` stamps them all.
    bookkeeping::bury(tx, existed.then_some(group), &clients)?;
    Ok(existed)
}

/// Moves the head past every cookie issued so far and remembers it, for
/// every group (unknown groups with older cookies reset) and in the new
/// tombstones (a group created again by another of its clients still resets
/// old cookies; a forgotten client's pushes are refused).
fn mark_forgotten(tx: &SqliteTx<'_>, groups: &[String]) -> Result<(), ServerError> {
    let Some(last) = groups.last() else { return Ok(()) };
    let at = bookkeeping::append_forget_entry(tx, last)?;
    bookkeeping::stamp_tombstones(tx, at)?;
    raise_meta_i64(tx, FORGOTTEN_THROUGH, at)
}
