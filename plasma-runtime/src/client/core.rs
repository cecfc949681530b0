//! The client's synchronous core: local state, the pending queue, and rebase.
//!
//! The state readers see (`view`) is always "server snapshot + every pending
//! mutation replayed", own and *foreign* ones (other clients' of the same
//! group, i.e. other tabs, received over a tab channel, see
//! [`crate::client::foreign`]) merged in one order: `(timestamp, client id,
//! id)`. Tabs of one browser share one clock and a new mutation is stamped
//! above every pending one it was made on, so that order is causal: a tab that
//! marks done another tab's unpushed todo sorts after the create in both tabs.
//! Each pending mutation keeps the undo log of its last run, so a rebase undoes
//! them newest first (leaving the snapshot), applies the server's patch, drops
//! what the server processed and replays the rest, all inside one call: no
//! reader ever sees a half-rebased state.
//!
//! No I/O and no clock here: the async client drives it over a transport, and
//! the deterministic simulation drives it directly.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::marker::PhantomData;

use crate::client::error::ClientError;
use crate::client::foreign::{Admission, Foreign, ForeignEntry, ForeignKey};
use crate::client::handle::{MutationFailed, MutationHandle, Resolver};
use crate::client::platform::MaybeSend;
use crate::client::store::{Change, ClientMeta, PageChanges, Persisted, PullCommit, StoreError};
use crate::exec::memory::{MemoryExecutor, UndoLog};
use crate::exec::{Executor, run_ready};
use crate::live::{LiveId, LiveQueries, RowDiff};
use crate::mutator::{InRegistry, Mutator, Registry};
use crate::protocol::{
    AbandonReason, Abandoned, Cookie, MutationRecord, PROTOCOL_VERSION, PatchOp, PullRequest, PullResponse,
    PushRequest, ServerLimits,
};
use crate::query::tree::SelectQuery;
use crate::schema::Schema;
use crate::table::Row;
use crate::wire::row_from_json_text;

/// A mutation waiting for the server.
#[derive(Debug, Clone)]
pub struct Pending {
    /// What goes on the wire.
    pub record: MutationRecord,
    undo: UndoLog,
    /// `record`'s encoded JSON size, computed once: pushes are sized without
    /// re-serializing the queue.
    bytes: usize,
}

/// Counts the bytes written to it.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The size of `value` encoded as JSON, without building the text.
fn encoded_len(value: &impl serde::Serialize) -> Result<usize, serde_json::Error> {
    let mut counter = ByteCounter(0);
    serde_json::to_writer(&mut counter, value)?;
    Ok(counter.0)
}

impl Pending {
    fn new(record: MutationRecord, undo: UndoLog) -> Result<Self, serde_json::Error> {
        let bytes = encoded_len(&record)?;
        Ok(Pending { record, undo, bytes })
    }
}

/// What applying a pull did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Rebase {
    /// Mutations of this client the server answered, with their outcome.
    pub resolved: Vec<(u64, Result<(), MutationFailed>)>,
    /// Whether the client started over as a new client.
    pub reset_client: bool,
    /// Pending mutations whose replay failed this time (no-ops, still pending).
    pub failed_replays: Vec<u64>,
    /// The pull was requested from an older cookie and was ignored.
    pub stale: bool,
    /// Snapshot changes the pull carried.
    pub rows: usize,
}

/// One pull page with its rows decoded.
#[derive(Debug, Clone)]
pub struct DecodedPage {
    /// The page's cookie.
    pub cookie: Cookie,
    /// New last mutation ids of the group's clients.
    pub last_mutation_id_changes: BTreeMap<String, u64>,
    /// Mutations the server processed with an error.
    pub mutation_errors: Vec<crate::protocol::MutationError>,
    /// Snapshot changes, in order. Shared, so a reset's rows can be written
    /// to the store while the same rows are applied to the view.
    pub changes: PageChanges,
    /// The server's limits, if the page carried them.
    pub limits: Option<ServerLimits>,
    /// The store already holds this page's changes in its stage (see
    /// [`Store::begin_stage`](crate::client::Store::begin_stage)); a pull
    /// whose pages are all staged commits by swapping the stage in.
    pub staged: bool,
}

/// Applies a pull's snapshot changes to the view, logging how to undo them.
/// From the last `Clear` on, the pull describes whole tables: they are built
/// in bulk (server pages come in id order, so this is a linear build) and
/// swapped in, one undo entry per table. Before it, or without one, changes
/// apply row by row.
fn apply_snapshot_changes(
    view: &MemoryExecutor,
    schema: &'static Schema,
    pages: Pages<'_>,
    log: &mut UndoLog,
) -> Result<(), crate::error::ExecError> {
    let shared = pages.as_slice();
    let all = || shared.iter().flat_map(|c| c.iter());
    let Some(last_clear) = all().enumerate().filter(|(_, c)| matches!(c, Change::Clear)).map(|(i, _)| i).last() else {
        return apply_row_by_row(view, all(), log);
    };
    let mut tables: Vec<Vec<(String, Option<Row>)>> = schema.tables.iter().map(|_| Vec::new()).collect();
    for change in pages.into_changes().skip(last_clear + 1) {
        let (def, id, row) = match change {
            Change::Clear => continue,
            Change::Put(def, row) => {
                let id = row.pk(def).ok_or_else(|| {
                    crate::error::ExecError::storage(format!("row of `{}` without a text id", def.name))
                })?;
                (def, id.to_owned(), Some(row))
            }
            Change::Del(def, id) => (def, id, None),
        };
        let pos =
            schema.tables.iter().position(|t| t.name == def.name).ok_or_else(|| {
                crate::error::ExecError::storage(format!("table `{}` is not in the schema", def.name))
            })?;
        tables[pos].push((id, row));
    }
    for (def, entries) in schema.tables.iter().zip(tables) {
        // A stable sort keeps equal ids in pull order; the last of each wins,
        // as applying them one by one would, and a del leaves nothing.
        let mut entries = entries;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut latest: Vec<(String, Option<Row>)> = Vec::with_capacity(entries.len());
        for (id, row) in entries {
            match latest.last_mut() {
                Some(last) if last.0 == id => last.1 = row,
                _ => latest.push((id, row)),
            }
        }
        let rows: BTreeMap<String, Row> = latest.into_iter().filter_map(|(id, row)| Some((id, row?))).collect();
        view.replace_table_logged(def, rows, log)?;
    }
    Ok(())
}

/// A pull's changes for the view: its own (moved out where no one else holds
/// them) or shared with the store's commit (copied).
enum Pages<'a> {
    Owned(Vec<PageChanges>),
    Shared(&'a [PageChanges]),
}

impl<'a> Pages<'a> {
    fn as_slice(&self) -> &[PageChanges] {
        match self {
            Pages::Owned(pages) => pages,
            Pages::Shared(pages) => pages,
        }
    }

    /// Every change, owned: moved out of pages nobody else holds.
    fn into_changes(self) -> Box<dyn Iterator<Item = Change> + 'a> {
        match self {
            Pages::Owned(pages) => Box::new(
                pages
                    .into_iter()
                    .flat_map(|page| std::sync::Arc::try_unwrap(page).unwrap_or_else(|shared| shared.as_ref().clone())),
            ),
            Pages::Shared(pages) => Box::new(pages.iter().flat_map(|page| page.iter().cloned())),
        }
    }
}

fn apply_row_by_row<'a>(
    view: &MemoryExecutor,
    changes: impl Iterator<Item = &'a Change>,
    log: &mut UndoLog,
) -> Result<(), crate::error::ExecError> {
    for change in changes {
        match change {
            Change::Clear => view.clear_logged(log),
            Change::Put(def, row) => view.put_row_logged(def, row.clone(), log)?,
            Change::Del(def, id) => view.delete_row_logged(def, id, log)?,
        }
    }
    Ok(())
}

/// Below this many changes a pull is persisted on the calling thread: a
/// thread costs more than it saves.
const PARALLEL_PERSIST_ROWS: usize = 2_000;

/// Runs `side` on a second thread while `main` runs on this one (natively;
/// one after the other on wasm32, which has no threads here).
#[cfg(not(target_arch = "wasm32"))]
fn beside<A: Send, B>(side: impl FnOnce() -> A + Send, main: impl FnOnce() -> B, worth_a_thread: bool) -> (A, B) {
    if !worth_a_thread {
        let a = side();
        return (a, main());
    }
    std::thread::scope(|scope| {
        let side = scope.spawn(side);
        let main = main();
        match side.join() {
            Ok(a) => (a, main),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Frees a large pull's decoded rows off the caller's thread: the view holds
/// its own copies, and a hundred thousand frees need not delay publishing.
#[cfg(not(target_arch = "wasm32"))]
fn release(changes: Vec<PageChanges>) {
    if changes.iter().map(|c| c.len()).sum::<usize>() >= PARALLEL_PERSIST_ROWS {
        // If no thread can be started, the rows are simply freed here.
        let _ = std::thread::Builder::new().name("plasma-free".into()).spawn(move || drop(changes));
    }
}

#[cfg(target_arch = "wasm32")]
fn release(changes: Vec<PageChanges>) {
    drop(changes);
}

#[cfg(target_arch = "wasm32")]
fn beside<A, B>(side: impl FnOnce() -> A, main: impl FnOnce() -> B, _worth_a_thread: bool) -> (A, B) {
    let a = side();
    (a, main())
}

/// The client state machine for the app whose mutators are `R`.
pub struct ClientCore<R: Registry> {
    schema: &'static Schema,
    view: MemoryExecutor,
    pending: VecDeque<Pending>,
    /// Other clients' mutations, applied below `pending`.
    foreign: Foreign,
    meta: ClientMeta,
    client_group_id: String,
    schema_version: String,
    /// Who is waiting for which mutation's answer.
    waiters: BTreeMap<u64, Resolver>,
    /// Live queries over the view, brought up to date after every change.
    live: LiveQueries,
    /// Diffs produced since the owner last took them, oldest first.
    live_out: Vec<(LiveId, RowDiff)>,
    /// The server's limits as last learned from a pull (until then, the
    /// configured defaults): pushes are batched under them.
    limits: ServerLimits,
    /// Size of a push body carrying no mutation and no acknowledgement.
    envelope_bytes: usize,
    _registry: PhantomData<fn() -> R>,
}

impl<R: Registry> ClientCore<R> {
    /// A client with empty local state.
    pub fn new(schema: &'static Schema, client_group_id: String, client_id: String) -> Self {
        let schema_version = schema.version().into_owned();
        let envelope = PushRequest {
            protocol_version: PROTOCOL_VERSION,
            schema_version: schema_version.clone(),
            client_group_id: client_group_id.clone(),
            mutations: Vec::new(),
            applied_through: BTreeMap::new(),
        };
        // Strings and integers always encode; the fallback only keeps this infallible.
        let envelope_bytes = encoded_len(&envelope).unwrap_or(0);
        ClientCore {
            schema,
            view: MemoryExecutor::new(schema),
            pending: VecDeque::new(),
            foreign: Foreign::default(),
            meta: ClientMeta { client_id, next_mutation_id: 1, last_mutation_id: 0, cookie: None },
            client_group_id,
            schema_version,
            waiters: BTreeMap::new(),
            live: LiveQueries::new(),
            live_out: Vec::new(),
            limits: ServerLimits::default(),
            envelope_bytes,
            _registry: PhantomData,
        }
    }

    /// Restores a client from what its store persisted: the server snapshot's
    /// rows, and the pending queue, which is replayed on top.
    pub fn restore(schema: &'static Schema, persisted: Persisted, ctx: &R::Context) -> Result<Self, ClientError> {
        let Persisted { client_group_id, schema_version: _, meta, rows, pending } = persisted;
        let mut core = ClientCore::new(schema, client_group_id, meta.client_id.clone());
        for (table, row) in rows {
            core.view.put_row(table, row)?;
        }
        core.pending = pending
            .into_iter()
            .filter(|record| record.client_id == meta.client_id && record.id > meta.last_mutation_id)
            .map(|record| Pending::new(record, UndoLog::default()))
            .collect::<Result<_, _>>()?;
        core.meta = meta;
        core.replay(ctx);
        Ok(core)
    }

    /// The current state: server snapshot plus pending mutations.
    pub fn view(&self) -> &MemoryExecutor {
        &self.view
    }

    /// Durable facts to persist.
    pub fn meta(&self) -> &ClientMeta {
        &self.meta
    }

    /// This client's id.
    pub fn client_id(&self) -> &str {
        &self.meta.client_id
    }

    /// The client group.
    pub fn client_group_id(&self) -> &str {
        &self.client_group_id
    }

    /// Mutations not yet confirmed, oldest first.
    pub fn pending(&self) -> impl ExactSizeIterator<Item = &MutationRecord> {
        self.pending.iter().map(|p| &p.record)
    }

    /// The schema version this client speaks.
    pub fn schema_version(&self) -> &str {
        &self.schema_version
    }

    /// The schema.
    pub fn schema(&self) -> &'static Schema {
        self.schema
    }

    /// The server's limits pushes are sized under: the last a pull
    /// advertised, or the configured defaults before that.
    pub fn limits(&self) -> ServerLimits {
        self.limits
    }

    /// Sets the limits to assume until a pull advertises the server's.
    pub fn set_limits(&mut self, limits: ServerLimits) {
        self.limits = limits;
    }

    /// The encoded size of a push carrying only pending mutation `id`, or
    /// `None` if it is not pending.
    pub fn push_bytes_of(&self, id: u64) -> Option<usize> {
        self.pending.iter().find(|p| p.record.id == id).map(|p| self.envelope_len() + p.bytes)
    }

    /// Gives up on sending pending mutation `id` because even alone it is too
    /// large for the server: its record becomes *abandoned* (arguments
    /// `null`, the sizes noted), so the server consumes its id and records an
    /// error without running it, and the client's handle resolves with that
    /// rejection through the next pull. Its effect leaves the view at once.
    /// Returns the new record (to persist), or `None` if `id` is not pending
    /// or already abandoned. Ids are never renumbered or dropped: the server
    /// may already hold this one.
    pub fn abandon_too_large(
        &mut self,
        ctx: &R::Context,
        id: u64,
    ) -> Result<Option<(MutationRecord, Abandoned)>, ClientError> {
        let limit = self.limits.max_body_bytes;
        let envelope = self.envelope_len();
        let Some(p) = self.pending.iter_mut().find(|p| p.record.id == id && p.record.abandoned.is_none()) else {
            return Ok(None);
        };
        let abandoned = Abandoned {
            reason: AbandonReason::PayloadTooLarge,
            bytes: (envelope + p.bytes) as u64,
            limit: limit as u64,
        };
        let mut record = p.record.clone();
        record.args = serde_json::value::to_raw_value(&())?;
        record.abandoned = Some(abandoned.clone());
        p.bytes = encoded_len(&record)?;
        p.record = record.clone();
        // Undo logs nest: back to the snapshot, then replay without it.
        undo_all(&self.view, &mut self.pending, &mut self.foreign);
        self.replay(ctx);
        self.flush_live();
        Ok(Some((record, abandoned)))
    }

    /// Runs mutator `M` optimistically and queues it. Returns its record (to
    /// persist) and a handle that resolves with the server's answer, or the
    /// mutator's error, in which case nothing is queued.
    pub fn mutate<M: InRegistry<R> + Mutator<Context = R::Context>>(
        &mut self,
        ctx: &R::Context,
        args: M::Args,
        timestamp: i64,
    ) -> Result<(MutationRecord, MutationHandle), ClientError> {
        let id = self.meta.next_mutation_id;
        // Stamped above every pending mutation it runs on, so it stays on top
        // of them in the apply order here and in every other tab.
        let timestamp = timestamp.max(self.timestamp_floor());
        let record = MutationRecord::new::<M>(self.meta.client_id.clone(), id, &args, timestamp)?;
        let bytes = encoded_len(&record)?;
        // Refused before it runs: a mutation no push can carry would block the queue.
        let body = self.envelope_len() + bytes;
        if body > self.limits.max_body_bytes {
            return Err(ClientError::MutationTooLarge { bytes: body, limit: self.limits.max_body_bytes });
        }
        let ran = run_ready(async {
            let mut tx = self.view.begin().await?;
            M::run(&mut tx, ctx, args).await?;
            Ok::<_, ClientError>(MemoryExecutor::commit_keeping_undo(tx))
        });
        // One notification per transaction; a failed run rolled back, so it
        // nets to nothing.
        self.flush_live();
        let undo = ran??;
        self.meta.next_mutation_id += 1;
        self.pending.push_back(Pending { record: record.clone(), undo, bytes });
        let (resolver, handle) = MutationHandle::pair(self.meta.client_id.clone(), id);
        self.waiters.insert(id, resolver);
        Ok((record, handle))
    }

    /// Takes back the newest mutation (its effects and its id), when it could
    /// not be made durable: a mutation is accepted only once it is stored.
    pub fn abandon_last(&mut self, ctx: &R::Context) {
        if self.pending.is_empty() {
            return;
        }
        // Foreign mutations may have been applied on top of it since.
        undo_all(&self.view, &mut self.pending, &mut self.foreign);
        if let Some(p) = self.pending.pop_back() {
            self.meta.next_mutation_id = p.record.id;
            self.waiters.remove(&p.record.id);
        }
        self.replay(ctx);
        self.flush_live();
    }

    /// The lowest timestamp a new own mutation may carry to sort above every
    /// pending mutation, own and foreign.
    fn timestamp_floor(&self) -> i64 {
        let own = self.pending.back().map(|p| p.record.timestamp);
        let foreign = self.foreign.entries.last_key_value().map(|((ts, client, _), _)| {
            // Same timestamp: the client id decides.
            if self.meta.client_id.as_str() > client.as_str() { *ts } else { ts.saturating_add(1) }
        });
        own.into_iter().chain(foreign).max().unwrap_or(i64::MIN)
    }

    /// The key of the newest own pending mutation in the apply order.
    fn own_top(&self) -> Option<ForeignKey> {
        let ts = self.pending.iter().map(|p| p.record.timestamp).max()?;
        let last = self.pending.back()?;
        Some((ts, self.meta.client_id.clone(), last.record.id))
    }

    /// Starts maintaining `query` over the view (see [`crate::live`]):
    /// returns its id and current rows. Diffs accumulate for
    /// [`take_live_diffs`](Self::take_live_diffs) after every later change.
    pub fn watch(&mut self, query: SelectQuery) -> Result<(LiveId, Vec<crate::table::Row>), ClientError> {
        self.flush_live();
        Ok(self.live.watch(&self.view, query)?)
    }

    /// Stops maintaining a live query and frees its state; its undelivered
    /// diffs are dropped. Returns whether it was live.
    pub fn unwatch(&mut self, id: LiveId) -> bool {
        self.live_out.retain(|(d, _)| *d != id);
        self.live.unwatch(&self.view, id)
    }

    /// The current rows of a live query, or `None` if it is not live.
    pub fn live_rows(&self, id: LiveId) -> Option<Vec<crate::table::Row>> {
        self.live.rows(&self.view, id)
    }

    /// The live queries (for inspection: how many, how many indexes).
    pub fn live_queries(&self) -> &LiveQueries {
        &self.live
    }

    /// The diffs produced since the last call, oldest first: at most one per
    /// live query per transaction (mutation, rebase, abandoned mutation).
    pub fn take_live_diffs(&mut self) -> Vec<(LiveId, RowDiff)> {
        std::mem::take(&mut self.live_out)
    }

    fn flush_live(&mut self) {
        if !self.live.is_empty() {
            let diffs = self.live.flush(&self.view);
            self.live_out.extend(diffs);
        }
    }

    /// A handle on a pending mutation restored from the store (after a restart).
    pub fn handle(&mut self, mutation_id: u64) -> Option<MutationHandle> {
        if !self.pending.iter().any(|p| p.record.id == mutation_id) {
            return None;
        }
        let (resolver, handle) = MutationHandle::pair(self.meta.client_id.clone(), mutation_id);
        self.waiters.insert(mutation_id, resolver);
        Some(handle)
    }

    /// The oldest other client's pending mutation, if it sorts below this
    /// client's first own pending mutation with id above `after` in the apply
    /// order: one that own mutation may have been made on, and that its client
    /// has not had confirmed yet (see
    /// [`ClientBuilder::causal_wait`](crate::client::ClientBuilder::causal_wait)).
    pub fn waits_on_foreign(&self, after: u64) -> Option<&MutationRecord> {
        let (oldest, entry) = self.foreign.entries.first_key_value()?;
        let mut ts = i64::MIN;
        for p in &self.pending {
            ts = ts.max(p.record.timestamp);
            if p.record.id > after {
                let own = (ts, self.meta.client_id.as_str(), p.record.id);
                return ((oldest.0, oldest.1.as_str(), oldest.2) < own).then_some(&entry.record);
            }
        }
        None
    }

    /// The next push: up to `max` pending mutations in order, or `None`.
    pub fn push_request(&self, max: usize) -> Option<PushRequest> {
        self.push_request_after(0, max)
    }

    /// The next push of mutations with id above `after`, or `None`: at most
    /// `max` and the server's `max_mutations_per_push` mutations, in order,
    /// whose encoded body stays within the server's `max_body_bytes`. The
    /// first mutation always goes, even alone over the limit (a 413 for it
    /// leads to [`abandon_too_large`](Self::abandon_too_large)).
    pub fn push_request_after(&self, after: u64, max: usize) -> Option<PushRequest> {
        let count = max.max(1).min(self.limits.max_mutations_per_push.max(1));
        let mut size = self.envelope_len();
        let mut mutations: Vec<MutationRecord> = Vec::new();
        for p in self.pending.iter().filter(|p| p.record.id > after) {
            // A comma separates it from the previous one.
            let grown = size + p.bytes + usize::from(!mutations.is_empty());
            if mutations.len() == count || (!mutations.is_empty() && grown > self.limits.max_body_bytes) {
                break;
            }
            size = grown;
            mutations.push(p.record.clone());
        }
        if mutations.is_empty() {
            return None;
        }
        Some(PushRequest {
            protocol_version: PROTOCOL_VERSION,
            schema_version: self.schema_version.clone(),
            client_group_id: self.client_group_id.clone(),
            mutations,
            applied_through: self.applied_through(),
        })
    }

    /// What a push acknowledges: outcomes up to the confirmed LMID are
    /// durable here, so the server may drop their recorded errors.
    fn applied_through(&self) -> BTreeMap<String, u64> {
        (self.meta.last_mutation_id > 0)
            .then(|| (self.meta.client_id.clone(), self.meta.last_mutation_id))
            .into_iter()
            .collect()
    }

    /// Size of a push body carrying no mutation: the envelope plus, once
    /// something was confirmed, `,"appliedThrough":{..}`.
    fn envelope_len(&self) -> usize {
        let ack = self.applied_through();
        if ack.is_empty() {
            return self.envelope_bytes;
        }
        // A map of a string to an integer always encodes.
        self.envelope_bytes + ",\"appliedThrough\":".len() + encoded_len(&ack).unwrap_or(0)
    }

    /// The next pull request, from `cookie` (the last applied one unless a paged pull is under way).
    pub fn pull_request(&self, cookie: Option<Cookie>) -> PullRequest {
        PullRequest {
            protocol_version: PROTOCOL_VERSION,
            schema_version: self.schema_version.clone(),
            client_group_id: self.client_group_id.clone(),
            cookie,
        }
    }

    /// The cookie of the last pull applied.
    pub fn cookie(&self) -> Option<Cookie> {
        self.meta.cookie.clone()
    }

    /// Rebases onto the pages of one complete pull (all `more` pages, in order)
    /// that was requested from cookie `base`: [`decode_page`](Self::decode_page)
    /// on each, then [`apply_decoded`](Self::apply_decoded).
    pub fn apply_pull(
        &mut self,
        base: &Option<Cookie>,
        pages: &[PullResponse],
        ctx: &R::Context,
        new_client_id: impl FnOnce() -> String,
        persist: impl FnOnce(PullCommit<'_>) -> Result<(), StoreError> + MaybeSend,
    ) -> Result<Rebase, ClientError> {
        let decoded = pages.iter().map(|p| Self::decode_page(self.schema, p)).collect::<Result<Vec<_>, _>>()?;
        self.apply_decoded(base, decoded, ctx, new_client_id, persist)
    }

    /// Decodes one pull page's rows with the schema. Needs no access to the
    /// client, so a pull is decoded outside the client's lock.
    pub fn decode_page(schema: &'static Schema, page: &PullResponse) -> Result<DecodedPage, ClientError> {
        let mut changes = Vec::with_capacity(page.patch.len());
        for op in &page.patch {
            match op {
                PatchOp::Clear => changes.push(Change::Clear),
                PatchOp::Put { table, row } => {
                    // Tables this build does not know (a newer server) are skipped.
                    let Some(def) = schema.table(table) else { continue };
                    changes.push(Change::Put(def, row_from_json_text(def, row)?));
                }
                PatchOp::Del { table, id } => {
                    if let Some(def) = schema.table(table) {
                        changes.push(Change::Del(def, id.clone()));
                    }
                }
            }
        }
        Ok(DecodedPage {
            cookie: page.cookie.clone(),
            last_mutation_id_changes: page.last_mutation_id_changes.clone(),
            mutation_errors: page.mutation_errors.clone(),
            changes: std::sync::Arc::new(changes),
            limits: page.limits,
            staged: false,
        })
    }

    /// Decodes the pages of one pull; natively, a large pull is split across
    /// two threads.
    pub fn decode_pages(schema: &'static Schema, pages: Vec<PullResponse>) -> Result<Vec<DecodedPage>, ClientError> {
        let rows: usize = pages.iter().map(|p| p.patch.len()).sum();
        if pages.len() < 2 || rows < PARALLEL_PERSIST_ROWS {
            return pages.iter().map(|p| Self::decode_page(schema, p)).collect();
        }
        let mut first = pages;
        let second = first.split_off(first.len() / 2);
        // Each half is also freed on the thread that decoded it.
        let decode = |pages: Vec<PullResponse>| {
            pages.iter().map(|p| Self::decode_page(schema, p)).collect::<Result<Vec<_>, _>>()
        };
        let (head, tail) = beside(|| decode(first), || decode(second), true);
        let mut head = head?;
        head.extend(tail?);
        Ok(head)
    }

    /// Rebases onto the decoded pages of one complete pull that was requested
    /// from cookie `base`. A pull from another cookie than the current one is
    /// stale (late, duplicated or reordered) and ignored. `new_client_id` is
    /// used only if the server no longer knows this client.
    ///
    /// `persist` records the pull durably. Natively it runs on a second thread
    /// while the view is rebased; the new state is kept only if it succeeds,
    /// and the caller publishes it (by releasing the client lock) after both.
    ///
    /// Live queries get one diff each for the whole rebase, with only the
    /// net difference: a pending row the server confirmed unchanged is no change.
    pub fn apply_decoded(
        &mut self,
        base: &Option<Cookie>,
        pages: Vec<DecodedPage>,
        ctx: &R::Context,
        new_client_id: impl FnOnce() -> String,
        persist: impl FnOnce(PullCommit<'_>) -> Result<(), StoreError> + MaybeSend,
    ) -> Result<Rebase, ClientError> {
        // The server's limits are facts about the server, whatever the cookie.
        if let Some(limits) = pages.iter().rev().find_map(|p| p.limits) {
            self.limits = limits;
        }
        let result = self.rebase_onto(base, pages, ctx, new_client_id, persist);
        self.flush_live();
        result
    }

    fn rebase_onto(
        &mut self,
        base: &Option<Cookie>,
        pages: Vec<DecodedPage>,
        ctx: &R::Context,
        new_client_id: impl FnOnce() -> String,
        persist: impl FnOnce(PullCommit<'_>) -> Result<(), StoreError> + MaybeSend,
    ) -> Result<Rebase, ClientError> {
        let Some(last) = pages.last() else { return Ok(Rebase::default()) };
        if *base != self.meta.cookie {
            return Ok(Rebase { stale: true, ..Rebase::default() });
        }
        let cookie = Some(last.cookie.clone());
        let mut errors: BTreeMap<u64, String> = BTreeMap::new();
        let mut foreign_errors: BTreeSet<(String, u64)> = BTreeSet::new();
        let mut lmid = None;
        let mut lmids: BTreeMap<String, u64> = BTreeMap::new();
        let staged = pages.iter().all(|p| p.staged);
        let mut changes = Vec::with_capacity(pages.len());
        for page in pages {
            // A reset that restarted midway (its group was forgotten, its
            // cookie fell below the horizon) starts again with a clear: what
            // the pages before it said no longer holds.
            if page.changes.iter().any(|c| matches!(c, Change::Clear)) {
                lmid = None;
                lmids.clear();
                errors.clear();
                foreign_errors.clear();
            }
            for (client, l) in &page.last_mutation_id_changes {
                let known = lmids.entry(client.clone()).or_default();
                *known = (*known).max(*l);
            }
            if let Some(l) = page.last_mutation_id_changes.get(&self.meta.client_id) {
                lmid = Some(*l);
            }
            for e in page.mutation_errors {
                if e.client_id == self.meta.client_id {
                    errors.insert(e.mutation_id, e.message);
                } else {
                    foreign_errors.insert((e.client_id, e.mutation_id));
                }
            }
            changes.push(page.changes);
        }
        let count: usize = changes.iter().map(|c| c.len()).sum();
        let saw_clear = changes.iter().flat_map(|c| c.iter()).any(|c| matches!(c, Change::Clear));
        // The server has forgotten this client: start over as a new one,
        // keeping nothing that was built on the old identity.
        let forgotten = saw_clear && lmid.is_none() && self.meta.last_mutation_id > 0;
        let meta = if forgotten {
            ClientMeta { client_id: new_client_id(), next_mutation_id: 1, last_mutation_id: 0, cookie }
        } else {
            ClientMeta {
                last_mutation_id: lmid.map_or(self.meta.last_mutation_id, |l| l.max(self.meta.last_mutation_id)),
                cookie,
                ..self.meta.clone()
            }
        };
        // A staged pull's store already has its rows, so the view may take
        // them instead of copying them.
        let owned = if staged { std::mem::take(&mut changes) } else { Vec::new() };
        let commit =
            PullCommit { schema: self.schema, meta: &meta, last_mutation_ids: &lmids, changes: &changes, staged };
        let view = &self.view;
        let schema = self.schema;
        let pending = &mut self.pending;
        let foreign = &mut self.foreign;
        let (persisted, applied) = beside(
            move || persist(commit),
            || -> Result<UndoLog, ClientError> {
                // Back to the server snapshot: undo pending mutations, newest
                // first (own, then foreign).
                undo_all(view, pending, foreign);
                let mut log = UndoLog::default();
                let source = if staged { Pages::Owned(owned) } else { Pages::Shared(&changes) };
                if let Err(e) = apply_snapshot_changes(view, schema, source, &mut log) {
                    view.undo(log);
                    return Err(e.into());
                }
                Ok(log)
            },
            count >= PARALLEL_PERSIST_ROWS,
        );
        let failed = match (persisted, applied) {
            (Ok(()), Ok(_)) => None,
            (Err(e), applied) => Some((ClientError::from(e), applied.ok())),
            (Ok(()), Err(e)) => Some((e, None)),
        };
        if let Some((error, log)) = failed {
            // Nothing changes: back to the old snapshot with pending replayed.
            if let Some(log) = log {
                self.view.undo(log);
            }
            self.replay(ctx);
            return Err(error);
        }
        let mut rebase = Rebase { rows: count, ..Rebase::default() };
        release(changes);
        self.meta = meta;
        self.foreign.confirm(&lmids, &foreign_errors);
        if forgotten {
            self.foreign.clear();
            let dropped: Vec<u64> = self.pending.drain(..).map(|p| p.record.id).collect();
            for id in dropped {
                self.resolve(
                    &mut rebase,
                    id,
                    Err(MutationFailed::Dropped("the server no longer knows this client".into())),
                );
            }
            rebase.reset_client = true;
            return Ok(rebase);
        }
        while self.pending.front().is_some_and(|p| p.record.id <= self.meta.last_mutation_id) {
            if let Some(done) = self.pending.pop_front() {
                let outcome =
                    errors.remove(&done.record.id).map_or(Ok(()), |message| Err(MutationFailed::Rejected(message)));
                self.resolve(&mut rebase, done.record.id, outcome);
            }
        }
        rebase.failed_replays = self.replay(ctx);
        Ok(rebase)
    }

    /// Starts over as a new client after the server refused this one as
    /// forgotten (`client_forgotten`). Whether the server applied the pending
    /// mutations before forgetting is unknowable, so none is sent again: each
    /// resolves `Dropped`, the view goes back to the last server snapshot
    /// (their effects, if the server kept any, come with the next pull), and
    /// the cookie is dropped so that pull is a reset. `persist` records the
    /// new identity (a pull commit with no changes); if it fails, nothing
    /// changes.
    pub fn start_over(
        &mut self,
        new_client_id: String,
        ctx: &R::Context,
        persist: impl FnOnce(PullCommit<'_>) -> Result<(), StoreError>,
    ) -> Result<Rebase, ClientError> {
        let meta = ClientMeta { client_id: new_client_id, next_mutation_id: 1, last_mutation_id: 0, cookie: None };
        undo_all(&self.view, &mut self.pending, &mut self.foreign);
        let none = BTreeMap::new();
        if let Err(e) = persist(PullCommit {
            schema: self.schema,
            meta: &meta,
            last_mutation_ids: &none,
            changes: &[],
            staged: false,
        }) {
            self.replay(ctx);
            self.flush_live();
            return Err(e.into());
        }
        self.meta = meta;
        self.foreign.clear();
        let mut rebase = Rebase { reset_client: true, ..Rebase::default() };
        let dropped: Vec<u64> = self.pending.drain(..).map(|p| p.record.id).collect();
        for id in dropped {
            self.resolve(&mut rebase, id, Err(MutationFailed::Dropped("the server forgot this client".into())));
        }
        self.flush_live();
        Ok(rebase)
    }

    fn resolve(&mut self, rebase: &mut Rebase, id: u64, outcome: Result<(), MutationFailed>) {
        if let Some(waiter) = self.waiters.remove(&id) {
            waiter.resolve(outcome.clone());
        }
        rebase.resolved.push((id, outcome));
    }

    /// Replays every pending mutation on the view in the apply order,
    /// recording fresh undo logs; the view must be at the snapshot. A mutator
    /// that fails is a no-op for this replay and stays pending. Returns the
    /// own mutations that failed.
    fn replay(&mut self, ctx: &R::Context) -> Vec<u64> {
        let mut failed = Vec::new();
        for slot in apply_order(&self.pending, &self.foreign) {
            match slot {
                Slot::Own(i) => {
                    let p = &mut self.pending[i];
                    if p.record.abandoned.is_some() {
                        // Given up on: it has no effect anywhere.
                        p.undo = UndoLog::default();
                        continue;
                    }
                    match run_record::<R>(&self.view, ctx, &p.record) {
                        Some(undo) => p.undo = undo,
                        None => {
                            p.undo = UndoLog::default();
                            failed.push(p.record.id);
                        }
                    }
                }
                Slot::Foreign(key) => {
                    if let Some(entry) = self.foreign.entries.get_mut(&key) {
                        entry.undo = run_foreign::<R>(&self.view, ctx, &entry.record);
                    }
                }
            }
        }
        failed
    }

    /// Applies another client's mutation record (another tab's, received
    /// over a [`TabChannel`](crate::client::TabChannel)) to the view as a
    /// *foreign pending mutation*, in the `(timestamp, client id, id)` order
    /// all pending mutations apply in (see the module docs). It is never
    /// pushed from here; it leaves the view when a pull reports its client's
    /// last mutation id at or past it (or its error), or when this client
    /// resets. A mutator that fails here (or that this build does not know)
    /// makes it a no-op. Ignored: this client's own records, records a pull
    /// already confirmed, and duplicates; a record with the key of a held one
    /// but other contents (abandoned since) replaces it. At most
    /// [`MAX_FOREIGN_PENDING`](crate::client::foreign::MAX_FOREIGN_PENDING)
    /// are kept (the oldest go). Live queries get one diff. Returns whether
    /// the record was taken.
    pub fn apply_foreign(&mut self, ctx: &R::Context, record: MutationRecord) -> bool {
        let admission = self.foreign.admission(&self.meta.client_id, &record, self.own_top().as_ref());
        if admission == Admission::Ignored {
            return false;
        }
        if admission == Admission::OnTop {
            let undo = run_foreign::<R>(&self.view, ctx, &record);
            self.foreign.insert(ForeignEntry { record, undo });
        } else {
            undo_all(&self.view, &mut self.pending, &mut self.foreign);
            self.foreign.insert(ForeignEntry { record, undo: UndoLog::default() });
            self.replay(ctx);
        }
        self.flush_live();
        true
    }

    /// Foreign pending mutations, in the order they apply.
    pub fn foreign_pending(&self) -> impl ExactSizeIterator<Item = &MutationRecord> {
        self.foreign.entries.values().map(|e| &e.record)
    }

    /// Sets the most foreign pending mutations kept (default
    /// [`MAX_FOREIGN_PENDING`](crate::client::foreign::MAX_FOREIGN_PENDING));
    /// takes effect with the next one applied.
    pub fn set_max_foreign_pending(&mut self, max: usize) {
        self.foreign.set_cap(max);
    }
}

/// A pending mutation's place in the apply order.
enum Slot {
    /// `pending[i]`.
    Own(usize),
    /// The foreign entry with this key.
    Foreign(ForeignKey),
}

/// Every pending mutation, own and foreign, in the order they apply:
/// `(timestamp, client id, id)`. Own ones keep their id order whatever their
/// stamps (each sorts at the highest stamp of itself and those before it).
fn apply_order(pending: &VecDeque<Pending>, foreign: &Foreign) -> Vec<Slot> {
    if foreign.entries.is_empty() {
        return (0..pending.len()).map(Slot::Own).collect();
    }
    let mut keyed: Vec<((i64, &str, u64), Slot)> = Vec::with_capacity(pending.len() + foreign.entries.len());
    let mut ts = i64::MIN;
    for (i, p) in pending.iter().enumerate() {
        ts = ts.max(p.record.timestamp);
        keyed.push(((ts, p.record.client_id.as_str(), p.record.id), Slot::Own(i)));
    }
    for key in foreign.entries.keys() {
        keyed.push(((key.0, key.1.as_str(), key.2), Slot::Foreign(key.clone())));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.into_iter().map(|(_, slot)| slot).collect()
}

/// Undoes every pending mutation, newest first in the apply order.
fn undo_all(view: &MemoryExecutor, pending: &mut VecDeque<Pending>, foreign: &mut Foreign) {
    for slot in apply_order(pending, foreign).into_iter().rev() {
        match slot {
            Slot::Own(i) => view.undo(std::mem::take(&mut pending[i].undo)),
            Slot::Foreign(key) => {
                if let Some(entry) = foreign.entries.get_mut(&key) {
                    view.undo(std::mem::take(&mut entry.undo));
                }
            }
        }
    }
}

/// Runs a foreign record on the view: its undo log, or an empty one if it is
/// abandoned or its mutator fails (a no-op).
fn run_foreign<R: Registry>(view: &MemoryExecutor, ctx: &R::Context, record: &MutationRecord) -> UndoLog {
    if record.abandoned.is_some() {
        return UndoLog::default();
    }
    run_record::<R>(view, ctx, record).unwrap_or_default()
}

/// Runs `record`'s mutator in one transaction on the view: its undo log, or
/// `None` if it failed (and changed nothing).
fn run_record<R: Registry>(view: &MemoryExecutor, ctx: &R::Context, record: &MutationRecord) -> Option<UndoLog> {
    let result = run_ready(async {
        let mut tx = view.begin().await?;
        R::dispatch(&mut tx, ctx, &record.name, record.args.get())
            .await
            .map_err(|e| ClientError::Replay(e.to_string()))?;
        Ok::<_, ClientError>(MemoryExecutor::commit_keeping_undo(tx))
    });
    match result {
        Ok(Ok(undo)) => Some(undo),
        _ => None,
    }
}
