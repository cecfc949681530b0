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

use crate::server::error::ServerError;
use crate::server::statements::FORGOTTEN_THROUGH;
use crate::server::storage::{MaintenanceStorage, MaintenanceTx};

/// Forgets one client group. Returns whether it existed.
pub async fn forget_group<S: MaintenanceStorage>(db: &S, group: &str) -> Result<bool, ServerError> {
    let mut tx = db.begin_maintenance().await?;
    let existed = delete_group(&mut tx, group).await?;
    if existed {
        mark_forgotten(&mut tx, &[group.to_owned()]).await?;
    }
    S::commit_maintenance(tx).await?;
    Ok(existed)
}

/// Forgets every client group that has not pushed since `last_seen_before_ms`
/// (milliseconds since the Unix epoch). Returns how many went.
pub async fn forget_idle_groups<S: MaintenanceStorage>(db: &S, last_seen_before_ms: i64) -> Result<usize, ServerError> {
    Ok(forget_idle_groups_listed(db, last_seen_before_ms).await?.len())
}

/// [`forget_idle_groups`], returning the groups that went.
pub async fn forget_idle_groups_listed<S: MaintenanceStorage>(
    db: &S,
    last_seen_before_ms: i64,
) -> Result<Vec<String>, ServerError> {
    let mut tx = db.begin_maintenance().await?;
    let idle = tx.groups_idle_since(last_seen_before_ms).await?;
    for group in &idle {
        delete_group(&mut tx, group).await?;
    }
    if !idle.is_empty() {
        mark_forgotten(&mut tx, &idle).await?;
    }
    S::commit_maintenance(tx).await?;
    Ok(idle)
}

/// Deletes the group, its clients and their errors, leaving unstamped
/// tombstones. Returns whether the group existed.
async fn delete_group(tx: &mut impl MaintenanceTx, group: &str) -> Result<bool, ServerError> {
    let clients = tx.group_clients(group).await?;
    tx.drop_group_errors(group).await?;
    tx.delete_group_clients(group).await?;
    let existed = tx.delete_group_row(group).await?;
    // Tombstones first get position 0; `mark_forgotten` stamps them all.
    tx.bury(existed.then_some(group), &clients).await?;
    Ok(existed)
}

/// Moves the head past every cookie issued so far and remembers it, for
/// every group (unknown groups with older cookies reset) and in the new
/// tombstones (a group created again by another of its clients still resets
/// old cookies; a forgotten client's pushes are refused).
async fn mark_forgotten(tx: &mut impl MaintenanceTx, groups: &[String]) -> Result<(), ServerError> {
    let Some(last) = groups.last() else { return Ok(()) };
    let at = tx.append_forget_entry(last).await?;
    tx.stamp_tombstones(at).await?;
    tx.raise_meta_i64(FORGOTTEN_THROUGH, at).await
}
