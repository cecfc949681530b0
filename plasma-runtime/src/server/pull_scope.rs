//! The reads a pull makes for tables whose read rule is a filter, and the
//! record of what each group was sent (`_plasma_synced`).
//!
//! Cost model (per pull, `k` changed keys since the cookie):
//! - a changed row of a filtered table: one `pk IN (..) AND rule` read per
//!   window of ids, and one record lookup for those not in scope;
//! - a changed row of a table a rule reads (`in_select`, memberships): its
//!   old images since the cookie and its current row say which values of
//!   the guarded column it granted or took away; the rows under those
//!   values are read once (∝ rows gained or lost, never the whole scope);
//! - the record is written once per response: puts sent, deletes sent.
//!
//! A reset reads `rule` with the table (an index on the rule's columns keeps
//! it ∝ scope) and rewrites the record.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::protocol::{ErrorCode, PatchOp};
use crate::query::eval;
use crate::query::tree::{Expr, SelectQuery, SubSelect};
use crate::schema::{ColumnKind, RESERVED_PREFIX, TableDef};
use crate::server::error::ServerError;
use crate::server::scopes::{Scope, TableRule};
use crate::server::statements;
use crate::server::PokeTarget;
use crate::server::storage::{PullStorage, PullTx};
use crate::sql::render;
use crate::table::Row;
use crate::value::Value;
use crate::wire::row_to_json_text;

/// What one response changes in the group's record.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SyncedWrites {
    /// The response starts a reset: forget everything recorded first.
    pub clear: bool,
    /// Rows of filtered tables sent as puts.
    pub puts: Vec<(&'static str, String)>,
    /// Rows of filtered tables sent as deletes.
    pub gones: Vec<(&'static str, String)>,
}

impl SyncedWrites {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        !self.clear && self.puts.is_empty() && self.gones.is_empty()
    }

    /// The statements recording this response (cookie position `at`) for
    /// `group`: per table, the ids as one JSON array (`json_each`), so a
    /// reset of thousands of rows is a few statements of four values each.
    pub fn statements(&self, group: &str, scope: &Scope, at: i64) -> Vec<(String, Vec<Value>)> {
        let fp = scope.fingerprint();
        let mut out = Vec::new();
        if self.clear {
            out.push((statements::synced_clear(), vec![text(group), text(fp)]));
        }
        for (table, ids) in by_table(&self.puts) {
            for chunk in ids.chunks(IDS_PER_STATEMENT) {
                let params = vec![text(group), text(fp), text(table), Value::Integer(at), json_ids(chunk)];
                out.push((statements::synced_put(), params));
            }
        }
        for (table, ids) in by_table(&self.gones) {
            for chunk in ids.chunks(IDS_PER_STATEMENT) {
                let params = vec![Value::Integer(at), text(group), text(fp), text(table), json_ids(chunk)];
                out.push((statements::synced_gone(), params));
            }
        }
        out
    }
}

/// Ids per recording statement: the JSON array stays well under D1's 2 MB
/// per value for ids up to 256 bytes.
const IDS_PER_STATEMENT: usize = 4_000;

fn by_table<'a>(rows: &'a [(&'static str, String)]) -> BTreeMap<&'static str, Vec<&'a str>> {
    let mut out: BTreeMap<&'static str, Vec<&'a str>> = BTreeMap::new();
    for (table, id) in rows {
        out.entry(*table).or_default().push(id.as_str());
    }
    out
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn json_ids(ids: &[&str]) -> Value {
    Value::Text(serde_json::Value::from(ids.to_vec()).to_string())
}

/// The cookie's identity for `database` under `scope`: a cookie issued
/// under other rules (a deploy, another user's context) is of "another
/// database", so it resets.
pub fn cookie_identity(database: &str, scope: &Scope) -> String {
    if scope.is_filtered() { format!("{database}.{}", scope.fingerprint()) } else { database.to_owned() }
}

/// Rows of `table` among `ids` that `rule` admits, by id.
pub async fn rows_in_scope(
    tx: &mut impl PullTx,
    table: &'static TableDef,
    ids: &[&str],
    rule: &Expr,
) -> Result<BTreeMap<String, Row>, ServerError> {
    let mut found = BTreeMap::new();
    for row in rows_with_ids(tx, table, Some(rule), ids).await? {
        if let Some(pk) = row.pk(table) {
            found.insert(pk.to_owned(), row);
        }
    }
    Ok(found)
}

/// The rows of `table` among `ids` matching `filter`: one statement per
/// [`IDS_PER_STATEMENT`] ids, the ids bound as one JSON array.
async fn rows_with_ids(
    tx: &mut impl PullTx,
    table: &'static TableDef,
    filter: Option<&Expr>,
    ids: &[&str],
) -> Result<Vec<Row>, ServerError> {
    let mut rows = Vec::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let (sql, mut params) = statements::rows_with_ids(table, filter);
        params.push(json_ids(chunk));
        rows.extend(tx.query_values(&sql, params).await?.into_iter().map(Row));
    }
    Ok(rows)
}

/// Runs a select through the raw read of the pull transaction.
async fn select(tx: &mut impl PullTx, query: &SelectQuery) -> Result<Vec<Row>, ServerError> {
    let rendered = render::select(query);
    Ok(tx.query_values(&rendered.sql, rendered.params).await?.into_iter().map(Row).collect())
}

/// Which of `ids` (rows of `table`) `group` may hold at `since` (`sure`:
/// only those it surely holds, never deleted since a response at or
/// before `since` sent them).
pub async fn held(
    tx: &mut impl PullTx,
    group: &str,
    scope: &Scope,
    table: &str,
    ids: &[&str],
    since: i64,
    sure: bool,
) -> Result<BTreeSet<String>, ServerError> {
    let mut out = BTreeSet::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let sql = if sure { statements::synced_sent_by() } else { statements::synced_held() };
        let params = vec![text(group), text(scope.fingerprint()), text(table), Value::Integer(since), json_ids(chunk)];
        for row in tx.query_values(&sql, params).await? {
            if let Some(Value::Text(pk)) = row.into_iter().next() {
                out.insert(pk);
            }
        }
    }
    Ok(out)
}

/// What one changed key brings: its patch ops and what they record.
#[derive(Debug, Default)]
pub struct KeyOps {
    /// The ops, in order.
    pub ops: Vec<PatchOp>,
    /// What they change in the group's record.
    pub writes: SyncedWrites,
}

/// The patch ops changes to rows `ids` of `source` (a table some rule
/// reads) cause in the tables whose rules read it, for `group` pulling
/// from `since`, one [`KeyOps`] per id: rows under a value access was
/// granted to arrive, rows under a value access was taken from leave.
/// Every row is re-checked against its full rule, so other grants keep a
/// row in. Rows for which `answered(table, id)` holds are left out: the
/// pull answers for them as changed keys of their own.
///
/// The reads are shared by all `ids` (a window of changed keys): the
/// images of the changed rows, then per guarded table one read of the rows
/// under every affected value, one scope check and two record lookups. A
/// row goes with the first id whose change reached it.
pub async fn dependent_ops(
    tx: &mut impl PullTx,
    scope: &Scope,
    group: &str,
    source: &'static TableDef,
    ids: &[&str],
    since: i64,
    answered: &dyn Fn(&str, &str) -> bool,
) -> Result<Vec<KeyOps>, ServerError> {
    let mut out: Vec<KeyOps> = ids.iter().map(|_| KeyOps::default()).collect();
    let deps: Vec<(&'static str, usize, &SubSelect)> =
        scope.dependencies().into_iter().filter(|(_, _, sub)| sub.table.name == source.name).collect();
    if deps.is_empty() || ids.is_empty() {
        return Ok(out);
    }
    // Every image of the changed rows, by row: now, and before each change since.
    let mut images: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for row in select_by_ids(tx, source, ids).await? {
        if let Some(pk) = row.pk(source) {
            images.entry(pk.to_owned()).or_default().push(row.clone());
        }
    }
    for (pk, row) in old_images(tx, source, ids, since).await? {
        images.entry(pk).or_default().push(row);
    }
    for (table_name, column, sub) in deps {
        let TableRule::Filter(rule) = scope.rule(table_name) else { continue };
        let Some(table) = scope.table_def(table_name) else { continue };
        // The guarded values each changed row granted or took away.
        let per_id: Vec<BTreeSet<ValueKey>> = ids
            .iter()
            .map(|id| {
                images
                    .get(*id)
                    .into_iter()
                    .flatten()
                    .filter(|image| eval::matches(sub.filter.as_ref(), image))
                    .map(|image| ValueKey(image.get(sub.out).clone()))
                    .filter(|v| !v.0.is_null())
                    .collect()
            })
            .collect();
        let values: BTreeSet<&ValueKey> = per_id.iter().flatten().collect();
        if values.is_empty() {
            continue;
        }
        let values: Vec<Value> = values.into_iter().map(|v| v.0.clone()).collect();
        let mut under = Vec::new();
        for chunk in values.chunks(tx.lookup_params().max(1)) {
            let query = SelectQuery {
                filter: Some(Expr::In { column, values: chunk.to_vec() }),
                ..SelectQuery::all(table)
            };
            under.extend(select(tx, &query).await?);
        }
        // Each row under an affected value goes with the first change that reached it.
        let mut owner_of: BTreeMap<String, usize> = BTreeMap::new();
        for row in &under {
            let Some(id) = row.pk(table).filter(|id| !answered(table.name, id)) else { continue };
            let value = ValueKey(row.get(column).clone());
            if let Some(place) = per_id.iter().position(|vs| vs.contains(&value)) {
                owner_of.entry(id.to_owned()).or_insert(place);
            }
        }
        let under_ids: Vec<&str> = owner_of.keys().map(String::as_str).collect();
        let in_scope = rows_in_scope(tx, table, &under_ids, rule).await?;
        let out_ids: Vec<&str> = under_ids.iter().copied().filter(|id| !in_scope.contains_key(*id)).collect();
        let in_ids: Vec<&str> = in_scope.keys().map(String::as_str).collect();
        let surely = held(tx, group, scope, table.name, &in_ids, since, true).await?;
        let maybe = held(tx, group, scope, table.name, &out_ids, since, false).await?;
        for (id, row) in &in_scope {
            if !surely.contains(id) {
                let entry = &mut out[owner_of[id]];
                entry.ops.push(PatchOp::Put { table: table.name.to_owned(), row: row_to_json_text(table, row)? });
                entry.writes.puts.push((table.name, id.clone()));
            }
        }
        for id in maybe {
            let entry = &mut out[owner_of[&id]];
            entry.ops.push(PatchOp::Del { table: table.name.to_owned(), id: id.clone() });
            entry.writes.gones.push((table.name, id));
        }
    }
    Ok(out)
}

/// The current rows of `table` among `ids`.
async fn select_by_ids(tx: &mut impl PullTx, table: &'static TableDef, ids: &[&str]) -> Result<Vec<Row>, ServerError> {
    rows_with_ids(tx, table, None, ids).await
}

/// The rows `ids` of `table` were before each update or delete after
/// `since`, with their ids.
async fn old_images(
    tx: &mut impl PullTx,
    table: &'static TableDef,
    ids: &[&str],
    since: i64,
) -> Result<Vec<(String, Row)>, ServerError> {
    let mut rows = Vec::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let params = vec![text(table.name), Value::Integer(since), json_ids(chunk)];
        for cells in tx.query_values(&statements::old_rows(), params).await? {
            if let [Value::Text(pk), Value::Text(json)] = cells.as_slice() {
                rows.push((pk.clone(), decode_old_row(table, json)?));
            }
        }
    }
    Ok(rows)
}

/// Decodes a trigger's old row (`json_object` of every column, blobs as hex).
pub fn decode_old_row(table: &TableDef, json: &str) -> Result<Row, ServerError> {
    let bad = |what: &str| ServerError::new(ErrorCode::Internal, format!("old row of `{}`: {what}", table.name));
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).map_err(|e| bad(&e.to_string()))?;
    let mut cells = Vec::with_capacity(table.columns.len());
    for column in table.columns {
        let value = match (object.get(column.name), column.kind) {
            (None | Some(serde_json::Value::Null), _) => Value::Null,
            (Some(serde_json::Value::String(hex)), ColumnKind::Blob) => Value::Blob(decode_hex(hex).ok_or_else(|| bad("blob"))?),
            (Some(serde_json::Value::String(s)), _) => Value::Text(s.clone()),
            (Some(serde_json::Value::Number(n)), ColumnKind::Real) => Value::Real(n.as_f64().ok_or_else(|| bad("real"))?),
            (Some(serde_json::Value::Number(n)), _) => match n.as_i64() {
                Some(i) => Value::Integer(i),
                None => Value::Real(n.as_f64().ok_or_else(|| bad("number"))?),
            },
            (Some(other), _) => Value::Text(other.to_string()),
        };
        cells.push(value);
    }
    Ok(Row(cells))
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

/// A value ordered for set membership (SQL equality: integer 1 = real 1.0).
#[derive(Debug, Clone)]
struct ValueKey(Value);

impl PartialEq for ValueKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for ValueKey {}
impl PartialOrd for ValueKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ValueKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.sort_cmp(&other.0)
    }
}

/// Whether a commit that changed `keys` (`(table, id)`, written after
/// change-log position `since`) touches the scope of `group`: a row of it
/// entered or left, changed while in it, or a row a rule reads moved
/// access. Decides whom to poke; a pull then sends exactly what changed.
pub async fn touches(
    tx: &mut impl PullTx,
    scope: &Scope,
    group: &str,
    keys: &[(String, String)],
    since: i64,
) -> Result<bool, ServerError> {
    let mut by_table: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (table, id) in keys {
        by_table.entry(table.as_str()).or_default().push(id.as_str());
    }
    let deps = scope.dependencies();
    for (name, ids) in by_table {
        let Some(table) = scope.table_def(name) else { continue };
        match scope.rule(name) {
            TableRule::All => return Ok(true),
            TableRule::None => {}
            TableRule::Filter(rule) => {
                if !rows_in_scope(tx, table, &ids, rule).await?.is_empty()
                    || !held(tx, group, scope, name, &ids, since, false).await?.is_empty()
                {
                    return Ok(true);
                }
            }
        }
        let subs: Vec<&SubSelect> = deps.iter().filter(|(_, _, sub)| sub.table.name == name).map(|d| d.2).collect();
        if !subs.is_empty() {
            let mut images = select_by_ids(tx, table, &ids).await?;
            images.extend(old_images(tx, table, &ids, since).await?.into_iter().map(|(_, row)| row));
            if images.iter().any(|image| subs.iter().any(|sub| eval::matches(sub.filter.as_ref(), image))) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Whom a commit that logged after position `before` concerns among the
/// `connected` groups (each with the scope its socket reads under; none:
/// unknown, so it is poked): the pusher's group and every group whose
/// scope the log since touched. Reads a little more than the commit when
/// other commits followed it, which only pokes a few groups more.
pub async fn poke_targets<S: PullStorage>(
    db: &S,
    connected: &[(String, Option<Arc<Scope>>)],
    pusher_group: &str,
    before: i64,
) -> Result<PokeTarget, ServerError> {
    let mut tx = db.begin_pull().await?;
    let keys: Vec<(String, String)> = tx
        .query_values(&statements::keys_after(), vec![Value::Integer(before)])
        .await?
        .into_iter()
        .filter_map(|row| match <[Value; 2]>::try_from(row) {
            Ok([Value::Text(table), Value::Text(pk)]) => Some((table, pk)),
            _ => None,
        })
        .filter(|(table, _)| !table.starts_with(RESERVED_PREFIX))
        .collect();
    let mut groups = vec![pusher_group.to_owned()];
    for (group, scope) in connected {
        if groups.contains(group) {
            continue;
        }
        let touched = match scope {
            Some(scope) if scope.is_filtered() => touches(&mut tx, scope, group, &keys, before).await?,
            _ => true,
        };
        if touched {
            groups.push(group.clone());
        }
    }
    Ok(PokeTarget::Groups(groups))
}
