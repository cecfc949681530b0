//! Push: run a client group's mutations canonically, exactly once each.
//!
//! Written once over [`PushStorage`]: everything happens in one push
//! transaction ([`PushTx`]; on SQLite a `BEGIN IMMEDIATE` one): ownership
//! checks, the sequence check, each mutation (in its own savepoint on the
//! careful retry), and the last-mutation-id (LMID) bumps. A mutation's writes
//! and its LMID bump therefore commit together or not at all.

use std::collections::BTreeMap;

use crate::mutator::Registry;
use crate::protocol::{ErrorCode, PushRequest, PushResponse};
use crate::server::error::ServerError;
use crate::server::scoped_tx::ScopedTx;
use crate::server::scopes::Scope;
use crate::server::storage::{PushStorage, PushTx};

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

/// Processes a validated push for `user_id` on `db`. `now_ms` stamps bookkeeping rows.
///
/// Mutations first run without savepoints, which is what almost every push
/// needs. If one fails, that attempt is rolled back entirely and the push is
/// run again with a savepoint around each mutation, so exactly the failing
/// mutations are discarded. Mutators are deterministic over the database, so
/// the second run sees and does the same.
pub async fn process<R: Registry, S: PushStorage>(
    db: &S,
    pusher: Pusher<'_, R::Context>,
    request: &PushRequest,
    now_ms: i64,
) -> Result<PushOutcome, ServerError> {
    let mut tries = 0;
    loop {
        match settle::<R, S>(db, pusher, request, now_ms).await {
            Err(e) if e.code == ErrorCode::Busy && tries < S::RETRIES => tries += 1,
            other => return other,
        }
    }
}

/// Who pushes: the user, the context mutators get, and the user's read
/// scope, which every write is held to ([`ScopedTx`]).
pub struct Pusher<'a, Ctx> {
    /// The authenticated user.
    pub user_id: &'a str,
    /// The app's context.
    pub ctx: &'a Ctx,
    /// The user's resolved read rules.
    pub scope: &'a Scope,
}

impl<Ctx> Clone for Pusher<'_, Ctx> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<Ctx> Copy for Pusher<'_, Ctx> {}

/// One push: the optimistic attempt, then if needed the careful one.
async fn settle<R: Registry, S: PushStorage>(
    db: &S,
    pusher: Pusher<'_, R::Context>,
    request: &PushRequest,
    now_ms: i64,
) -> Result<PushOutcome, ServerError> {
    match attempt::<R, S>(db, pusher, request, now_ms, Isolation::Optimistic).await? {
        Some(outcome) => Ok(outcome),
        None => attempt::<R, S>(db, pusher, request, now_ms, Isolation::SavepointPerMutation)
            .await?
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

async fn attempt<R: Registry, S: PushStorage>(
    db: &S,
    pusher: Pusher<'_, R::Context>,
    request: &PushRequest,
    now_ms: i64,
    isolation: Isolation,
) -> Result<Option<PushOutcome>, ServerError> {
    let Pusher { user_id, ctx, scope } = pusher;
    let mut tx = db.begin_push().await?;
    let group = &request.client_group_id;
    claim_group(&mut tx, group, user_id, now_ms).await?;
    drop_applied_errors(&mut tx, group, &request.applied_through).await?;

    // Current LMID of every client in the push, creating unknown clients.
    let mut lmids: BTreeMap<String, u64> = BTreeMap::new();
    for m in &request.mutations {
        if !lmids.contains_key(&m.client_id) {
            let lmid = claim_client(&mut tx, group, &m.client_id, now_ms).await?;
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

    let careful = isolation == Isolation::SavepointPerMutation;
    let mut processed: BTreeMap<&str, u64> = BTreeMap::new();
    let mut transient = None;
    for m in to_run {
        if let Some(abandoned) = &m.abandoned {
            // The client gave up on it: consume its id and tell the client
            // why, like a mutator that failed, without running anything.
            tx.record_error(&m.client_id, m.id, &abandoned.message()).await?;
            processed.insert(&m.client_id, m.id);
            continue;
        }
        if careful {
            tx.savepoint().await?;
        }
        let result = R::dispatch(&mut ScopedTx::new(&mut tx, scope), ctx, &m.name, m.args.get()).await;
        match result {
            Ok(()) if careful => tx.release_savepoint().await?,
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
                tx.rollback_to_savepoint().await?;
                if e.is_transient() {
                    transient = Some(e);
                    break;
                }
                tx.record_error(&m.client_id, m.id, &e.to_string()).await?;
            }
        }
        processed.insert(&m.client_id, m.id);
    }
    let data_changed = tx.changed_user_rows().await?;

    for (client, lmid) in &processed {
        tx.set_lmid(client, *lmid, now_ms).await?;
        lmids.insert((*client).to_owned(), *lmid);
    }
    S::commit_push(tx).await?;
    if let Some(e) = transient {
        return Err(ServerError::new(ErrorCode::Busy, format!("database busy, retry the push: {e}")));
    }
    Ok(Some(PushOutcome {
        response: PushResponse { last_mutation_ids: lmids },
        data_changed,
        anything_committed: !processed.is_empty(),
    }))
}

/// Creates the group for `user_id`, or checks that it is theirs.
async fn claim_group(tx: &mut impl PushTx, group: &str, user_id: &str, now_ms: i64) -> Result<(), ServerError> {
    match tx.group_owner(group).await? {
        Some(owner) if owner != user_id => {
            Err(ServerError::new(ErrorCode::Forbidden, format!("client group `{group}` belongs to another user")))
        }
        Some(_) => tx.touch_group(group, now_ms).await,
        None => tx.create_group(group, user_id, now_ms).await,
    }
}

/// Returns the client's LMID, creating it in `group`; refuses a client of another group.
async fn claim_client(tx: &mut impl PushTx, group: &str, client: &str, now_ms: i64) -> Result<u64, ServerError> {
    match tx.client(client).await? {
        Some((owner, _)) if owner != group => {
            Err(ServerError::new(ErrorCode::Forbidden, format!("client `{client}` belongs to another client group")))
        }
        Some((_, lmid)) => Ok(lmid),
        None if tx.client_forgotten(client).await? => Err(ServerError::new(
            ErrorCode::ClientForgotten,
            format!("client `{client}` was forgotten: start over under a new client id"),
        )),
        None => {
            tx.create_client(client, group, now_ms).await?;
            Ok(0)
        }
    }
}

/// Forgets the recorded errors the client says it has durably applied. Only
/// this group's clients are touched, so a client can clear nothing but its own.
async fn drop_applied_errors(
    tx: &mut impl PushTx,
    group: &str,
    applied: &BTreeMap<String, u64>,
) -> Result<(), ServerError> {
    for (client, through) in applied {
        tx.drop_errors_through(group, client, *through).await?;
    }
    Ok(())
}
