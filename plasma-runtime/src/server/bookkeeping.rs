//! Every SQL statement about plasma's bookkeeping tables, in one place.
//!
//! Push, pull, compaction and forgetting all read and write the same few
//! tables (group owners, clients and their last mutation ids, recorded
//! mutation errors, meta integers, tombstones, and the bookkeeping entries of
//! the change log). Keeping the statements here means each is written once,
//! so the layout of a table can change in one file. The tables themselves are
//! created by [`crate::sql::ddl::internal_tables`].
//!
//! Functions run inside the caller's transaction and do one thing each; the
//! callers decide what the results mean (who may do what, what to answer).

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension};

use crate::exec::sqlite::SqliteTx;
use crate::protocol::{ErrorCode, MutationError};
use crate::server::error::ServerError;
use crate::sql::ddl::{CHANGES_TABLE, DATABASE_ID};

pub use crate::server::statements::{COMPACTED_THROUGH, FORGOTTEN_THROUGH};

use crate::server::statements::{self, CLIENT_KIND as CLIENT, GROUP_KIND as GROUP};

// Client groups.

/// The user owning `group`, if it exists. Takes a bare connection because the
/// poke endpoint asks outside any transaction.
pub fn group_owner(conn: &Connection, group: &str) -> Result<Option<String>, ServerError> {
    Ok(conn.prepare_cached(&statements::group_owner())?.query_row([group], |r| r.get(0)).optional()?)
}

/// Creates `group`, owned by `user_id`, first and last seen at `now_ms`.
pub fn create_group(tx: &SqliteTx<'_>, group: &str, user_id: &str, now_ms: i64) -> Result<(), ServerError> {
    tx.connection()
        .prepare_cached(&statements::create_group())?
        .execute(rusqlite::params![group, user_id, now_ms, now_ms])?;
    Ok(())
}

/// Records that `group` pushed at `now_ms` (idle groups are forgotten by it).
pub fn touch_group(tx: &SqliteTx<'_>, group: &str, now_ms: i64) -> Result<(), ServerError> {
    tx.connection().prepare_cached(&statements::touch_group())?.execute(rusqlite::params![now_ms, group])?;
    Ok(())
}

/// The groups that have not pushed since `before_ms`.
pub fn groups_idle_since(tx: &SqliteTx<'_>, before_ms: i64) -> Result<Vec<String>, ServerError> {
    Ok(tx
        .connection()
        .prepare_cached(&statements::groups_idle_since())?
        .query_map([before_ms], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

/// Deletes the row of `group`. Returns whether it existed.
pub fn delete_group_row(tx: &SqliteTx<'_>, group: &str) -> Result<bool, ServerError> {
    let deleted = tx.connection().prepare_cached(&statements::delete_group_row())?.execute([group])?;
    Ok(deleted > 0)
}

// Clients and their last mutation ids.

/// The group and last mutation id (LMID) of `client`, if it exists.
pub fn client(tx: &SqliteTx<'_>, client: &str) -> Result<Option<(String, u64)>, ServerError> {
    let found: Option<(String, i64)> = tx
        .connection()
        .prepare_cached(&statements::client())?
        .query_row([client], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(found.map(|(group, lmid)| (group, lmid_from_sql(lmid))))
}

/// Creates `client` in `group` with LMID 0, last seen at `now_ms`.
pub fn create_client(tx: &SqliteTx<'_>, client: &str, group: &str, now_ms: i64) -> Result<(), ServerError> {
    tx.connection().prepare_cached(&statements::create_client())?.execute(rusqlite::params![client, group, now_ms])?;
    Ok(())
}

/// Sets the LMID of `client` and appends an `lmid` entry to the change log,
/// so the next incremental pull of its group carries the new LMID.
pub fn set_lmid(tx: &SqliteTx<'_>, client: &str, lmid: u64, now_ms: i64) -> Result<(), ServerError> {
    let conn = tx.connection();
    conn.prepare_cached(&statements::set_lmid())?.execute(rusqlite::params![lmid_to_sql(lmid)?, now_ms, client])?;
    conn.prepare_cached(&statements::log_lmid())?.execute([client])?;
    Ok(())
}

/// The LMID of every client of `group`.
pub fn group_lmids(tx: &SqliteTx<'_>, group: &str) -> Result<BTreeMap<String, u64>, ServerError> {
    let mut stmt = tx.connection().prepare_cached(&statements::group_lmids())?;
    let rows = stmt.query_map([group], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (client, lmid) = row?;
        out.insert(client, lmid_from_sql(lmid));
    }
    Ok(out)
}

/// The LMID of `client` if it belongs to `group` (a change-log entry may name
/// a client of another group, which this group must not learn about).
pub fn lmid_in_group(tx: &SqliteTx<'_>, group: &str, client: &str) -> Result<Option<u64>, ServerError> {
    let lmid: Option<i64> = tx
        .connection()
        .prepare_cached(&statements::lmid_in_group())?
        .query_row([client, group], |r| r.get(0))
        .optional()?;
    Ok(lmid.map(lmid_from_sql))
}

/// The clients of `group`.
pub fn group_clients(tx: &SqliteTx<'_>, group: &str) -> Result<Vec<String>, ServerError> {
    Ok(tx
        .connection()
        .prepare_cached(&statements::group_clients())?
        .query_map([group], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

/// Deletes every client of `group`.
pub fn delete_group_clients(tx: &SqliteTx<'_>, group: &str) -> Result<(), ServerError> {
    tx.connection().prepare_cached(&statements::delete_group_clients())?.execute([group])?;
    Ok(())
}

/// LMIDs are `u64` on the wire and `INTEGER` in SQLite; the push checks every
/// id fits, so a negative stored value can only be corruption and reads as 0.
fn lmid_from_sql(lmid: i64) -> u64 {
    u64::try_from(lmid).unwrap_or(0)
}

fn lmid_to_sql(lmid: u64) -> Result<i64, ServerError> {
    i64::try_from(lmid).map_err(|_| ServerError::new(ErrorCode::BadRequest, "mutation id out of range"))
}

// Mutation errors.

/// Records why mutation `id` of `client` failed, at a new change-log position
/// (an `err` entry), so pulls after that position carry it.
pub fn record_error(tx: &SqliteTx<'_>, client: &str, id: u64, message: &str) -> Result<(), ServerError> {
    let conn = tx.connection();
    conn.prepare_cached(&statements::log_error())?.execute([client])?;
    let seq = conn.last_insert_rowid();
    conn.prepare_cached(&statements::record_error())?.execute(rusqlite::params![
        client,
        lmid_to_sql(id)?,
        message,
        seq
    ])?;
    Ok(())
}

/// The errors of `group`'s clients recorded at positions in `(after, through]`,
/// oldest first.
pub fn errors_between(
    tx: &SqliteTx<'_>,
    group: &str,
    after: i64,
    through: i64,
) -> Result<Vec<MutationError>, ServerError> {
    let mut stmt = tx.connection().prepare_cached(&statements::errors_between())?;
    let rows = stmt.query_map(rusqlite::params![group, after, through], |r| {
        Ok(MutationError { client_id: r.get(0)?, mutation_id: lmid_from_sql(r.get(1)?), message: r.get(2)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Drops the errors of `client` through mutation `through`, if `client`
/// belongs to `group`: a client can clear nothing but its own group's errors.
pub fn drop_errors_through(tx: &SqliteTx<'_>, group: &str, client: &str, through: u64) -> Result<(), ServerError> {
    let through = i64::try_from(through).unwrap_or(i64::MAX);
    tx.connection()
        .prepare_cached(&statements::drop_errors_through())?
        .execute(rusqlite::params![client, through, group])?;
    Ok(())
}

/// Drops every error of the clients of `group`.
pub fn drop_group_errors(tx: &SqliteTx<'_>, group: &str) -> Result<(), ServerError> {
    tx.connection().prepare_cached(&statements::drop_group_errors())?.execute([group])?;
    if has_synced_table(tx)? {
        tx.connection().prepare_cached(&statements::synced_forget())?.execute([group])?;
    }
    Ok(())
}

// The change log's head and its bookkeeping entries.

/// The newest change-log position ever handed out (survives compaction,
/// because `AUTOINCREMENT` keeps it in `sqlite_sequence`).
pub fn head_seq(tx: &SqliteTx<'_>) -> Result<i64, ServerError> {
    head_seq_of(tx.connection())
}

/// [`head_seq`] on a connection outside a transaction.
pub fn head_seq_of(conn: &rusqlite::Connection) -> Result<i64, ServerError> {
    Ok(conn
        .prepare_cached(statements::head_seq())?
        .query_row([CHANGES_TABLE], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Appends a `forget` entry for `group` to the change log. Returns its position.
pub fn append_forget_entry(tx: &SqliteTx<'_>, group: &str) -> Result<i64, ServerError> {
    let conn = tx.connection();
    conn.prepare_cached(&statements::log_forget())?.execute([group])?;
    Ok(conn.last_insert_rowid())
}

/// Deletes the change-log entries at or below `through`. Returns how many went.
pub fn delete_changes_through(tx: &SqliteTx<'_>, through: i64) -> Result<usize, ServerError> {
    tx.connection().prepare_cached(&statements::old_rows_compact())?.execute([through])?;
    if has_synced_table(tx)? {
        tx.connection().prepare_cached(&statements::synced_compact())?.execute([through])?;
    }
    Ok(tx.connection().prepare_cached(&statements::delete_changes_through())?.execute([through])?)
}

/// Whether this connection sees the record of rows sent: the SQLite sync
/// server keeps it in a side file its writer does not attach (see
/// `SyncServer`), and sweeps it there itself.
fn has_synced_table(tx: &SqliteTx<'_>) -> Result<bool, ServerError> {
    Ok(tx
        .connection()
        .prepare_cached("SELECT 1 FROM pragma_table_list WHERE \"name\" = ?1")?
        .exists([crate::sql::ddl::SYNCED_TABLE])?)
}

// Meta values.

/// The database's identity, made once by `ensure_schema`.
pub fn database_id(tx: &SqliteTx<'_>) -> Result<String, ServerError> {
    tx.connection()
        .prepare_cached(&statements::meta_value())?
        .query_row([DATABASE_ID], |r| r.get(0))
        .optional()?
        .ok_or_else(|| ServerError::new(ErrorCode::Internal, "the database has no identity: run ensure_schema"))
}

/// An integer kept in the meta table (0 when absent), such as
/// [`COMPACTED_THROUGH`] or [`FORGOTTEN_THROUGH`].
pub fn meta_i64(tx: &SqliteTx<'_>, key: &str) -> Result<i64, ServerError> {
    let value: Option<String> =
        tx.connection().prepare_cached(&statements::meta_value())?.query_row([key], |r| r.get(0)).optional()?;
    match value {
        None => Ok(0),
        Some(v) => v
            .parse()
            .map_err(|_| ServerError::new(ErrorCode::Internal, format!("meta value `{key}` is not an integer: {v:?}"))),
    }
}

/// Raises an integer kept in the meta table to at least `value` (horizons only
/// ever move forward).
pub fn raise_meta_i64(tx: &SqliteTx<'_>, key: &str, value: i64) -> Result<(), ServerError> {
    tx.connection()
        .prepare_cached(&statements::raise_meta_i64())?
        .execute(rusqlite::params![key, value.to_string()])?;
    Ok(())
}

// Tombstones of forgotten groups and clients.

/// Leaves unstamped tombstones (position 0) for a forgotten group and its
/// clients; [`stamp_tombstones`] gives them the forgetting's position.
pub fn bury(tx: &SqliteTx<'_>, group: Option<&str>, clients: &[String]) -> Result<(), ServerError> {
    let mut stmt = tx.connection().prepare_cached(&statements::bury())?;
    if let Some(group) = group {
        stmt.execute([GROUP, group])?;
    }
    for client in clients {
        stmt.execute([CLIENT, client.as_str()])?;
    }
    Ok(())
}

/// Stamps every unstamped tombstone with change-log position `at`.
pub fn stamp_tombstones(tx: &SqliteTx<'_>, at: i64) -> Result<(), ServerError> {
    tx.connection().prepare_cached(&statements::stamp_tombstones())?.execute([at])?;
    Ok(())
}

/// Where `group` was last forgotten (0 if never).
pub fn group_forgotten_at(tx: &SqliteTx<'_>, group: &str) -> Result<i64, ServerError> {
    tombstone(tx, GROUP, group)
}

/// Whether `client` was forgotten: its pushes are refused, so mutations the
/// server applied before forgetting it can never run a second time.
pub fn client_forgotten(tx: &SqliteTx<'_>, client: &str) -> Result<bool, ServerError> {
    Ok(tombstone(tx, CLIENT, client)? > 0)
}

fn tombstone(tx: &SqliteTx<'_>, kind: &str, id: &str) -> Result<i64, ServerError> {
    Ok(tx
        .connection()
        .prepare_cached(&statements::tombstone())?
        .query_row([kind, id], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::sqlite::SqliteExecutor;
    use crate::schema::Schema;

    fn db() -> SqliteExecutor {
        let db = SqliteExecutor::open_in_memory().expect("open");
        db.ensure_schema(&Schema::new(&[])).expect("bookkeeping tables");
        db
    }

    #[test]
    fn groups_and_clients_round_trip() {
        let db = db();
        let tx = db.begin_immediate_sync().expect("begin");
        assert_eq!(group_owner(tx.connection(), "g").expect("owner"), None);
        create_group(&tx, "g", "alice", 10).expect("group");
        assert_eq!(group_owner(tx.connection(), "g").expect("owner").as_deref(), Some("alice"));
        assert_eq!(groups_idle_since(&tx, 11).expect("idle"), ["g"]);
        touch_group(&tx, "g", 20).expect("touch");
        assert!(groups_idle_since(&tx, 11).expect("idle").is_empty());

        create_client(&tx, "c", "g", 10).expect("client");
        assert_eq!(client(&tx, "c").expect("client"), Some(("g".to_owned(), 0)));
        let head = head_seq(&tx).expect("head");
        set_lmid(&tx, "c", 3, 20).expect("lmid");
        // The bump is a change-log entry, so incremental pulls carry it.
        assert_eq!(head_seq(&tx).expect("head"), head + 1);
        assert_eq!(group_lmids(&tx, "g").expect("lmids"), BTreeMap::from([("c".to_owned(), 3)]));
        assert_eq!(lmid_in_group(&tx, "g", "c").expect("lmid"), Some(3));
        assert_eq!(lmid_in_group(&tx, "other", "c").expect("lmid"), None);
        assert_eq!(group_clients(&tx, "g").expect("clients"), ["c"]);

        delete_group_clients(&tx, "g").expect("clients");
        assert!(delete_group_row(&tx, "g").expect("group"));
        assert!(!delete_group_row(&tx, "g").expect("group"));
        assert_eq!(client(&tx, "c").expect("client"), None);
    }

    #[test]
    fn errors_are_read_by_position_and_dropped_only_for_the_group() {
        let db = db();
        let tx = db.begin_immediate_sync().expect("begin");
        create_group(&tx, "g", "alice", 0).expect("group");
        create_client(&tx, "c", "g", 0).expect("client");
        record_error(&tx, "c", 1, "one").expect("error");
        let after_first = head_seq(&tx).expect("head");
        record_error(&tx, "c", 2, "two").expect("error");
        let head = head_seq(&tx).expect("head");
        let messages = |after| -> Vec<String> {
            errors_between(&tx, "g", after, head).expect("errors").into_iter().map(|e| e.message).collect()
        };
        assert_eq!(messages(0), ["one", "two"]);
        assert_eq!(messages(after_first), ["two"]);

        drop_errors_through(&tx, "other", "c", 2).expect("drop");
        assert_eq!(messages(0), ["one", "two"], "another group cannot clear c's errors");
        drop_errors_through(&tx, "g", "c", 1).expect("drop");
        assert_eq!(messages(0), ["two"]);
        drop_group_errors(&tx, "g").expect("drop");
        assert!(messages(0).is_empty());
    }

    #[test]
    fn meta_integers_only_rise() {
        let db = db();
        let tx = db.begin_immediate_sync().expect("begin");
        assert_eq!(meta_i64(&tx, COMPACTED_THROUGH).expect("meta"), 0);
        raise_meta_i64(&tx, COMPACTED_THROUGH, 7).expect("raise");
        raise_meta_i64(&tx, COMPACTED_THROUGH, 3).expect("raise");
        assert_eq!(meta_i64(&tx, COMPACTED_THROUGH).expect("meta"), 7);
        assert!(!database_id(&tx).expect("identity").is_empty());
    }

    #[test]
    fn tombstones_are_stamped_with_the_forgetting() {
        let db = db();
        let tx = db.begin_immediate_sync().expect("begin");
        bury(&tx, Some("g"), &["c".to_owned()]).expect("bury");
        bury(&tx, None, &["d".to_owned()]).expect("bury");
        // Unstamped tombstones (position 0) do not count yet.
        assert!(!client_forgotten(&tx, "c").expect("tombstone"));
        let at = append_forget_entry(&tx, "g").expect("entry");
        stamp_tombstones(&tx, at).expect("stamp");
        assert_eq!(group_forgotten_at(&tx, "g").expect("tombstone"), at);
        assert!(client_forgotten(&tx, "c").expect("tombstone"));
        assert!(client_forgotten(&tx, "d").expect("tombstone"));
        assert_eq!(group_forgotten_at(&tx, "d").expect("tombstone"), 0, "d is a client, not a group");
        assert_eq!(delete_changes_through(&tx, at).expect("compact"), 1);
        assert_eq!(head_seq(&tx).expect("head"), at, "the head survives compaction");
    }
}
