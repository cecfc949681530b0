//! The client's synchronous core: local state, the pending queue, and rebase.
//!
//! The state readers see (`view`) is always "server snapshot + pending
//! mutations replayed". Each pending mutation keeps the undo log of its last
//! run, so a rebase undoes them newest first (leaving the snapshot), applies
//! the server's patch, drops what the server processed and replays the rest,
//! all inside one call: no reader ever sees a half-rebased state.
//!
//! No I/O and no clock here: the async client drives it over a transport, and
//! the deterministic simulation drives it directly.

use std::collections::{BTreeMap, VecDeque};
use std::marker::PhantomData;

use crate::client::error::ClientError;
use crate::exec::memory::{MemoryExecutor, UndoLog};
use crate::exec::{Executor, run_ready};
use crate::mutator::{Mutator, Registry};
use crate::protocol::{Cookie, MutationRecord, PROTOCOL_VERSION, PatchOp, PullRequest, PullResponse, PushRequest};
use crate::schema::Schema;
use crate::wire::row_from_json;

/// A mutation waiting for the server.
#[derive(Debug, Clone)]
pub struct Pending {
    /// What goes on the wire.
    pub record: MutationRecord,
    undo: UndoLog,
}

/// How the server answered one of this client's mutations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied canonically.
    Ok,
    /// The server ran it and it failed; its writes were discarded everywhere.
    Rejected(String),
    /// The client reset (its group was forgotten by the server); the mutation was dropped.
    Dropped(String),
}

/// What applying a pull did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rebase {
    /// Mutations of this client the server answered, with their outcome.
    pub resolved: Vec<(u64, Outcome)>,
    /// Whether the client started over as a new client.
    pub reset_client: bool,
    /// Pending mutations whose replay failed this time (no-ops, still pending).
    pub failed_replays: Vec<u64>,
    /// The pull was requested from an older cookie and was ignored.
    pub stale: bool,
}

/// Durable facts about a client, as persisted between runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMeta {
    /// This client's id.
    pub client_id: String,
    /// The next mutation id to hand out.
    pub next_mutation_id: u64,
    /// The last mutation id the server confirmed.
    pub last_mutation_id: u64,
    /// The cookie of the last pull applied.
    pub cookie: Option<Cookie>,
}

/// The client state machine for the app whose mutators are `R`.
pub struct ClientCore<R: Registry> {
    schema: &'static Schema,
    view: MemoryExecutor,
    pending: VecDeque<Pending>,
    meta: ClientMeta,
    client_group_id: String,
    schema_version: String,
    _registry: PhantomData<fn() -> R>,
}

impl<R: Registry> ClientCore<R> {
    /// A client with empty local state.
    pub fn new(schema: &'static Schema, client_group_id: String, schema_version: String, client_id: String) -> Self {
        ClientCore {
            schema,
            view: MemoryExecutor::new(schema),
            pending: VecDeque::new(),
            meta: ClientMeta { client_id, next_mutation_id: 1, last_mutation_id: 0, cookie: None },
            client_group_id,
            schema_version,
            _registry: PhantomData,
        }
    }

    /// Restores a client from persisted state: the server snapshot's rows and
    /// the pending queue, which is replayed on top.
    pub fn restore(
        schema: &'static Schema,
        client_group_id: String,
        schema_version: String,
        meta: ClientMeta,
        snapshot: Vec<(&'static crate::schema::TableDef, crate::table::Row)>,
        pending: Vec<MutationRecord>,
        ctx: &R::Context,
    ) -> Result<Self, ClientError> {
        let mut core = ClientCore::new(schema, client_group_id, schema_version, meta.client_id.clone());
        core.meta = meta;
        for (table, row) in snapshot {
            core.view.put_row(table, row)?;
        }
        core.pending = pending.into_iter().map(|record| Pending { record, undo: UndoLog::default() }).collect();
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

    /// Runs mutator `M` optimistically and queues it. Returns its record (to
    /// persist) or the mutator's error, in which case nothing is queued.
    pub fn mutate<M: Mutator<Context = R::Context>>(
        &mut self,
        ctx: &R::Context,
        args: M::Args,
        timestamp: i64,
    ) -> Result<MutationRecord, ClientError> {
        let id = self.meta.next_mutation_id;
        let record = MutationRecord::new::<M>(self.meta.client_id.clone(), id, &args, timestamp)?;
        let undo = run_ready(async {
            let mut tx = self.view.begin().await?;
            M::run(&mut tx, ctx, args).await?;
            Ok::<_, ClientError>(MemoryExecutor::commit_keeping_undo(tx))
        })??;
        self.meta.next_mutation_id += 1;
        self.pending.push_back(Pending { record: record.clone(), undo });
        Ok(record)
    }

    /// The next push: up to `max` pending mutations in order, or `None`.
    pub fn push_request(&self, max: usize) -> Option<PushRequest> {
        if self.pending.is_empty() {
            return None;
        }
        Some(PushRequest {
            protocol_version: PROTOCOL_VERSION,
            schema_version: self.schema_version.clone(),
            client_group_id: self.client_group_id.clone(),
            mutations: self.pending.iter().take(max.max(1)).map(|p| p.record.clone()).collect(),
        })
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
    /// that was requested from cookie `base`. A pull from another cookie than
    /// the current one is stale (late, duplicated or reordered) and ignored.
    /// `new_client_id` is used only if the server no longer knows this client.
    pub fn apply_pull(
        &mut self,
        base: &Option<Cookie>,
        pages: &[PullResponse],
        ctx: &R::Context,
        new_client_id: impl FnOnce() -> String,
    ) -> Result<Rebase, ClientError> {
        let Some(last) = pages.last() else { return Ok(Rebase::default()) };
        if *base != self.meta.cookie {
            return Ok(Rebase { stale: true, ..Rebase::default() });
        }
        // Back to the server snapshot: undo pending mutations, newest first.
        for p in self.pending.iter_mut().rev() {
            self.view.undo(std::mem::take(&mut p.undo));
        }
        let mut reset = false;
        let mut errors: BTreeMap<u64, String> = BTreeMap::new();
        let mut lmid = None;
        for page in pages {
            for op in &page.patch {
                match op {
                    PatchOp::Clear => {
                        reset = true;
                        self.view.clear();
                    }
                    PatchOp::Put { table, row } => {
                        let Some(def) = self.schema.table(table) else { continue };
                        self.view.put_row(def, row_from_json(def, row)?)?;
                    }
                    PatchOp::Del { table, id } => {
                        if let Some(def) = self.schema.table(table) {
                            self.view.delete_row(def, id)?;
                        }
                    }
                }
            }
            if let Some(l) = page.last_mutation_id_changes.get(&self.meta.client_id) {
                lmid = Some(*l);
            }
            for e in page.mutation_errors.iter().filter(|e| e.client_id == self.meta.client_id) {
                errors.insert(e.mutation_id, e.message.clone());
            }
        }
        self.meta.cookie = Some(last.cookie.clone());

        let mut rebase = Rebase::default();
        if reset && lmid.is_none() && self.meta.last_mutation_id > 0 {
            // The server has forgotten this client: start over as a new one,
            // keeping nothing that was built on the old identity.
            for p in self.pending.drain(..) {
                rebase.resolved.push((p.record.id, Outcome::Dropped("the server no longer knows this client".into())));
            }
            self.meta = ClientMeta {
                client_id: new_client_id(),
                next_mutation_id: 1,
                last_mutation_id: 0,
                cookie: self.meta.cookie.take(),
            };
            rebase.reset_client = true;
            return Ok(rebase);
        }
        if let Some(l) = lmid {
            self.meta.last_mutation_id = self.meta.last_mutation_id.max(l);
        }
        while self.pending.front().is_some_and(|p| p.record.id <= self.meta.last_mutation_id) {
            if let Some(done) = self.pending.pop_front() {
                let outcome = errors.remove(&done.record.id).map_or(Outcome::Ok, Outcome::Rejected);
                rebase.resolved.push((done.record.id, outcome));
            }
        }
        rebase.failed_replays = self.replay(ctx);
        Ok(rebase)
    }

    /// Replays every pending mutation on the view, recording fresh undo logs.
    /// A mutator that fails is a no-op for this replay and stays pending.
    fn replay(&mut self, ctx: &R::Context) -> Vec<u64> {
        let mut failed = Vec::new();
        for p in self.pending.iter_mut() {
            let view = &self.view;
            let result = run_ready(async {
                let mut tx = view.begin().await?;
                R::dispatch(&mut tx, ctx, &p.record.name, p.record.args.get())
                    .await
                    .map_err(|e| ClientError::Replay(e.to_string()))?;
                Ok::<_, ClientError>(MemoryExecutor::commit_keeping_undo(tx))
            });
            match result {
                Ok(Ok(undo)) => p.undo = undo,
                _ => {
                    p.undo = UndoLog::default();
                    failed.push(p.record.id);
                }
            }
        }
        failed
    }
}
