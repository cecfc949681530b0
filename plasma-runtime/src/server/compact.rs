//! Change-log compaction: bounded storage for the log. Clients whose cookie
//! falls below the horizon get a full reset on their next pull, so nothing is
//! lost, only re-sent.
//!
//! Recorded mutation errors are not part of the log and survive compaction: a
//! reset sends every stored error of the group, so a client whose cookie fell
//! below the horizon still learns why its mutation was refused. Errors go only
//! once their client has applied them (it says so in a push's
//! `appliedThrough`) or when the group is forgotten.

use crate::server::error::ServerError;
use crate::server::statements::COMPACTED_THROUGH;
use crate::server::storage::{MaintenanceStorage, MaintenanceTx};

/// Deletes change-log entries at or below `through`, clamped to the newest
/// position, and raises the compaction horizon. Returns how many log entries went.
pub async fn compact<S: MaintenanceStorage>(db: &S, through: i64) -> Result<usize, ServerError> {
    let mut tx = db.begin_maintenance().await?;
    let through = through.min(tx.head_seq().await?);
    let deleted = tx.delete_changes_through(through).await?;
    tx.raise_meta_i64(COMPACTED_THROUGH, through).await?;
    S::commit_maintenance(tx).await?;
    Ok(deleted)
}
