//! DDL for user tables, their change-log triggers, and plasma's bookkeeping
//! tables. Pure text, shared by every SQL backend (SQLite now, D1 later).

use crate::schema::{ColumnDef, RESERVED_PREFIX, TableDef};
use crate::sql::render::{ident, literal};

/// The append-only change log the triggers write: one row per changed row.
/// `seq` is the pull cookie; `AUTOINCREMENT` keeps it from ever going back
/// after compaction deletes the newest entries.
pub const CHANGES_TABLE: &str = "_plasma_changes";
/// Client groups, each owned by one user.
pub const CLIENT_GROUPS_TABLE: &str = "_plasma_client_groups";
/// Clients and their last processed mutation id (LMID).
pub const CLIENTS_TABLE: &str = "_plasma_clients";
/// Error messages of mutations the server processed with an error, with the
/// change-log position at which they were recorded.
pub const MUTATION_ERRORS_TABLE: &str = "_plasma_mutation_errors";
/// Key/value metadata (internal schema version, compaction horizon).
pub const META_TABLE: &str = "_plasma_meta";
/// Tombstones of forgotten client groups and clients, with the change-log
/// position of the forgetting: an old cookie of a group created again must
/// still reset, and a forgotten client's late push must not run again.
pub const FORGOTTEN_TABLE: &str = "_plasma_forgotten";
/// Meta key of the database's random identity, which every pull cookie
/// carries, so a cookie of a replaced database is never taken for current.
pub const DATABASE_ID: &str = "database_id";
/// What each client group was sent of the tables read rules filter, under
/// which rules (scope fingerprint): a delete goes only to a group that may
/// hold the row, so it never leaks an id (see `server::pull`). Keyed by the
/// fingerprint too, so a pull under another user's rules (a group that
/// never pushed has no owner yet) never touches the owner's record.
pub const SYNCED_TABLE: &str = "_plasma_synced";
/// The row before each update or delete (JSON), by change-log position:
/// a pull learns from it whose access a change to a table that read rules
/// read (memberships) took away.
pub const OLD_ROWS_TABLE: &str = "_plasma_old_rows";
/// The column catalogue `ensure_schema` compares new schemas against.
pub const COLUMNS_TABLE: &str = "_plasma_columns";

/// Version of plasma's own bookkeeping layout, stored in the meta table.
pub const INTERNAL_SCHEMA_VERSION: i64 = 2;

/// Statements creating plasma's bookkeeping tables (idempotent).
pub fn internal_tables() -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS \"{META_TABLE}\" (\
             \"key\" TEXT NOT NULL PRIMARY KEY, \"value\" TEXT NOT NULL) STRICT"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS \"{COLUMNS_TABLE}\" (\
             \"tbl\" TEXT NOT NULL, \"col\" TEXT NOT NULL, \"position\" INTEGER NOT NULL, \
             \"kind\" TEXT NOT NULL, \"nullable\" INTEGER NOT NULL, \"pk\" INTEGER NOT NULL, \"indexed\" INTEGER NOT NULL, \
             PRIMARY KEY (\"tbl\", \"col\")) STRICT"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS \"{CLIENT_GROUPS_TABLE}\" (\
             \"id\" TEXT NOT NULL PRIMARY KEY, \"user_id\" TEXT NOT NULL, \
             \"created_at\" INTEGER NOT NULL, \"last_seen\" INTEGER NOT NULL) STRICT"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS \"{CLIENTS_TABLE}\" (\
             \"id\" TEXT NOT NULL PRIMARY KEY, \"client_group_id\" TEXT NOT NULL, \
             \"last_mutation_id\" INTEGER NOT NULL DEFAULT 0, \
             \"last_seen\" INTEGER NOT NULL) STRICT"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS \"{RESERVED_PREFIX}_idx_clients_group\" \
             ON \"{CLIENTS_TABLE}\" (\"client_group_id\")"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS \"{MUTATION_ERRORS_TABLE}\" (\
             \"client_id\" TEXT NOT NULL, \"mutation_id\" INTEGER NOT NULL, \"message\" TEXT NOT NULL, \
             \"seq\" INTEGER NOT NULL, PRIMARY KEY (\"client_id\", \"mutation_id\")) STRICT"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS \"{CHANGES_TABLE}\" (\
             \"seq\" INTEGER PRIMARY KEY AUTOINCREMENT, \"tbl\" TEXT NOT NULL, \
             \"pk\" TEXT NOT NULL, \"op\" TEXT NOT NULL)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS \"{FORGOTTEN_TABLE}\" (\
             \"kind\" TEXT NOT NULL, \"id\" TEXT NOT NULL, \"at\" INTEGER NOT NULL, \
             PRIMARY KEY (\"kind\", \"id\")) STRICT"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS \"{OLD_ROWS_TABLE}\" (\
             \"seq\" INTEGER NOT NULL PRIMARY KEY, \"old\" TEXT NOT NULL) STRICT"
        ),
        format!(
            "INSERT OR IGNORE INTO \"{META_TABLE}\" (\"key\", \"value\") \
             VALUES ('{DATABASE_ID}', lower(hex(randomblob(16))))"
        ),
    ]
}

/// Statements creating the record of rows sent ([`SYNCED_TABLE`]) in
/// database `schema` (`main`, or the side file a SQLite server attaches as
/// [`SYNCED_SCHEMA`] so pulls write it without waiting for pushes).
pub fn synced_tables(schema: &str) -> Vec<String> {
    let schema = ident(schema);
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {schema}.\"{SYNCED_TABLE}\" (\
             \"grp\" TEXT NOT NULL, \"scope\" TEXT NOT NULL, \"tbl\" TEXT NOT NULL, \"pk\" TEXT NOT NULL, \
             \"sent_at\" INTEGER NOT NULL, \"gone_at\" INTEGER, \
             PRIMARY KEY (\"grp\", \"scope\", \"tbl\", \"pk\")) STRICT, WITHOUT ROWID"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {schema}.\"{RESERVED_PREFIX}_idx_synced_gone\" \
             ON \"{SYNCED_TABLE}\" (\"gone_at\") WHERE \"gone_at\" IS NOT NULL"
        ),
    ]
}

/// The name a SQLite server attaches its record of rows sent under.
pub const SYNCED_SCHEMA: &str = "plasma_synced";

/// The column definition inside `CREATE TABLE` / `ADD COLUMN`.
pub fn column_sql(table: &TableDef, column: &ColumnDef) -> String {
    let mut sql = format!("{} {}", ident(column.name), column.kind.sql_type());
    if std::ptr::eq(column, table.pk()) {
        sql.push_str(" NOT NULL PRIMARY KEY");
    } else if !column.nullable {
        sql.push_str(" NOT NULL");
    }
    if let Some(default) = &column.default {
        sql.push_str(" DEFAULT ");
        sql.push_str(&literal(default));
    }
    sql
}

/// `CREATE TABLE` for a user table (STRICT, so SQLite enforces column types).
pub fn create_table(table: &TableDef) -> String {
    create_table_named(table, table.name)
}

/// `CREATE TABLE` with the columns of `table` under another name (a client
/// store stages a reset in such a table, then renames it into place).
pub fn create_table_named(table: &TableDef, name: &str) -> String {
    let columns: Vec<String> = table.columns.iter().map(|c| column_sql(table, c)).collect();
    format!("CREATE TABLE IF NOT EXISTS {} ({}) STRICT", ident(name), columns.join(", "))
}

/// `CREATE INDEX` for every `#[plasma(index)]` column.
pub fn create_indexes(table: &TableDef) -> Vec<String> {
    table
        .columns
        .iter()
        .filter(|c| c.indexed)
        .map(|c| {
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
                ident(&table.index_name(c)),
                ident(table.name),
                ident(c.name)
            )
        })
        .collect()
}

fn text_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The three triggers recording every insert, update and delete of `table`
/// into the change log. Only the key is logged: a pull reads the current row,
/// which coalesces many edits of one row into its latest state for free.
/// Updates and deletes also keep the row as it was ([`OLD_ROWS_TABLE`],
/// under the entry's position), for read rules that read this table.
///
/// The statements drop the first layout's triggers (which kept no old rows)
/// and create the current ones if missing; [`drop_triggers`] goes first
/// when the table's columns changed, so the old row spells every column.
pub fn create_triggers(table: &TableDef) -> Vec<String> {
    let t = ident(table.name);
    let name = text_literal(table.name);
    let pk = ident(table.pk().name);
    let log = ident(CHANGES_TABLE);
    let old_rows = ident(OLD_ROWS_TABLE);
    let old = old_row_json(table);
    let keep_old = format!("INSERT INTO {old_rows} (\"seq\", \"old\") VALUES (last_insert_rowid(), {old});");
    let mut out: Vec<String> = ["insert", "update", "delete"]
        .iter()
        .map(|op| format!("DROP TRIGGER IF EXISTS {}", ident(&format!("{RESERVED_PREFIX}_trg_{}_{op}", table.name))))
        .collect();
    out.extend([
        format!(
            "CREATE TRIGGER IF NOT EXISTS {} AFTER INSERT ON {t} BEGIN \
             INSERT INTO {log} (\"tbl\", \"pk\", \"op\") VALUES ({name}, NEW.{pk}, 'put'); END",
            trigger_name(table, "insert")
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS {} AFTER UPDATE ON {t} BEGIN \
             INSERT INTO {log} (\"tbl\", \"pk\", \"op\") SELECT {name}, OLD.{pk}, 'del' WHERE OLD.{pk} IS NOT NEW.{pk}; \
             INSERT INTO {log} (\"tbl\", \"pk\", \"op\") VALUES ({name}, NEW.{pk}, 'put'); {keep_old} END",
            trigger_name(table, "update")
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS {} AFTER DELETE ON {t} BEGIN \
             INSERT INTO {log} (\"tbl\", \"pk\", \"op\") VALUES ({name}, OLD.{pk}, 'del'); {keep_old} END",
            trigger_name(table, "delete")
        ),
    ]);
    out
}

/// Drops the current triggers of `table` (before [`create_triggers`]
/// recreates them with a changed column list).
pub fn drop_triggers(table: &TableDef) -> Vec<String> {
    ["insert", "update", "delete"]
        .iter()
        .map(|op| format!("DROP TRIGGER IF EXISTS {}", trigger_name(table, op)))
        .collect()
}

fn trigger_name(table: &TableDef, op: &str) -> String {
    ident(&format!("{RESERVED_PREFIX}_trg2_{}_{op}", table.name))
}

/// `json_object('col', OLD."col", ..)` over every column, blobs as hex
/// (JSON holds no blobs), in pieces of at most 60 columns merged with
/// `json_patch` (SQLite functions take at most 127 arguments).
fn old_row_json(table: &TableDef) -> String {
    let pieces: Vec<String> = table
        .columns
        .chunks(60)
        .map(|columns| {
            let args: Vec<String> = columns
                .iter()
                .map(|c| {
                    let value = if c.kind == crate::schema::ColumnKind::Blob {
                        format!("hex(OLD.{})", ident(c.name))
                    } else {
                        format!("OLD.{}", ident(c.name))
                    };
                    format!("{}, {value}", text_literal(c.name))
                })
                .collect();
            format!("json_object({})", args.join(", "))
        })
        .collect();
    pieces.into_iter().reduce(|a, b| format!("json_patch({a}, {b})")).unwrap_or_else(|| "'{}'".to_owned())
}

/// Every statement that creates `table` from nothing: table, indexes, triggers.
pub fn create_table_all(table: &TableDef) -> Vec<String> {
    let mut out = vec![create_table(table)];
    out.extend(create_indexes(table));
    out.extend(create_triggers(table));
    out
}
