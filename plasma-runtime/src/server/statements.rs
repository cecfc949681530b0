//! The SQL text of the bookkeeping statements a push runs, shared by every
//! SQL backend: the SQLite connection ([`bookkeeping`](crate::server::bookkeeping))
//! and the batch backends ([`batched`](crate::server::storage::batched)), so a
//! statement is written once. Placeholders are `?`, bound in the order each
//! function's doc gives.

use crate::sql::ddl::{CHANGES_TABLE, CLIENT_GROUPS_TABLE, CLIENTS_TABLE, FORGOTTEN_TABLE, MUTATION_ERRORS_TABLE};

/// Tombstone kind of a forgotten client group.
pub const GROUP_KIND: &str = "group";
/// Tombstone kind of a forgotten client.
pub const CLIENT_KIND: &str = "client";

/// `(group)` → the owner's user id.
pub fn group_owner() -> String {
    format!("SELECT \"user_id\" FROM \"{CLIENT_GROUPS_TABLE}\" WHERE \"id\" = ?")
}

/// `(group, user, now, now)`: creates a group.
pub fn create_group() -> String {
    format!(
        "INSERT INTO \"{CLIENT_GROUPS_TABLE}\" (\"id\", \"user_id\", \"created_at\", \"last_seen\") VALUES (?, ?, ?, ?)"
    )
}

/// `(now, group)`: the group pushed now.
pub fn touch_group() -> String {
    format!("UPDATE \"{CLIENT_GROUPS_TABLE}\" SET \"last_seen\" = ? WHERE \"id\" = ?")
}

/// `(client)` → its group and last mutation id.
pub fn client() -> String {
    format!("SELECT \"client_group_id\", \"last_mutation_id\" FROM \"{CLIENTS_TABLE}\" WHERE \"id\" = ?")
}

/// `(client, group, now)`: creates a client with LMID 0.
pub fn create_client() -> String {
    format!(
        "INSERT INTO \"{CLIENTS_TABLE}\" (\"id\", \"client_group_id\", \"last_mutation_id\", \"last_seen\") VALUES (?, ?, 0, ?)"
    )
}

/// `(lmid, now, client)`: sets a client's LMID.
pub fn set_lmid() -> String {
    format!("UPDATE \"{CLIENTS_TABLE}\" SET \"last_mutation_id\" = ?, \"last_seen\" = ? WHERE \"id\" = ?")
}

/// `(client)`: logs an LMID change, so the next pull of its group carries it.
pub fn log_lmid() -> String {
    format!("INSERT INTO \"{CHANGES_TABLE}\" (\"tbl\", \"pk\", \"op\") VALUES ('{CLIENTS_TABLE}', ?, 'lmid')")
}

/// `(client)`: logs a mutation error at a new position.
pub fn log_error() -> String {
    format!("INSERT INTO \"{CHANGES_TABLE}\" (\"tbl\", \"pk\", \"op\") VALUES ('{MUTATION_ERRORS_TABLE}', ?, 'err')")
}

/// `(client, mutation id, message, position)`: records a mutation error.
pub fn record_error() -> String {
    format!(
        "INSERT OR REPLACE INTO \"{MUTATION_ERRORS_TABLE}\" (\"client_id\", \"mutation_id\", \"message\", \"seq\") VALUES (?, ?, ?, ?)"
    )
}

/// [`record_error`] at the position [`log_error`] just took, for a batch
/// (no round trip to learn it): `(client, mutation id, message)`.
pub fn record_error_at_last_log() -> String {
    format!(
        "INSERT OR REPLACE INTO \"{MUTATION_ERRORS_TABLE}\" (\"client_id\", \"mutation_id\", \"message\", \"seq\") \
         VALUES (?, ?, ?, last_insert_rowid())"
    )
}

/// `(client, through, group)`: drops a client's errors through a mutation,
/// if the client belongs to the group.
pub fn drop_errors_through() -> String {
    format!(
        "DELETE FROM \"{MUTATION_ERRORS_TABLE}\" WHERE \"client_id\" = ?1 AND \"mutation_id\" <= ?2 \
         AND EXISTS (SELECT 1 FROM \"{CLIENTS_TABLE}\" WHERE \"id\" = ?1 AND \"client_group_id\" = ?3)"
    )
}

/// `(kind, id)` → where it was forgotten.
pub fn tombstone() -> String {
    format!("SELECT \"at\" FROM \"{FORGOTTEN_TABLE}\" WHERE \"kind\" = ? AND \"id\" = ?")
}
