//! The SQL text of the bookkeeping statements a push or pull runs, shared by every
//! SQL backend: the SQLite connection ([`bookkeeping`](crate::server::bookkeeping))
//! and the batch backends ([`batched`](crate::server::storage::batched)), so a
//! statement is written once. Placeholders are `?`, bound in the order each
//! function's doc gives.

use crate::query::tree::Expr;
use crate::schema::TableDef;
use crate::sql::ddl::{
    CHANGES_TABLE, CLIENT_GROUPS_TABLE, CLIENTS_TABLE, FORGOTTEN_TABLE, META_TABLE, MUTATION_ERRORS_TABLE,
    OLD_ROWS_TABLE, SYNCED_TABLE,
};
use crate::sql::render::ident;
use crate::value::Value;

/// Meta key of the compaction horizon: cookies below it get a reset.
pub const COMPACTED_THROUGH: &str = "compacted_through";

/// Meta key of the change-log position of the last forgotten client group:
/// a group the server does not know with a cookie below it may have been
/// forgotten since, so it gets a reset.
pub const FORGOTTEN_THROUGH: &str = "groups_forgotten_through";

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

/// `(group)` → `(client, lmid)` of every client of the group.
pub fn group_lmids() -> String {
    format!("SELECT \"id\", \"last_mutation_id\" FROM \"{CLIENTS_TABLE}\" WHERE \"client_group_id\" = ?")
}

/// `(client, group)` → the client's LMID if it belongs to the group.
pub fn lmid_in_group() -> String {
    format!("SELECT \"last_mutation_id\" FROM \"{CLIENTS_TABLE}\" WHERE \"id\" = ? AND \"client_group_id\" = ?")
}

/// `(group, client × n)` → `(client, last mutation id)` of those of the `n`
/// clients that belong to `group`.
pub fn lmids_in_group(n: usize) -> String {
    let marks = vec!["?"; n].join(", ");
    format!(
        "SELECT \"id\", \"last_mutation_id\" FROM \"{CLIENTS_TABLE}\" WHERE \"client_group_id\" = ? AND \"id\" IN ({marks})"
    )
}

/// `(group, after, through)` → `(client, mutation id, message)` of the
/// group's errors recorded in `(after, through]`, oldest first.
pub fn errors_between() -> String {
    format!(
        "SELECT e.\"client_id\", e.\"mutation_id\", e.\"message\" FROM \"{MUTATION_ERRORS_TABLE}\" e \
         JOIN \"{CLIENTS_TABLE}\" c ON c.\"id\" = e.\"client_id\" \
         WHERE c.\"client_group_id\" = ? AND e.\"seq\" > ? AND e.\"seq\" <= ? ORDER BY e.\"seq\""
    )
}

/// `(changes table name)` → the newest change-log position ever handed out.
pub fn head_seq() -> &'static str {
    "SELECT seq FROM sqlite_sequence WHERE name = ?"
}

/// `(key)` → a meta value.
pub fn meta_value() -> String {
    format!("SELECT \"value\" FROM \"{META_TABLE}\" WHERE \"key\" = ?")
}

/// `(since, fetch)` → up to `fetch` `(table, id, latest position)` changed
/// after `since`, errors excepted, in order of their latest position.
pub fn changed_keys() -> String {
    format!(
        "SELECT \"tbl\", \"pk\", MAX(\"seq\") AS s FROM \"{CHANGES_TABLE}\" \
         WHERE \"seq\" > ? AND \"tbl\" <> '{MUTATION_ERRORS_TABLE}' GROUP BY \"tbl\", \"pk\" ORDER BY s LIMIT ?"
    )
}

/// `(filter's values.., after id or NULL, limit)` → rows of `table`
/// matching `filter` after an id, in id order, every column in declaration
/// order (`limit` -1: all). Returns the SQL and the filter's values, which
/// come first.
pub fn rows_after(table: &TableDef, filter: Option<&Expr>) -> (String, Vec<Value>) {
    let columns: Vec<String> = table.columns.iter().map(|c| ident(c.name)).collect();
    let pk = ident(table.pk().name);
    let (scope, params) = scope_clause(table, filter);
    let (after, limit) = (params.len() + 1, params.len() + 2);
    let sql = format!(
        "SELECT {} FROM {} WHERE {scope}(?{after} IS NULL OR {pk} > ?{after}) ORDER BY {pk} LIMIT ?{limit}",
        columns.join(", "),
        ident(table.name)
    );
    (sql, params)
}

/// `(filter) AND ` with the filter's values, or nothing: filter values are
/// anonymous `?`s, so they must come before any numbered parameter.
fn scope_clause(table: &TableDef, filter: Option<&Expr>) -> (String, Vec<Value>) {
    match filter {
        Some(expr) => {
            let rendered = crate::sql::render::filter(table, expr);
            (format!("({}) AND ", rendered.sql), rendered.params)
        }
        None => (String::new(), Vec::new()),
    }
}

/// `(filter's values.., after id or NULL, most rows, byte budget)` → rows
/// of `table` matching `filter` after the id in id order, cut once the rows
/// before one already hold the budget (the first row always comes): a read
/// whose result stays within a database's result-size limit however wide
/// the rows are. Returns the SQL and the filter's values, which come first.
pub fn rows_after_bounded(table: &TableDef, filter: Option<&Expr>) -> (String, Vec<Value>) {
    let columns: Vec<String> = table.columns.iter().map(|c| ident(c.name)).collect();
    let columns = columns.join(", ");
    let size: Vec<String> =
        table.columns.iter().map(|c| format!("COALESCE(length(CAST({} AS BLOB)), 0)", ident(c.name))).collect();
    let size = size.join(" + ");
    let pk = ident(table.pk().name);
    let (scope, params) = scope_clause(table, filter);
    let (after, most, budget) = (params.len() + 1, params.len() + 2, params.len() + 3);
    let sql = format!(
        "SELECT {columns} FROM (SELECT {columns}, SUM({size}) OVER (ORDER BY {pk} ROWS UNBOUNDED PRECEDING) - ({size}) \
         AS \"_plasma_before\" FROM (SELECT {columns} FROM {} WHERE {scope}(?{after} IS NULL OR {pk} > ?{after}) \
         ORDER BY {pk} LIMIT ?{most})) WHERE \"_plasma_before\" < ?{budget} ORDER BY {pk}",
        ident(table.name)
    );
    (sql, params)
}

/// `(id)` → fails the batch (constraint `plasma_assumed_new`) if `table`
/// holds a row with this id: checks that a row a blind insert assumed new,
/// and a later write deleted, really was new.
pub fn assert_absent(table: &TableDef) -> String {
    use crate::server::storage::batch::ASSUMED_NEW_TABLE;
    format!(
        "INSERT INTO \"{ASSUMED_NEW_TABLE}\" (\"ok\") SELECT 0 WHERE EXISTS (SELECT 1 FROM {} WHERE {} = ?)",
        ident(table.name),
        ident(table.pk().name)
    )
}

/// `(before)` → groups that have not pushed since.
pub fn groups_idle_since() -> String {
    format!("SELECT \"id\" FROM \"{CLIENT_GROUPS_TABLE}\" WHERE \"last_seen\" < ?")
}

/// `(group)`: deletes a group's row.
pub fn delete_group_row() -> String {
    format!("DELETE FROM \"{CLIENT_GROUPS_TABLE}\" WHERE \"id\" = ?")
}

/// `(group)` → its clients.
pub fn group_clients() -> String {
    format!("SELECT \"id\" FROM \"{CLIENTS_TABLE}\" WHERE \"client_group_id\" = ?")
}

/// `(group)`: deletes its clients.
pub fn delete_group_clients() -> String {
    format!("DELETE FROM \"{CLIENTS_TABLE}\" WHERE \"client_group_id\" = ?")
}

/// `(group)`: drops every error of its clients.
pub fn drop_group_errors() -> String {
    format!(
        "DELETE FROM \"{MUTATION_ERRORS_TABLE}\" WHERE \"client_id\" IN \
         (SELECT \"id\" FROM \"{CLIENTS_TABLE}\" WHERE \"client_group_id\" = ?)"
    )
}

/// `(group)`: logs that a group was forgotten.
pub fn log_forget() -> String {
    format!("INSERT INTO \"{CHANGES_TABLE}\" (\"tbl\", \"pk\", \"op\") VALUES ('{CLIENT_GROUPS_TABLE}', ?, 'forget')")
}

/// `(through)`: deletes change-log entries at or below a position.
pub fn delete_changes_through() -> String {
    format!("DELETE FROM \"{CHANGES_TABLE}\" WHERE \"seq\" <= ?")
}

/// `(through)` → how many change-log entries are at or below a position.
pub fn count_changes_through() -> String {
    format!("SELECT count(*) FROM \"{CHANGES_TABLE}\" WHERE \"seq\" <= ?")
}

/// `(key, value)`: raises a meta integer to at least a value.
pub fn raise_meta_i64() -> String {
    format!(
        "INSERT INTO \"{META_TABLE}\" (\"key\", \"value\") VALUES (?1, ?2) \
         ON CONFLICT (\"key\") DO UPDATE SET \"value\" = CAST(max(CAST(\"value\" AS INTEGER), CAST(?2 AS INTEGER)) AS TEXT)"
    )
}

/// `(kind, id)`: an unstamped tombstone.
pub fn bury() -> String {
    format!("INSERT OR REPLACE INTO \"{FORGOTTEN_TABLE}\" (\"kind\", \"id\", \"at\") VALUES (?, ?, 0)")
}

/// `(at)`: stamps every unstamped tombstone.
pub fn stamp_tombstones() -> String {
    format!("UPDATE \"{FORGOTTEN_TABLE}\" SET \"at\" = ? WHERE \"at\" = 0")
}

/// `(group, scope, table, since, ids..)` → the ids of `table` the group may hold at
/// change-log position `since`: sent to it, and not deleted from it at or
/// before `since`. A delete goes only to a group that may hold the row.
pub fn synced_held() -> String {
    format!(
        "SELECT \"pk\" FROM \"{SYNCED_TABLE}\" WHERE \"grp\" = ? AND \"scope\" = ? AND \"tbl\" = ? \
         AND (\"gone_at\" IS NULL OR \"gone_at\" > ?) AND \"pk\" IN {IDS}"
    )
}

/// `(group, scope, table, since, ids..)` → the ids of `table` the group surely
/// holds at `since`: sent in a response at or before it, never deleted since.
pub fn synced_sent_by() -> String {
    format!(
        "SELECT \"pk\" FROM \"{SYNCED_TABLE}\" WHERE \"grp\" = ? AND \"scope\" = ? AND \"tbl\" = ? \
         AND \"gone_at\" IS NULL AND \"sent_at\" <= ? AND \"pk\" IN {IDS}"
    )
}

/// `(group, scope)` → forgets what the group holds under these rules (its
/// reset clears it).
pub fn synced_clear() -> String {
    format!("DELETE FROM \"{SYNCED_TABLE}\" WHERE \"grp\" = ? AND \"scope\" = ?")
}

/// `(group, through)` → forgets the records of a group forgotten at
/// change-log position `through` (what it was sent later, after its reset, stays).
pub fn synced_forget_through() -> String {
    format!(
        "DELETE FROM \"{SYNCED_TABLE}\" WHERE \"grp\" = ?1 AND \"sent_at\" <= ?2 \
         AND (\"gone_at\" IS NULL OR \"gone_at\" <= ?2)"
    )
}

/// `(group)` → forgets every record of a forgotten group.
pub fn synced_forget() -> String {
    format!("DELETE FROM \"{SYNCED_TABLE}\" WHERE \"grp\" = ?")
}

/// `(group, scope, table, at, ids as a JSON array)` → records rows sent at `at`.
pub fn synced_put() -> String {
    format!(
        "INSERT INTO \"{SYNCED_TABLE}\" (\"grp\", \"scope\", \"tbl\", \"pk\", \"sent_at\", \"gone_at\") \
         SELECT ?1, ?2, ?3, \"value\", ?4, NULL FROM json_each(?5) WHERE 1 \
         ON CONFLICT (\"grp\", \"scope\", \"tbl\", \"pk\") DO UPDATE SET \"sent_at\" = excluded.\"sent_at\", \"gone_at\" = NULL"
    )
}

/// `(at, group, scope, table, ids as a JSON array)` → records rows deleted
/// from the group at `at`.
pub fn synced_gone() -> String {
    format!(
        "UPDATE \"{SYNCED_TABLE}\" SET \"gone_at\" = ?1 WHERE \"grp\" = ?2 AND \"scope\" = ?3 AND \"tbl\" = ?4 \
         AND \"pk\" IN (SELECT \"value\" FROM json_each(?5))"
    )
}

/// `(through)` → drops records of rows deleted from their group at or
/// below the compaction horizon: a cookie that old resets, so no pull can
/// need to send that delete again.
pub fn synced_compact() -> String {
    format!("DELETE FROM \"{SYNCED_TABLE}\" WHERE \"gone_at\" IS NOT NULL AND \"gone_at\" <= ?")
}

/// `(through)` → drops the old row images of compacted change-log entries.
pub fn old_rows_compact() -> String {
    format!("DELETE FROM \"{OLD_ROWS_TABLE}\" WHERE \"seq\" <= ?")
}

/// `(table, since, ids as a JSON array)` → `(pk, old row JSON)` of every
/// update or delete of these rows after `since`: what the rows were before
/// each change.
pub fn old_rows() -> String {
    format!(
        "SELECT c.\"pk\", o.\"old\" FROM \"{CHANGES_TABLE}\" c JOIN \"{OLD_ROWS_TABLE}\" o ON o.\"seq\" = c.\"seq\" \
         WHERE c.\"tbl\" = ? AND c.\"seq\" > ? AND c.\"pk\" IN {IDS} ORDER BY c.\"seq\""
    )
}

/// `IN` this list of ids, bound as one JSON array: one value whatever the
/// count (D1 binds at most 100 per statement).
const IDS: &str = "(SELECT \"value\" FROM json_each(?))";

/// `(filter's values.., ids as a JSON array)` → the rows of `table` among
/// the ids that match `filter`, every column in declaration order.
pub fn rows_with_ids(table: &TableDef, filter: Option<&Expr>) -> (String, Vec<Value>) {
    let columns: Vec<String> = table.columns.iter().map(|c| ident(c.name)).collect();
    let (scope, params) = scope_clause(table, filter);
    let sql = format!("SELECT {} FROM {} WHERE {scope}{} IN {IDS}", columns.join(", "), ident(table.name), ident(table.pk().name));
    (sql, params)
}

/// `(after)` → every `(table, pk)` logged after a position (a commit's own
/// entries, when read right after it under the writer's lock).
pub fn keys_after() -> String {
    format!("SELECT DISTINCT \"tbl\", \"pk\" FROM \"{CHANGES_TABLE}\" WHERE \"seq\" > ?")
}
