//! Pull: everything a client group has not seen, coalesced to the latest state
//! per row, paged so one response holds at most `page_rows` rows.
//!
//! The LMIDs, mutation errors and rows are read in one transaction, so a client
//! never sees a mutation confirmed without its effect (or the reverse).

use std::collections::BTreeMap;

use rusqlite::OptionalExtension;

use crate::exec::sqlite::{SqliteExecutor, SqliteTx, value_from_ref};
use crate::protocol::{Cookie, ErrorCode, MutationError, PatchOp, PullResponse, RowKey};
use crate::query::tree::{CmpOp, Expr, SelectQuery};
use crate::schema::{Schema, TableDef};
use crate::server::error::ServerError;
use crate::sql::ddl::{CHANGES_TABLE, CLIENT_GROUPS_TABLE, CLIENTS_TABLE, META_TABLE, MUTATION_ERRORS_TABLE};
use crate::sql::render::ident;
use crate::table::Row;
use crate::value::Value;
use crate::wire::row_to_json_text;

/// Meta key of the compaction horizon: cookies below it get a reset.
pub const COMPACTED_THROUGH: &str = "compacted_through";

/// Answers a pull of `group` for `user_id`.
pub fn process(
    db: &SqliteExecutor,
    schema: &Schema,
    user_id: &str,
    group: &str,
    cookie: Option<Cookie>,
    page_rows: usize,
) -> Result<PullResponse, ServerError> {
    let tx = db.begin_sync()?;
    let known = check_group(&tx, group, user_id)?;
    let head = head_seq(&tx)?;
    let horizon = compacted_through(&tx)?;
    // A group the server does not know (never pushed, or forgotten) starts over.
    let cookie = cookie.filter(|_| known);
    let response = match cookie {
        Some(Cookie { order, reset_after: Some(after) }) if order <= head && order >= horizon => {
            reset_page(&tx, schema, group, order, Some(after), page_rows)?
        }
        Some(Cookie { order, reset_after: None }) if order <= head && order >= horizon => {
            incremental(&tx, schema, group, order, head, page_rows)?
        }
        // No cookie, a cookie from the future (another database) or one older than
        // the compacted log: start over with everything.
        _ => reset_page(&tx, schema, group, head, None, page_rows)?,
    };
    drop(tx); // read-only: nothing to commit
    Ok(response)
}

/// Whether the group exists; refuses a group of another user.
fn check_group(tx: &SqliteTx<'_>, group: &str, user_id: &str) -> Result<bool, ServerError> {
    let owner: Option<String> = tx
        .connection()
        .prepare_cached(&format!("SELECT \"user_id\" FROM \"{CLIENT_GROUPS_TABLE}\" WHERE \"id\" = ?"))?
        .query_row([group], |r| r.get(0))
        .optional()?;
    match owner {
        Some(owner) if owner != user_id => {
            Err(ServerError::new(ErrorCode::Forbidden, format!("client group `{group}` belongs to another user")))
        }
        Some(_) => Ok(true),
        None => Ok(false),
    }
}

/// The newest change-log position ever handed out (survives compaction).
pub fn head_seq(tx: &SqliteTx<'_>) -> Result<i64, ServerError> {
    Ok(tx
        .connection()
        .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = ?")?
        .query_row([CHANGES_TABLE], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

fn compacted_through(tx: &SqliteTx<'_>) -> Result<i64, ServerError> {
    let value: Option<String> = tx
        .connection()
        .prepare_cached(&format!("SELECT \"value\" FROM \"{META_TABLE}\" WHERE \"key\" = ?"))?
        .query_row([COMPACTED_THROUGH], |r| r.get(0))
        .optional()?;
    Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
}

fn all_lmids(tx: &SqliteTx<'_>, group: &str) -> Result<BTreeMap<String, u64>, ServerError> {
    let mut stmt = tx.connection().prepare_cached(&format!(
        "SELECT \"id\", \"last_mutation_id\" FROM \"{CLIENTS_TABLE}\" WHERE \"client_group_id\" = ?"
    ))?;
    let rows = stmt.query_map([group], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (client, lmid) = row?;
        out.insert(client, u64::try_from(lmid).unwrap_or(0));
    }
    Ok(out)
}

fn errors_between(tx: &SqliteTx<'_>, group: &str, after: i64, through: i64) -> Result<Vec<MutationError>, ServerError> {
    let mut stmt = tx.connection().prepare_cached(&format!(
        "SELECT e.\"client_id\", e.\"mutation_id\", e.\"message\" FROM \"{MUTATION_ERRORS_TABLE}\" e \
         JOIN \"{CLIENTS_TABLE}\" c ON c.\"id\" = e.\"client_id\" \
         WHERE c.\"client_group_id\" = ? AND e.\"seq\" > ? AND e.\"seq\" <= ? ORDER BY e.\"seq\""
    ))?;
    let rows = stmt.query_map(rusqlite::params![group, after, through], |r| {
        Ok(MutationError {
            client_id: r.get(0)?,
            mutation_id: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            message: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One page of a reset: `Clear` first, then every row in (table, id) order.
fn reset_page(
    tx: &SqliteTx<'_>,
    schema: &Schema,
    group: &str,
    snapshot: i64,
    after: Option<RowKey>,
    page_rows: usize,
) -> Result<PullResponse, ServerError> {
    let mut patch = Vec::new();
    if after.is_none() {
        patch.push(PatchOp::Clear);
    }
    let start_table = after.as_ref().and_then(|k| schema.tables.iter().position(|t| t.name == k.table)).unwrap_or(0);
    let mut last: Option<RowKey> = None;
    let mut more = false;
    let mut sent = 0;
    'tables: for table in &schema.tables[start_table..] {
        let after_id = after.as_ref().filter(|k| k.table == table.name).map(|k| k.id.as_str());
        // One row more than fits tells whether another page follows.
        for row in rows_after(tx, table, after_id, page_rows - sent + 1)? {
            if sent == page_rows {
                more = true;
                break 'tables;
            }
            let id = row.pk(table).unwrap_or_default().to_owned();
            patch.push(PatchOp::Put { table: table.name.to_owned(), row: row_to_json_text(table, &row) });
            last = Some(RowKey { table: table.name.to_owned(), id });
            sent += 1;
        }
    }
    let cookie = Cookie { order: snapshot, reset_after: if more { last } else { None } };
    let mutation_errors = if after.is_none() { errors_between(tx, group, 0, snapshot)? } else { Vec::new() };
    Ok(PullResponse {
        cookie,
        last_mutation_id_changes: all_lmids(tx, group)?,
        patch,
        mutation_errors,
        more,
        limits: None,
    })
}

fn rows_after(
    tx: &SqliteTx<'_>,
    table: &'static TableDef,
    after_id: Option<&str>,
    limit: usize,
) -> Result<Vec<Row>, ServerError> {
    let columns: Vec<String> = table.columns.iter().map(|c| ident(c.name)).collect();
    let pk = ident(table.pk().name);
    let sql = format!(
        "SELECT {} FROM {} WHERE ?1 IS NULL OR {pk} > ?1 ORDER BY {pk} LIMIT ?2",
        columns.join(", "),
        ident(table.name)
    );
    let mut stmt = tx.connection().prepare_cached(&sql)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows = stmt.query(rusqlite::params![after_id, limit])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut cells = Vec::with_capacity(columns.len());
        for i in 0..columns.len() {
            cells.push(value_from_ref(row.get_ref(i)?));
        }
        out.push(Row(cells));
    }
    Ok(out)
}

/// Changes after `since`, one entry per key at its latest position, oldest first.
fn incremental(
    tx: &SqliteTx<'_>,
    schema: &Schema,
    group: &str,
    since: i64,
    head: i64,
    page_rows: usize,
) -> Result<PullResponse, ServerError> {
    let mut stmt = tx.connection().prepare_cached(&format!(
        "SELECT \"tbl\", \"pk\", MAX(\"seq\") AS s FROM \"{CHANGES_TABLE}\" \
         WHERE \"seq\" > ? AND \"tbl\" <> '{MUTATION_ERRORS_TABLE}' GROUP BY \"tbl\", \"pk\" ORDER BY s LIMIT ?"
    ))?;
    let limit = i64::try_from(page_rows.saturating_add(1)).unwrap_or(i64::MAX);
    let keys: Vec<(String, String, i64)> = stmt
        .query_map(rusqlite::params![since, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let more = keys.len() > page_rows;
    let keys = &keys[..keys.len().min(page_rows)];
    let through = if more { keys.last().map_or(head, |k| k.2) } else { head };

    let mut patch = Vec::with_capacity(keys.len());
    let mut lmids = BTreeMap::new();
    for (tbl, pk, _) in keys {
        if tbl == CLIENTS_TABLE {
            if let Some(lmid) = lmid_in_group(tx, group, pk)? {
                lmids.insert(pk.clone(), lmid);
            }
            continue;
        }
        let Some(table) = schema.table(tbl) else { continue };
        match row_by_id(tx, table, pk)? {
            Some(row) => patch.push(PatchOp::Put { table: table.name.to_owned(), row: row_to_json_text(table, &row) }),
            None => patch.push(PatchOp::Del { table: table.name.to_owned(), id: pk.clone() }),
        }
    }
    Ok(PullResponse {
        cookie: Cookie { order: through, reset_after: None },
        last_mutation_id_changes: lmids,
        patch,
        mutation_errors: errors_between(tx, group, since, through)?,
        more,
        limits: None,
    })
}

fn lmid_in_group(tx: &SqliteTx<'_>, group: &str, client: &str) -> Result<Option<u64>, ServerError> {
    let lmid: Option<i64> = tx
        .connection()
        .prepare_cached(&format!(
            "SELECT \"last_mutation_id\" FROM \"{CLIENTS_TABLE}\" WHERE \"id\" = ? AND \"client_group_id\" = ?"
        ))?
        .query_row([client, group], |r| r.get(0))
        .optional()?;
    Ok(lmid.map(|l| u64::try_from(l).unwrap_or(0)))
}

fn row_by_id(tx: &SqliteTx<'_>, table: &'static TableDef, id: &str) -> Result<Option<Row>, ServerError> {
    let query = SelectQuery {
        filter: Some(Expr::Cmp { column: table.primary_key, op: CmpOp::Eq, value: Value::Text(id.to_owned()) }),
        ..SelectQuery::all(table)
    };
    Ok(tx.select_sync(&query)?.pop())
}
