//! Change-log compaction: bounded storage for the log. Clients whose cookie
//! falls below the horizon get a full reset on their next pull, so nothing is
//! lost, only re-sent.
//!
//! Recorded mutation errors are not part of the log and survive compaction: a
//! reset sends every stored error of the group, so a client whose cookie fell
//! below the horizon still learns why its mutation was refused. Errors go only
//! once their client has applied them (it says so in a push's
//! `appliedThrough`) or when the group is forgotten.

use crate::exec::sqlite::SqliteExecutor;
use crate::server::bookkeeping::{COMPACTED_THROUGH, delete_changes_through, head_seq, raise_meta_i64};
use crate::server::error::ServerError;

/// Deletes change-log entries at or below `through`, clamped to the newest
/// position, and raises the compaction horizon. Returns how many log entries went.
pub fn compact(db: &SqliteExecutor, through: i64) -> Result<usize, ServerError> {
    let tx = db.begin_immediate_sync()?;
    let through = through.min(head_seq(&tx)?);
    let deleted = delete_changes_through(&tx, through)?;
    raise_meta_i64(&tx, COMPACTED_THROUGH, through)?;
    tx.commit_sync()?;
    Ok(deleted)
}
