//! The background tasks of a started client: the sync loop (push, then pull
//! and rebase; wait for a wake-up or the pull interval; back off on failure)
//! and the poke listener.
//!
//! The loop holds the client only weakly while it waits, so dropping the last
//! [`Client`](crate::client::Client) ends it.

use std::sync::{Arc, Weak};

use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender};
use futures_channel::oneshot;
use futures_util::StreamExt;
use futures_util::future::{Either, select};

use crate::client::backoff::{Backoff, BackoffConfig};
use crate::client::error::ClientError;
use crate::client::events::{ClientEvent, SyncStatus};
use crate::client::platform::{Platform, Transport, TransportError};
use crate::client::pull_stream::PullPages;
use crate::client::shared::{Shared, Wake};
use crate::mutator::Registry;
use crate::protocol::ErrorCode;

/// Why a sync attempt ended early.
enum Failure {
    /// Try again after a backoff.
    Retry,
    /// Stop syncing and show this status until resumed.
    Fatal(SyncStatus),
}

/// What the loop remembers between attempts.
struct LoopState {
    pull_due: bool,
    /// (client id, mutation id) pushed successfully and not yet seen in a pull.
    pushed: Option<(String, u64)>,
    batch: usize,
    /// The other tab's mutation (client id, id) this client's push waits
    /// for, and since when (platform ms). Keyed by that mutation, so once the
    /// wait for it ran out, later own mutations do not wait for it again.
    held: Option<((String, u64), i64)>,
    /// The last attempt withheld a push for [`held`](Self::held).
    holding: bool,
}

/// How the loop waits before the next attempt.
enum Wait {
    Interval,
    /// A push is held for other tabs' earlier mutations: look again after
    /// this long (or at the next poke).
    Held(std::time::Duration),
    Backoff(std::time::Duration),
    UntilResume,
}

pub(crate) async fn run<R: Registry>(weak: Weak<Shared<R>>, mut wake: UnboundedReceiver<Wake>) {
    let Some(shared) = weak.upgrade() else { return };
    let config = shared.config.clone();
    let platform = Arc::clone(&shared.platform);
    drop(shared);
    let mut backoff = Backoff::new(config.backoff);
    let mut state = LoopState { pull_due: true, pushed: None, batch: config.push_batch, held: None, holding: false };
    let mut parked = false;
    loop {
        let wait = if parked {
            Wait::UntilResume
        } else {
            let Some(shared) = weak.upgrade() else { return };
            match sync_once(&shared, &mut state).await {
                Ok(()) => {
                    backoff.reset();
                    let pending = shared.lock_core().map(|c| c.pending().len()).unwrap_or(0);
                    shared.set_status(if pending == 0 { SyncStatus::InSync } else { SyncStatus::Syncing });
                    match &state.held {
                        Some((_, since)) if state.holding => {
                            let waited = u64::try_from(platform.now_ms().saturating_sub(*since)).unwrap_or(0);
                            let left = config.causal_wait.saturating_sub(std::time::Duration::from_millis(waited));
                            // Pulls at least every 250 ms meanwhile: without pokes
                            // that is how the other tab's confirmation shows.
                            Wait::Held(left.min(std::time::Duration::from_millis(250)))
                        }
                        _ => Wait::Interval,
                    }
                }
                Err(Failure::Retry) => {
                    shared.set_status(SyncStatus::Offline);
                    Wait::Backoff(backoff.next_delay(platform.random_u64()))
                }
                Err(Failure::Fatal(status)) => {
                    shared.set_status(status);
                    parked = true;
                    Wait::UntilResume
                }
            }
        };
        let sleep = match wait {
            Wait::Interval => Some(platform.sleep(config.pull_interval)),
            Wait::Held(delay) => Some(platform.sleep(delay)),
            Wait::Backoff(delay) => Some(platform.sleep(delay)),
            Wait::UntilResume => None,
        };
        let backing_off = matches!(wait, Wait::Backoff(_));
        let mut sleep = sleep;
        loop {
            let next = wake.next();
            let woke = match sleep.as_mut() {
                Some(timer) => match select(next, timer).await {
                    Either::Left((message, _)) => message,
                    Either::Right(((), _)) => {
                        state.pull_due |= !backing_off;
                        break;
                    }
                },
                None => next.await,
            };
            match woke {
                // The last client is gone.
                None => return,
                Some(Wake::Resume) => {
                    parked = false;
                    state.pull_due = true;
                    break;
                }
                Some(Wake::Poke) if !parked => {
                    state.pull_due = true;
                    break;
                }
                // New mutations go out now, unless the server is failing.
                Some(Wake::Push) if !parked && !backing_off => break,
                Some(_) => {}
            }
        }
    }
}

async fn sync_once<R: Registry>(shared: &Shared<R>, state: &mut LoopState) -> Result<(), Failure> {
    state.holding = false;
    loop {
        let request = {
            let core = shared.lock_core().map_err(failure)?;
            let after = match &state.pushed {
                Some((client, through)) if client == core.client_id() => *through,
                _ => 0,
            };
            if let Some(blocker) = core.waits_on_foreign(after) {
                let now = shared.platform.now_ms();
                let blocker = (blocker.client_id.clone(), blocker.id);
                let since = match &state.held {
                    Some((held, since)) if *held == blocker => *since,
                    _ => now,
                };
                state.held = Some((blocker, since));
                let waited = u64::try_from(now.saturating_sub(since)).unwrap_or(0);
                if u128::from(waited) < shared.config.causal_wait.as_millis() {
                    // A pull shows when the other tab's mutations are confirmed.
                    state.pull_due = true;
                    state.holding = true;
                    None
                } else {
                    core.push_request_after(after, state.batch)
                }
            } else {
                // `held` stays: if the same mutation blocks again, its wait is over.
                core.push_request_after(after, state.batch)
            }
        };
        let Some(request) = request else { break };
        // The server must never hold a mutation this client could still forget.
        shared.store.flush().await.map_err(|e| failure(e.into()))?;
        let through = request.mutations.last().map(|m| (m.client_id.clone(), m.id));
        let sent = request.mutations.len();
        match shared.transport.push(request).await {
            Ok(_) => {
                state.pushed = through;
                state.pull_due = true;
            }
            Err(TransportError::Server { body, .. }) if body.error == ErrorCode::PayloadTooLarge => {
                too_large(shared, state, sent, through).await?;
            }
            Err(TransportError::Server { body, .. }) if body.error == ErrorCode::ClientForgotten => {
                start_over(shared)?;
                state.pushed = None;
                state.pull_due = true;
            }
            Err(e) => return Err(classify(e, state)),
        }
    }
    if state.pull_due {
        pull(shared, state).await?;
        state.pull_due = false;
        // Whatever is still pending was not pushed yet, or the server lost it:
        // pushing it (again) is safe, the server skips what it has.
        state.pushed = None;
    }
    Ok(())
}

/// The server forgot this client: it may or may not have applied what it
/// had, so nothing pending is sent again. The client starts over under a new
/// id (its pending mutations resolve `Dropped`) and the next pull is a reset.
fn start_over<R: Registry>(shared: &Shared<R>) -> Result<(), Failure> {
    let client_id = {
        let ctx = (shared.context)();
        let mut core = shared.lock_core().map_err(failure)?;
        let store = &shared.store;
        core.start_over(shared.new_id(), &ctx, |commit| store.commit_pull(commit))
            .map_err(|e| store_failure(shared, e))?;
        let client_id = core.client_id().to_owned();
        shared.publish(core);
        client_id
    };
    shared.emit(ClientEvent::Reset { client_id });
    shared.emit(ClientEvent::Changed);
    Ok(())
}

/// A push of `sent` mutations, the last `through`, got 413. Pulls first, to
/// learn the server's current limits (and whether it already holds them),
/// then pushes a larger batch again in halves; a single mutation is
/// abandoned (see [`ClientCore::abandon_too_large`]) so it cannot block the
/// queue. Never loops: each step shrinks the batch or abandons a mutation.
async fn too_large<R: Registry>(
    shared: &Shared<R>,
    state: &mut LoopState,
    sent: usize,
    through: Option<(String, u64)>,
) -> Result<(), Failure> {
    pull(shared, state).await?;
    state.pull_due = false;
    state.pushed = None;
    if sent > 1 {
        state.batch = (sent / 2).max(1);
        return Ok(());
    }
    let Some((client_id, id)) = through else { return Ok(()) };
    let abandoned = {
        let ctx = (shared.context)();
        let mut core = shared.lock_core().map_err(failure)?;
        if core.client_id() != client_id || core.push_bytes_of(id).is_none() {
            // The server already had it (an earlier answer was lost), or the client reset.
            return Ok(());
        }
        let Some((record, abandoned)) = core.abandon_too_large(&ctx, id).map_err(failure)? else {
            // Even abandoned it is refused: the server's limit cannot carry an
            // empty mutation. Back off rather than spin.
            return Err(Failure::Retry);
        };
        // Durable, so a restart does not send the large body again. If the
        // store fails, a restart sends it once more and abandons it again.
        if let Err(e) = shared.store.replace_pending(&record) {
            shared.emit(ClientEvent::StoreFailed(e));
        }
        shared.publish(core);
        // The other tabs replace their copy: it becomes a no-op there too.
        shared.broadcast(&record);
        abandoned
    };
    state.batch = shared.config.push_batch;
    shared.emit(ClientEvent::MutationTooLarge { mutation_id: id, bytes: abandoned.bytes, limit: abandoned.limit });
    shared.emit(ClientEvent::Changed);
    Ok(())
}

async fn pull<R: Registry>(shared: &Shared<R>, state: &mut LoopState) -> Result<(), Failure> {
    let (base, mut request) = {
        let core = shared.lock_core().map_err(failure)?;
        let cookie = core.cookie();
        (cookie.clone(), core.pull_request(cookie))
    };
    let mut pages = PullPages::<R>::new(shared.schema, Arc::clone(&shared.store));
    let (mut count, mut rows) = (0, 0);
    loop {
        let page = shared.transport.pull(request.clone()).await.map_err(|e| classify(e, state))?;
        rows += page.patch.len();
        count += 1;
        let more = page.more;
        request.cookie = Some(page.cookie.clone());
        // Decoded (and for a reset, written to the store's stage) outside the
        // lock: readers and mutations go on meanwhile.
        pages.push(page).map_err(|e| store_failure(shared, e))?;
        shared.emit(ClientEvent::PullProgress { pages: count, rows, done: !more });
        if !more {
            break;
        }
    }
    let (pages, persist) = pages.finish().map_err(|e| store_failure(shared, e))?;
    let (rebase, client_id) = {
        let ctx = (shared.context)();
        let mut core = shared.lock_core().map_err(failure)?;
        let rebase = core
            .apply_decoded(&base, pages, &ctx, || shared.new_id(), |commit| persist.commit(commit))
            .map_err(|e| store_failure(shared, e))?;
        let client_id = core.client_id().to_owned();
        shared.publish(core);
        (rebase, client_id)
    };
    if rebase.reset_client {
        shared.emit(ClientEvent::Reset { client_id });
    }
    if rebase.rows > 0 || !rebase.resolved.is_empty() {
        shared.emit(ClientEvent::Changed);
    }
    Ok(())
}

/// Reports a store failure to the app, then classifies it.
fn store_failure<R: Registry>(shared: &Shared<R>, e: ClientError) -> Failure {
    if let ClientError::Store(e) = &e {
        shared.emit(ClientEvent::StoreFailed(e.clone()));
    }
    failure(e)
}

fn failure(e: ClientError) -> Failure {
    match e {
        // Rows this build cannot decode: the server runs a newer schema.
        ClientError::Decode(_) => Failure::Fatal(SyncStatus::UpdateNeeded),
        _ => Failure::Retry,
    }
}

fn classify(e: TransportError, state: &mut LoopState) -> Failure {
    let TransportError::Server { body, .. } = e else { return Failure::Retry };
    match body.error {
        ErrorCode::Unauthorized | ErrorCode::Forbidden => Failure::Fatal(SyncStatus::Unauthorized),
        ErrorCode::UnsupportedProtocolVersion | ErrorCode::SchemaVersionMismatch | ErrorCode::UnknownMutator => {
            Failure::Fatal(SyncStatus::UpdateNeeded)
        }
        ErrorCode::OutOfOrderMutation => {
            // The server is further along than we thought: learn where from a pull.
            state.pull_due = true;
            state.pushed = None;
            Failure::Retry
        }
        ErrorCode::PayloadTooLarge => {
            state.batch = (state.batch / 2).max(1);
            Failure::Retry
        }
        // A newer server's code: its body says whether retrying can help. If
        // not, this build cannot act on it: the app needs an update.
        ErrorCode::Unknown if body.retryable => Failure::Retry,
        ErrorCode::Unknown => Failure::Fatal(SyncStatus::UpdateNeeded),
        _ => Failure::Retry,
    }
}

/// Keeps a poke connection open (reconnecting with backoff) and turns each
/// poke into a wake-up of the sync loop, until the client is dropped.
pub(crate) async fn listen_for_pokes(
    transport: Arc<dyn Transport>,
    platform: Arc<dyn Platform>,
    wake: UnboundedSender<Wake>,
    mut shutdown: oneshot::Receiver<()>,
    client_group_id: String,
    backoff: BackoffConfig,
) {
    let mut backoff = Backoff::new(backoff);
    loop {
        let connected = match select(transport.pokes(&client_group_id), &mut shutdown).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => return,
        };
        match connected {
            Ok(mut pokes) => {
                backoff.reset();
                loop {
                    match select(pokes.next(), &mut shutdown).await {
                        Either::Left((Some(()), _)) => {
                            if wake.unbounded_send(Wake::Poke).is_err() {
                                return;
                            }
                        }
                        Either::Left((None, _)) => break,
                        Either::Right(_) => return,
                    }
                }
            }
            Err(TransportError::Unsupported(_)) => return,
            Err(_) => {}
        }
        let delay = backoff.next_delay(platform.random_u64());
        if let Either::Right(_) = select(platform.sleep(delay), &mut shutdown).await {
            return;
        }
    }
}
