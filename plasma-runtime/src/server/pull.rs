//! Pull: everything a client group has not seen, coalesced to the latest state
//! per row, paged so one response holds at most [`PageLimit::rows`] rows and,
//! past its first row, at most [`PageLimit::bytes`] bytes of row JSON.
//!
//! The LMIDs, mutation errors and rows are read in one transaction, so a client
//! never sees a mutation confirmed without its effect (or the reverse).

use std::collections::BTreeMap;

use crate::protocol::{Cookie, ErrorCode, PatchOp, PullResponse, RowKey};
use crate::schema::Schema;
use crate::server::error::ServerError;
use crate::server::pull_scope::{self, KeyOps, SyncedWrites};
use crate::server::scopes::{Scope, TableRule};
use crate::server::statements::{COMPACTED_THROUGH, FORGOTTEN_THROUGH};
use crate::server::storage::{PullStorage, PullTx};
use crate::sql::ddl::CLIENTS_TABLE;
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

/// Who pulls what: the group, its user and the user's read scope.
#[derive(Debug, Clone, Copy)]
pub struct Puller<'a> {
    /// The authenticated user.
    pub user_id: &'a str,
    /// The client group pulling.
    pub group: &'a str,
    /// The user's resolved read rules.
    pub scope: &'a Scope,
}

/// Answers a pull from `db`. The response comes with what it changes in
/// the group's record of rows sent ([`SyncedWrites`]): write it with
/// [`record`] on the writing connection before the response leaves.
pub async fn process<S: PullStorage>(
    db: &S,
    schema: &Schema,
    who: Puller<'_>,
    cookie: Option<Cookie>,
    limit: PageLimit,
) -> Result<(PullResponse, SyncedWrites), ServerError> {
    let mut tries = 0;
    loop {
        match read::<S>(db, schema, who, cookie.clone(), limit).await {
            Err(e) if e.code == ErrorCode::Busy && tries < S::RETRIES => tries += 1,
            other => return other,
        }
    }
}

/// Writes what a response with cookie position `at` changed in the
/// record of rows sent to `who`'s group under `who`'s rules.
pub async fn record<S: PullStorage>(db: &S, who: Puller<'_>, at: i64, writes: &SyncedWrites) -> Result<(), ServerError> {
    if writes.is_empty() {
        return Ok(());
    }
    db.write_synced(writes.statements(who.group, who.scope, at)).await
}

/// One pull's reads.
async fn read<S: PullStorage>(
    db: &S,
    schema: &Schema,
    who: Puller<'_>,
    cookie: Option<Cookie>,
    limit: PageLimit,
) -> Result<(PullResponse, SyncedWrites), ServerError> {
    let Puller { user_id, group, scope } = who;
    let limit = PageLimit { rows: limit.rows.max(1), bytes: limit.bytes };
    let mut tx = db.begin_pull().await?;
    let known = check_group(&mut tx, group, user_id).await?;
    let head = tx.head_seq().await?;
    let horizon = tx.meta_i64(COMPACTED_THROUGH).await?;
    // A group the server does not know either never pushed (read-only clients,
    // fresh installs: their cookies stay good) or was forgotten after its
    // cookie was issued (it must start over, so its clients learn they are
    // forgotten). Forgetting moves the head, so the two are told apart by
    // whether the cookie predates the last forgetting.
    let database = pull_scope::cookie_identity(&tx.database_id().await?, scope);
    let cookie = match cookie {
        Some(c) if c.database.as_deref() != Some(database.as_str()) => None,
        Some(c) if !known && c.order < tx.meta_i64(FORGOTTEN_THROUGH).await? => None,
        // Forgotten, then created again by another of its clients: a cookie
        // from before the forgetting must still reset, or a client that has
        // not pulled since never learns it was forgotten.
        Some(c) if known && c.order < tx.group_forgotten_at(group).await? => None,
        other => other,
    };
    let mut writes = SyncedWrites::default();
    let mut response = match cookie {
        Some(Cookie { order, reset_after: Some(after), .. }) if order <= head && order >= horizon => {
            reset_page(&mut tx, schema, who, (order, head), Some(after), limit, &mut writes).await?
        }
        Some(Cookie { order, reset_after: None, .. }) if order <= head && order >= horizon => {
            incremental(&mut tx, schema, who, order, head, limit, &mut writes).await?
        }
        // No cookie, a cookie from the future (another database) or one older than
        // the compacted log: start over with everything.
        _ => reset_page(&mut tx, schema, who, (head, head), None, limit, &mut writes).await?,
    };
    S::end_pull(tx).await?;
    response.cookie.database = Some(database);
    Ok((response, writes))
}

/// Whether the group exists; refuses a group of another user.
async fn check_group(tx: &mut impl PullTx, group: &str, user_id: &str) -> Result<bool, ServerError> {
    match tx.group_owner(group).await? {
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
async fn reset_page(
    tx: &mut impl PullTx,
    schema: &Schema,
    who: Puller<'_>,
    (snapshot, head): (i64, i64),
    after: Option<RowKey>,
    limit: PageLimit,
    writes: &mut SyncedWrites,
) -> Result<PullResponse, ServerError> {
    let group = who.group;
    let mut patch = Vec::new();
    if after.is_none() {
        patch.push(PatchOp::Clear);
        writes.clear = who.scope.is_filtered();
    }
    let start_table = after.as_ref().and_then(|k| schema.tables.iter().position(|t| t.name == k.table)).unwrap_or(0);
    let mut page = PageBudget::new(limit);
    let mut last: Option<RowKey> = None;
    let mut more = false;
    for table in &schema.tables[start_table..] {
        let filter = match who.scope.rule(table.name) {
            TableRule::All => None,
            TableRule::None => continue,
            TableRule::Filter(rule) => Some(rule),
        };
        let after_id = after.as_ref().filter(|k| k.table == table.name).map(|k| k.id.as_str());
        let mut take = |id: String, json: Box<serde_json::value::RawValue>| {
            if !page.admit(json.get().len()) {
                return Ok(false);
            }
            patch.push(PatchOp::Put { table: table.name.to_owned(), row: json });
            if filter.is_some() {
                writes.puts.push((table.name, id.clone()));
            }
            last = Some(RowKey { table: table.name.to_owned(), id });
            Ok(true)
        };
        let full = tx.rows_after(table, filter, after_id, &mut take).await?;
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
        (tx.group_lmids(group).await?, tx.errors_between(group, 0, snapshot).await?)
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

    /// Takes a row of `len` bytes whether it fits or not.
    fn force(&mut self, len: usize) {
        self.rows += 1;
        self.bytes = self.bytes.saturating_add(len);
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

/// Keys whose rows (and client LMIDs) an incremental pull reads at once: one
/// statement per table per window on a backend that reads them together (D1
/// binds at most 100 values per statement, and a Worker invocation runs at
/// most 1,000), and at most one window read beyond where a full page stops.
const LOOKUP_WINDOW: usize = 100;

/// What the keys of the current window mean for the pulling group, by the
/// key's place in it: the rows it may see, deletes of rows it may hold,
/// client LMIDs, and what changes to tables read rules read bring along.
#[derive(Default)]
struct Prefetched {
    /// The index of the window's first key.
    start: usize,
    ops: Vec<KeyOps>,
    lmids: Vec<Option<u64>>,
}

impl Prefetched {
    /// Reads what the keys of `keys` (the window starting at key `start`)
    /// bring, replacing the last window's.
    async fn fetch(
        &mut self,
        tx: &mut impl PullTx,
        schema: &Schema,
        who: Puller<'_>,
        since: i64,
        start: usize,
        keys: &[(String, String, i64)],
    ) -> Result<(), ServerError> {
        let group = who.group;
        self.start = start;
        self.ops.clear();
        self.ops.resize_with(keys.len(), KeyOps::default);
        self.lmids.clear();
        self.lmids.resize(keys.len(), None);
        let mut by_table: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, (tbl, _, _)) in keys.iter().enumerate() {
            by_table.entry(tbl.as_str()).or_default().push(i);
        }
        if let Some(places) = by_table.remove(CLIENTS_TABLE) {
            let clients: Vec<&str> = places.iter().map(|&i| keys[i].1.as_str()).collect();
            for (place, lmid) in places.into_iter().zip(tx.lmids_in_group(group, &clients).await?) {
                self.lmids[place] = lmid;
            }
        }
        let sources: Vec<&str> = who.scope.dependencies().iter().map(|(_, _, sub)| sub.table.name).collect();
        for (tbl, places) in by_table {
            let Some(table) = schema.table(tbl) else { continue };
            let ids: Vec<&str> = places.iter().map(|&i| keys[i].1.as_str()).collect();
            match who.scope.rule(tbl) {
                TableRule::None => {}
                TableRule::All => {
                    for (&place, row) in places.iter().zip(tx.rows_by_ids(table, &ids).await?) {
                        self.ops[place].ops.push(match row {
                            Some(row) => PatchOp::Put { table: table.name.to_owned(), row: row_to_json_text(table, &row)? },
                            None => PatchOp::Del { table: table.name.to_owned(), id: keys[place].1.clone() },
                        });
                    }
                }
                TableRule::Filter(rule) => {
                    let mut in_scope = pull_scope::rows_in_scope(tx, table, &ids, rule).await?;
                    let out: Vec<&str> = ids.iter().copied().filter(|id| !in_scope.contains_key(*id)).collect();
                    let held = pull_scope::held(tx, group, who.scope, table.name, &out, since, false).await?;
                    for &place in &places {
                        let id = &keys[place].1;
                        let entry = &mut self.ops[place];
                        if let Some(row) = in_scope.remove(id) {
                            entry.ops.push(PatchOp::Put { table: table.name.to_owned(), row: row_to_json_text(table, &row)? });
                            entry.writes.puts.push((table.name, id.clone()));
                        } else if held.contains(id) {
                            entry.ops.push(PatchOp::Del { table: table.name.to_owned(), id: id.clone() });
                            entry.writes.gones.push((table.name, id.clone()));
                        }
                    }
                }
            }
            if sources.contains(&tbl) {
                // A grant or revocation reaches rows that did not change
                // themselves; each key brings its own (pages stop between
                // keys). Rows that are keys of this window bring themselves.
                let own_key = |table: &str, id: &str| keys.iter().any(|(t, k, _)| t == table && k == id);
                let brought =
                    pull_scope::dependent_ops(tx, who.scope, group, table, &ids, since, &own_key).await?;
                for (&place, key) in places.iter().zip(brought) {
                    let entry = &mut self.ops[place];
                    entry.ops.extend(key.ops);
                    entry.writes.puts.extend(key.writes.puts);
                    entry.writes.gones.extend(key.writes.gones);
                }
            }
        }
        Ok(())
    }

    /// What key `i` brings (fetched with its window).
    fn take(&mut self, i: usize) -> KeyOps {
        i.checked_sub(self.start).and_then(|j| self.ops.get_mut(j)).map(std::mem::take).unwrap_or_default()
    }

    /// The LMID of client key `i` if the client is of the pulling group.
    fn lmid(&self, i: usize) -> Option<u64> {
        self.lmids.get(i.checked_sub(self.start)?).copied().flatten()
    }
}

/// Changes after `since`, one entry per key at its latest position, oldest first.
async fn incremental(
    tx: &mut impl PullTx,
    schema: &Schema,
    who: Puller<'_>,
    since: i64,
    head: i64,
    limit: PageLimit,
    writes: &mut SyncedWrites,
) -> Result<PullResponse, ServerError> {
    let group = who.group;
    let keys = tx.changed_keys(since, limit.rows.saturating_add(1)).await?;
    let mut fetched = Prefetched::default();

    let mut page = PageBudget::new(limit);
    let mut patch = Vec::with_capacity(keys.len().min(limit.rows));
    let mut lmids = BTreeMap::new();
    // Keys are in order of their latest change, so stopping after any key is
    // a consistent cut: everything at or below its position has been sent.
    let mut through = head;
    let mut more = false;
    for (i, (tbl, pk, _)) in keys.iter().enumerate() {
        if i % LOOKUP_WINDOW == 0 && i < limit.rows {
            let window = &keys[i..keys.len().min(i + LOOKUP_WINDOW).min(limit.rows)];
            fetched.fetch(tx, schema, who, since, i, window).await?;
        }
        // The one key past the page only tells that more follow; LMID entries
        // carry no row.
        let key = if i == limit.rows { KeyOps::default() } else { fetched.take(i) };
        // A key's ops go together or not at all; the first key's always go
        // (a grant may bring more rows than a page), so every page moves on.
        let fits = i != limit.rows && (i == 0 || key.ops.iter().all(|op| page.admit(op_len(op))));
        if i == 0 {
            key.ops.iter().for_each(|op| page.force(op_len(op)));
        }
        if !fits {
            through = keys[i - 1].2;
            more = true;
            break;
        }
        if tbl == CLIENTS_TABLE
            && let Some(lmid) = fetched.lmid(i)
        {
            lmids.insert(pk.clone(), lmid);
        }
        patch.extend(key.ops);
        writes.puts.extend(key.writes.puts);
        writes.gones.extend(key.writes.gones);
    }
    Ok(PullResponse {
        cookie: Cookie { order: through, reset_after: None, database: None },
        last_mutation_id_changes: lmids,
        patch,
        mutation_errors: tx.errors_between(group, since, through).await?,
        more,
        limits: None,
    })
}

/// What an op costs a page: its row's JSON, or a delete's id.
fn op_len(op: &PatchOp) -> usize {
    match op {
        PatchOp::Put { row, .. } => row.get().len(),
        PatchOp::Del { id, .. } => id.len(),
        _ => 0,
    }
}
