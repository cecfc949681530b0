//! Pull: everything a client group has not seen, coalesced to the latest state
//! per row, paged so one response holds at most [`PageLimit::rows`] rows and,
//! past its first row, at most [`PageLimit::bytes`] bytes of row JSON.
//!
//! The LMIDs, mutation errors and rows are read in one transaction, so a client
//! never sees a mutation confirmed without its effect (or the reverse).

use std::collections::BTreeMap;

use crate::exec::sqlite::{SqliteExecutor, SqliteTx, value_from_ref};
use serde_json::value::RawValue;

use crate::protocol::{Cookie, ErrorCode, PatchOp, PullResponse, RowKey};
use crate::query::tree::{CmpOp, Expr, SelectQuery};
use crate::schema::{Schema, TableDef};
use crate::server::bookkeeping::{
    self, COMPACTED_THROUGH, FORGOTTEN_THROUGH, database_id, errors_between, group_lmids, head_seq, lmid_in_group,
    meta_i64,
};
use crate::server::error::ServerError;
use crate::sql::ddl::{CHANGES_TABLE, CLIENTS_TABLE, MUTATION_ERRORS_TABLE};
use crate::sql::render::ident;
use crate::table::Row;
use crate::value::Value;
use crate::wire::row_to_json_text;

/// How much one pull response may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit {
    /// Most rows (puts and dels) in one response; at least 1.
    pub rows: usize,
    /// Most bytes of row JSON in one response. A single row larger than this
    /// is still sent, alone, so every page makes progress.
    pub bytes: usize,
}

/// Answers a pull of `group` for `user_id`.
pub fn process(
    db: &SqliteExecutor,
    schema: &Schema,
    user_id: &str,
    group: &str,
    cookie: Option<Cookie>,
    limit: PageLimit,
) -> Result<PullResponse, ServerError> {
    let limit = PageLimit { rows: limit.rows.max(1), bytes: limit.bytes };
    let tx = db.begin_sync()?;
    let known = check_group(&tx, group, user_id)?;
    let head = head_seq(&tx)?;
    let horizon = meta_i64(&tx, COMPACTED_THROUGH)?;
    // A group the server does not know either never pushed (read-only clients,
    // fresh installs: their cookies stay good) or was forgotten after its
    // cookie was issued (it must start over, so its clients learn they are
    // forgotten). Forgetting moves the head, so the two are told apart by
    // whether the cookie predates the last forgetting.
    let database = database_id(&tx)?;
    let cookie = match cookie {
        Some(c) if c.database.as_deref() != Some(database.as_str()) => None,
        Some(c) if !known && c.order < meta_i64(&tx, FORGOTTEN_THROUGH)? => None,
        // Forgotten, then created again by another of its clients: a cookie
        // from before the forgetting must still reset, or a client that has
        // not pulled since never learns it was forgotten.
        Some(c) if known && c.order < bookkeeping::group_forgotten_at(&tx, group)? => None,
        other => other,
    };
    let mut response = match cookie {
        Some(Cookie { order, reset_after: Some(after), .. }) if order <= head && order >= horizon => {
            reset_page(&tx, schema, group, (order, head), Some(after), limit)?
        }
        Some(Cookie { order, reset_after: None, .. }) if order <= head && order >= horizon => {
            incremental(&tx, schema, group, order, head, limit)?
        }
        // No cookie, a cookie from the future (another database) or one older than
        // the compacted log: start over with everything.
        _ => reset_page(&tx, schema, group, (head, head), None, limit)?,
    };
    drop(tx); // read-only: nothing to commit
    response.cookie.database = Some(database);
    Ok(response)
}

/// Whether the group exists; refuses a group of another user.
fn check_group(tx: &SqliteTx<'_>, group: &str, user_id: &str) -> Result<bool, ServerError> {
    match bookkeeping::group_owner(tx.connection(), group)? {
        Some(owner) if owner != user_id => {
            Err(ServerError::new(ErrorCode::Forbidden, format!("client group `{group}` belongs to another user")))
        }
        Some(_) => Ok(true),
        None => Ok(false),
    }
}

/// One page of a reset: `Clear` first, then every row in (table, id) order.
///
/// Pages after the first are read later than the reset's `snapshot`, so they
/// may hold rows written after it while the LMIDs (sent with the first page)
/// do not yet confirm the mutations that wrote them. A reset that ends with
/// the log past its snapshot therefore says `more`, and the same pull goes
/// on incrementally from the snapshot until it catches up: the client
/// applies rows and confirmations of one consistent moment.
fn reset_page(
    tx: &SqliteTx<'_>,
    schema: &Schema,
    group: &str,
    (snapshot, head): (i64, i64),
    after: Option<RowKey>,
    limit: PageLimit,
) -> Result<PullResponse, ServerError> {
    let mut patch = Vec::new();
    if after.is_none() {
        patch.push(PatchOp::Clear);
    }
    let start_table = after.as_ref().and_then(|k| schema.tables.iter().position(|t| t.name == k.table)).unwrap_or(0);
    let mut page = PageBudget::new(limit);
    let mut last: Option<RowKey> = None;
    let mut more = false;
    for table in &schema.tables[start_table..] {
        let after_id = after.as_ref().filter(|k| k.table == table.name).map(|k| k.id.as_str());
        let full = rows_after(tx, table, after_id, |id, json| {
            if !page.admit(json.get().len()) {
                return Ok(false);
            }
            patch.push(PatchOp::Put { table: table.name.to_owned(), row: json });
            last = Some(RowKey { table: table.name.to_owned(), id });
            Ok(true)
        })?;
        if full {
            more = true;
            break;
        }
    }
    let cookie = Cookie { order: snapshot, reset_after: if more { last } else { None }, database: None };
    let more = more || head > snapshot;
    // LMIDs and errors come with the first page, read in the same transaction
    // as the snapshot position: a later page's LMIDs could confirm mutations
    // whose errors lie after the snapshot (the catch-up brings those).
    let (last_mutation_id_changes, mutation_errors) = if after.is_none() {
        (group_lmids(tx, group)?, errors_between(tx, group, 0, snapshot)?)
    } else {
        (BTreeMap::new(), Vec::new())
    };
    Ok(PullResponse { cookie, last_mutation_id_changes, patch, mutation_errors, more, limits: None })
}

/// What one response may still take. The first row always fits, so a row
/// larger than the byte bound goes out alone instead of blocking the pull.
struct PageBudget {
    limit: PageLimit,
    rows: usize,
    bytes: usize,
}

impl PageBudget {
    fn new(limit: PageLimit) -> Self {
        PageBudget { limit, rows: 0, bytes: 0 }
    }

    /// Takes a row of `len` bytes if it fits; `false` means the page is full.
    fn admit(&mut self, len: usize) -> bool {
        let fits =
            self.rows == 0 || (self.rows < self.limit.rows && self.bytes.saturating_add(len) <= self.limit.bytes);
        if fits {
            self.rows += 1;
            self.bytes = self.bytes.saturating_add(len);
        }
        fits
    }
}

/// Streams the rows of `table` after `after_id` in id order, each encoded as
/// wire JSON, into `take` until it refuses one. Returns whether it refused
/// (the page is full and rows remain). Rows are read one at a time from the
/// cursor, so a page never holds more than its budget plus one row.
fn rows_after(
    tx: &SqliteTx<'_>,
    table: &'static TableDef,
    after_id: Option<&str>,
    mut take: impl FnMut(String, Box<RawValue>) -> Result<bool, ServerError>,
) -> Result<bool, ServerError> {
    let columns: Vec<String> = table.columns.iter().map(|c| ident(c.name)).collect();
    let pk = ident(table.pk().name);
    let pk_index = table.columns.iter().position(|c| c.name == table.pk().name).unwrap_or(0);
    let sql =
        format!("SELECT {} FROM {} WHERE ?1 IS NULL OR {pk} > ?1 ORDER BY {pk}", columns.join(", "), ident(table.name));
    let mut stmt = tx.connection().prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params![after_id])?;
    while let Some(row) = rows.next()? {
        let mut cells = Vec::with_capacity(columns.len());
        for i in 0..columns.len() {
            cells.push(value_from_ref(row.get_ref(i)?));
        }
        let row = Row(cells);
        let id = match row.0.get(pk_index) {
            Some(Value::Text(id)) => id.clone(),
            other => {
                return Err(ServerError::new(
                    ErrorCode::Internal,
                    format!("table `{}` holds a row whose id is not text: {other:?}", table.name),
                ));
            }
        };
        if !take(id, row_to_json_text(table, &row)?)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Changes after `since`, one entry per key at its latest position, oldest first.
fn incremental(
    tx: &SqliteTx<'_>,
    schema: &Schema,
    group: &str,
    since: i64,
    head: i64,
    limit: PageLimit,
) -> Result<PullResponse, ServerError> {
    let mut stmt = tx.connection().prepare_cached(&format!(
        "SELECT \"tbl\", \"pk\", MAX(\"seq\") AS s FROM \"{CHANGES_TABLE}\" \
         WHERE \"seq\" > ? AND \"tbl\" <> '{MUTATION_ERRORS_TABLE}' GROUP BY \"tbl\", \"pk\" ORDER BY s LIMIT ?"
    ))?;
    let fetch = i64::try_from(limit.rows.saturating_add(1)).unwrap_or(i64::MAX);
    let keys: Vec<(String, String, i64)> = stmt
        .query_map(rusqlite::params![since, fetch], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;

    let mut page = PageBudget::new(limit);
    let mut patch = Vec::with_capacity(keys.len().min(limit.rows));
    let mut lmids = BTreeMap::new();
    // Keys are in order of their latest change, so stopping after any key is
    // a consistent cut: everything at or below its position has been sent.
    let mut through = head;
    let mut more = false;
    for (i, (tbl, pk, _)) in keys.iter().enumerate() {
        // The one key past the page only tells that more follow; LMID entries
        // carry no row.
        let op = if i == limit.rows || tbl == CLIENTS_TABLE {
            None
        } else if let Some(table) = schema.table(tbl) {
            Some(match row_by_id(tx, table, pk)? {
                Some(row) => PatchOp::Put { table: table.name.to_owned(), row: row_to_json_text(table, &row)? },
                None => PatchOp::Del { table: table.name.to_owned(), id: pk.clone() },
            })
        } else {
            None // bookkeeping entries (a forgotten group) carry no row
        };
        let len = match &op {
            Some(PatchOp::Put { row, .. }) => row.get().len(),
            Some(PatchOp::Del { id, .. }) => id.len(),
            _ => 0,
        };
        // The first key always fits, so `i - 1` exists when one does not.
        if i == limit.rows || !page.admit(len) {
            through = keys[i - 1].2;
            more = true;
            break;
        }
        if tbl == CLIENTS_TABLE
            && let Some(lmid) = lmid_in_group(tx, group, pk)?
        {
            lmids.insert(pk.clone(), lmid);
        }
        patch.extend(op);
    }
    Ok(PullResponse {
        cookie: Cookie { order: through, reset_after: None, database: None },
        last_mutation_id_changes: lmids,
        patch,
        mutation_errors: errors_between(tx, group, since, through)?,
        more,
        limits: None,
    })
}

fn row_by_id(tx: &SqliteTx<'_>, table: &'static TableDef, id: &str) -> Result<Option<Row>, ServerError> {
    let query = SelectQuery {
        filter: Some(Expr::Cmp { column: table.primary_key, op: CmpOp::Eq, value: Value::Text(id.to_owned()) }),
        ..SelectQuery::all(table)
    };
    Ok(tx.select_sync(&query)?.pop())
}
