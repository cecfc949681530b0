//! Push: run a client group's mutations canonically, exactly once each.
//!
//! Everything happens in one `BEGIN IMMEDIATE` transaction on the server's
//! SQLite connection: ownership checks, the sequence check, each mutation in
//! its own savepoint, and the last-mutation-id (LMID) bumps. A mutation's writes
//! and its LMID bump therefore commit together or not at all.

use std::collections::BTreeMap;

use crate::exec::run_ready;
use crate::exec::sqlite::{SqliteExecutor, SqliteTx};
use crate::mutator::Registry;
use crate::protocol::{ErrorCode, PushRequest, PushResponse};
use crate::server::bookkeeping;
use crate::server::error::ServerError;
use crate::sql::ddl::CHANGES_TABLE;

/// What a processed push did.
#[derive(Debug)]
pub struct PushOutcome {
    /// The answer for the client.
    pub response: PushResponse,
    /// Whether any row of any user table changed (everyone must pull).
    pub data_changed: bool,
    /// Whether anything was committed at all (this group must pull).
    pub anything_committed: bool,
}

/// Processes a validated push for `user_id`. `now_ms` stamps bookkeeping rows.
///
/// Mutations first run without savepoints, which is what almost every push
/// needs. If one fails, that attempt is rolled back entirely and the push is
/// run again with a savepoint around each mutation, so exactly the failing
/// mutations are discarded. Mutators are deterministic over the database, so
/// the second run sees and does the same.
pub fn process<R: Registry>(
    db: &SqliteExecutor,
    user_id: &str,
    ctx: &R::Context,
    request: &PushRequest,
    now_ms: i64,
) -> Result<PushOutcome, ServerError> {
    match attempt::<R>(db, user_id, ctx, request, now_ms, Isolation::Optimistic)? {
        Some(outcome) => Ok(outcome),
        None => attempt::<R>(db, user_id, ctx, request, now_ms, Isolation::SavepointPerMutation)?
            .ok_or_else(|| ServerError::new(ErrorCode::Internal, "push failed to settle with savepoints")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// No savepoints; give up (return `None`) at the first failing mutation.
    Optimistic,
    /// A savepoint around each mutation; failures are rolled back one by one.
    SavepointPerMutation,
}

fn attempt<R: Registry>(
    db: &SqliteExecutor,
    user_id: &str,
    ctx: &R::Context,
    request: &PushRequest,
    now_ms: i64,
    isolation: Isolation,
) -> Result<Option<PushOutcome>, ServerError> {
    let mut tx = db.begin_immediate_sync()?;
    let group = &request.client_group_id;
    claim_group(&tx, group, user_id, now_ms)?;
    drop_applied_errors(&tx, group, &request.applied_through)?;

    // Current LMID of every client in the push, creating unknown clients.
    let mut lmids: BTreeMap<String, u64> = BTreeMap::new();
    for m in &request.mutations {
        if !lmids.contains_key(&m.client_id) {
            let lmid = claim_client(&tx, group, &m.client_id, now_ms)?;
            lmids.insert(m.client_id.clone(), lmid);
        }
    }

    // Sequence check before anything runs: duplicates are skipped, a gap rejects the push.
    let mut expected: BTreeMap<&str, u64> = lmids.iter().map(|(c, l)| (c.as_str(), l + 1)).collect();
    let mut to_run = Vec::with_capacity(request.mutations.len());
    for m in &request.mutations {
        let next = expected
            .get_mut(m.client_id.as_str())
            .ok_or_else(|| ServerError::new(ErrorCode::Internal, "client vanished while checking the push"))?;
        if m.id < *next {
            continue; // already processed: duplicate
        }
        if m.id > *next {
            return Err(ServerError::new(
                ErrorCode::OutOfOrderMutation,
                format!("client `{}` sent mutation {} but the next expected id is {}", m.client_id, m.id, next),
            ));
        }
        *next += 1;
        to_run.push(m);
    }

    let seq_before = bookkeeping::head_seq(&tx)?;
    let careful = isolation == Isolation::SavepointPerMutation;
    let mut processed: BTreeMap<&str, u64> = BTreeMap::new();
    let mut transient = None;
    for m in to_run {
        if let Some(abandoned) = &m.abandoned {
            // The client gave up on it: consume its id and tell the client
            // why, like a mutator that failed, without running anything.
            bookkeeping::record_error(&tx, &m.client_id, m.id, &abandoned.message())?;
            processed.insert(&m.client_id, m.id);
            continue;
        }
        if careful {
            savepoint(&tx, "SAVEPOINT plasma_mutation")?;
        }
        let result = run_ready(R::dispatch(&mut tx, ctx, &m.name, m.args.get())).map_err(ServerError::from)?;
        match result {
            Ok(()) if careful => savepoint(&tx, "RELEASE plasma_mutation")?,
            Ok(()) => {}
            // Dropping the transaction rolls the whole attempt back.
            Err(e) if !careful => {
                return if e.is_transient() {
                    Err(ServerError::new(ErrorCode::Busy, format!("database busy, retry the push: {e}")))
                } else {
                    Ok(None)
                };
            }
            Err(e) => {
                savepoint(&tx, "ROLLBACK TO plasma_mutation")?;
                savepoint(&tx, "RELEASE plasma_mutation")?;
                if e.is_transient() {
                    transient = Some(e);
                    break;
                }
                bookkeeping::record_error(&tx, &m.client_id, m.id, &e.to_string())?;
            }
        }
        processed.insert(&m.client_id, m.id);
    }
    let data_changed = bookkeeping::head_seq(&tx)? > seq_before && changed_user_rows(&tx, seq_before)?;

    for (client, lmid) in &processed {
        bookkeeping::set_lmid(&tx, client, *lmid, now_ms)?;
        lmids.insert((*client).to_owned(), *lmid);
    }
    tx.commit_sync()?;
    if let Some(e) = transient {
        return Err(ServerError::new(ErrorCode::Busy, format!("database busy, retry the push: {e}")));
    }
    Ok(Some(PushOutcome {
        response: PushResponse { last_mutation_ids: lmids },
        data_changed,
        anything_committed: !processed.is_empty(),
    }))
}

fn savepoint(tx: &SqliteTx<'_>, sql: &str) -> Result<(), ServerError> {
    tx.connection().prepare_cached(sql)?.execute([])?;
    Ok(())
}

fn changed_user_rows(tx: &SqliteTx<'_>, after: i64) -> Result<bool, ServerError> {
    Ok(tx
        .connection()
        .prepare_cached(&format!(
            "SELECT EXISTS (SELECT 1 FROM \"{CHANGES_TABLE}\" WHERE \"seq\" > ? AND \"tbl\" NOT LIKE '\\_plasma%' ESCAPE '\\')"
        ))?
        .query_row([after], |r| r.get(0))?)
}

/// Creates the group for `user_id`, or checks that it is theirs.
fn claim_group(tx: &SqliteTx<'_>, group: &str, user_id: &str, now_ms: i64) -> Result<(), ServerError> {
    match bookkeeping::group_owner(tx.connection(), group)? {
        Some(owner) if owner != user_id => {
            Err(ServerError::new(ErrorCode::Forbidden, format!("client group `{group}` belongs to another user")))
        }
        Some(_) => bookkeeping::touch_group(tx, group, now_ms),
        None => bookkeeping::create_group(tx, group, user_id, now_ms),
    }
}

/// Returns the client's LMID, creating it in `group`; refuses a client of another group.
fn claim_client(tx: &SqliteTx<'_>, group: &str, client: &str, now_ms: i64) -> Result<u64, ServerError> {
    match bookkeeping::client(tx, client)? {
        Some((owner, _)) if owner != group => {
            Err(ServerError::new(ErrorCode::Forbidden, format!("client `{client}` belongs to another client group")))
        }
        Some((_, lmid)) => Ok(lmid),
        None if bookkeeping::client_forgotten(tx, client)? => Err(ServerError::new(
            ErrorCode::ClientForgotten,
            format!("client `{client}` was forgotten: start over under a new client id"),
        )),
        None => {
            bookkeeping::create_client(tx, client, group, now_ms)?;
            Ok(0)
        }
    }
}

/// Forgets the recorded errors the client says it has durably applied. Only
/// this group's clients are touched, so a client can clear nothing but its own.
fn drop_applied_errors(tx: &SqliteTx<'_>, group: &str, applied: &BTreeMap<String, u64>) -> Result<(), ServerError> {
    for (client, through) in applied {
        bookkeeping::drop_errors_through(tx, group, client, *through)?;
    }
    Ok(())
}
