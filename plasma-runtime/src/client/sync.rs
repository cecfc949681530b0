//! [`Client`]: the app's handle on local state and on syncing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_channel::mpsc::unbounded;
use futures_channel::oneshot;

use crate::client::backoff::BackoffConfig;
use crate::client::core::ClientCore;
use crate::client::error::ClientError;
use crate::client::events::{ClientEvent, Listeners, SyncStatus};
use crate::client::handle::MutationHandle;
use crate::client::id::IdGenerator;
use crate::client::live::{LiveHost, LiveQuery, LiveSink, Sink};
use crate::client::platform::{MaybeSend, Platform, Transport};
use crate::client::shared::{Shared, Wake, new_id};
use crate::client::store::{MemoryStore, Store};
use crate::client::sync_loop;
use crate::client::tabs::{self, TabChannel};
use crate::exec::memory::MemoryExecutor;
use crate::exec::{Executor, run_ready};
use crate::mutator::{InRegistry, Mutator, Registry};
use crate::protocol::{MutationRecord, ServerLimits};
use crate::query::typed::Select;
use crate::schema::Schema;
use crate::table::Table;

/// Provides the mutator context for each local run (the server builds its own
/// from the auth hook). `Send + Sync` natively; on wasm32 it may capture `Rc`s.
pub type ContextProvider<C> = Arc<dyn ContextFn<C>>;

/// A function building the mutator context: any `Fn() -> C` that is
/// [`MaybeSend`] (`Send + Sync` natively, anything on wasm32).
pub trait ContextFn<C>: Fn() -> C + MaybeSend {}
impl<C, F: Fn() -> C + MaybeSend + ?Sized> ContextFn<C> for F {}

/// Tunables of a client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The client group (one per browser profile / app install; tabs share it).
    pub client_group_id: String,
    /// How often to pull when nothing pokes (default 30 s).
    pub pull_interval: Duration,
    /// Listen for WebSocket pokes (default off).
    pub pokes: bool,
    /// Most mutations per push request (default 100).
    pub push_batch: usize,
    /// Retry timing for network errors and 5xx.
    pub backoff: BackoffConfig,
    /// The server limits to assume until the first pull advertises the real
    /// ones (default: the server's defaults, 4 MiB and 5,000 mutations).
    pub limits: ServerLimits,
    /// How long a push waits for another tab's pending mutation that sorts
    /// below this client's first unpushed one to be confirmed (default 5 s;
    /// see [`ClientBuilder::causal_wait`]).
    pub causal_wait: Duration,
}

/// Builds a [`Client`].
pub struct ClientBuilder<R: Registry> {
    schema: &'static Schema,
    config: ClientConfig,
    context: Option<ContextProvider<R::Context>>,
    store: Option<Arc<dyn Store>>,
    tabs: Tabs,
}

/// Which tab channel a client gets.
enum Tabs {
    /// The store's ([`Store::tab_channel`]), if it has one.
    FromStore,
    /// None: other clients' writes show after the next pull.
    Off,
    /// The app's.
    Channel(Arc<dyn TabChannel>),
}

impl<R: Registry> ClientBuilder<R> {
    /// Sets how often the client pulls without a poke.
    pub fn pull_interval(mut self, every: Duration) -> Self {
        self.config.pull_interval = every;
        self
    }

    /// Opts in to WebSocket pokes: the server says "pull now" after changes.
    pub fn pokes(mut self, enabled: bool) -> Self {
        self.config.pokes = enabled;
        self
    }

    /// Sets how long a push waits for causally earlier mutations of other
    /// tabs (default 5 s). A mutation made on top of another tab's unpushed
    /// one (marking done a todo that tab just created) must reach the server
    /// after it, or the server runs it on a state without that row. Each tab
    /// pushes only its own queue, so this client holds its push until a pull
    /// confirms the other tab's earlier mutations (that tab pushes them at
    /// once; the poke or pull that follows opens the gate), and pushes anyway
    /// after `wait`, so a tab that closed with a queue cannot block it for
    /// long. `Duration::ZERO` turns the wait off.
    pub fn causal_wait(mut self, wait: Duration) -> Self {
        self.config.causal_wait = wait;
        self
    }

    /// Sets the most mutations per push request.
    pub fn push_batch(mut self, max: usize) -> Self {
        self.config.push_batch = max.max(1);
        self
    }

    /// Sets the largest push body to assume until the first pull advertises
    /// the server's limit (default 4 MiB, the server's default).
    pub fn max_push_bytes(mut self, bytes: usize) -> Self {
        self.config.limits.max_body_bytes = bytes;
        self
    }

    /// Sets the most mutations per push to assume until the first pull
    /// advertises the server's limit (default 5,000, the server's default).
    pub fn max_mutations_per_push(mut self, max: usize) -> Self {
        self.config.limits.max_mutations_per_push = max.max(1);
        self
    }

    /// Sets retry timing.
    pub fn backoff(mut self, backoff: BackoffConfig) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// Sets the mutator context provider (required), called for every local run.
    /// `Send + Sync` natively; on wasm32 it may capture anything (an `Rc`, say).
    pub fn context(mut self, provider: impl Fn() -> R::Context + MaybeSend + 'static) -> Self {
        self.context = Some(Arc::new(provider));
        self
    }

    /// Sets the durable store (default: [`MemoryStore`], which keeps nothing across restarts).
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Sets the channel to the other clients of the group on this device
    /// (browser tabs): this client's mutations are sent on it as they run,
    /// and theirs show in this client's view and live queries at once, as
    /// foreign pending mutations, until a pull confirms them (see
    /// [`tabs`](crate::client::tabs)). Default: the store's
    /// ([`Store::tab_channel`]: a `BroadcastChannel` for the `IndexedDbStore`,
    /// none for the others).
    pub fn tabs(mut self, channel: impl TabChannel) -> Self {
        self.tabs = Tabs::Channel(Arc::new(channel));
        self
    }

    /// No tab channel, not even the store's: other clients' writes show
    /// after this client's next pull.
    pub fn without_tabs(mut self) -> Self {
        self.tabs = Tabs::Off;
        self
    }

    /// Loads the store (resuming its pending queue) and returns a client that
    /// is not syncing yet: call [`Client::start`].
    pub async fn build(self, transport: impl Transport, platform: impl Platform) -> Result<Client<R>, ClientError> {
        let context = self.context.ok_or(ClientError::MissingContext)?;
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let platform: Arc<dyn Platform> = Arc::new(platform);
        let ids = IdGenerator::new();
        let config = self.config;
        let schema_version = self.schema.version();
        let persisted = store.load(self.schema, &config.client_group_id, &schema_version).await?;
        let mut core = match persisted {
            Some(persisted) => ClientCore::restore(self.schema, persisted, &context())?,
            None => {
                let client_id = new_id(&ids, platform.as_ref());
                let core = ClientCore::<R>::new(self.schema, config.client_group_id.clone(), client_id);
                store.init(&config.client_group_id, &schema_version, core.meta())?;
                core
            }
        };
        core.set_limits(config.limits);
        let tabs = match self.tabs {
            Tabs::FromStore => store.tab_channel().map(Arc::from),
            Tabs::Off => None,
            Tabs::Channel(channel) => Some(channel),
        };
        let (wake, wake_rx) = unbounded();
        let (shutdown, shutdown_rx) = oneshot::channel();
        let (tabs_shutdown, tabs_shutdown_rx) = oneshot::channel();
        Ok(Client {
            shared: Arc::new(Shared {
                schema: self.schema,
                core: Mutex::new(core),
                store,
                context,
                transport: Arc::new(transport),
                platform,
                config,
                ids,
                status: Mutex::new(SyncStatus::Offline),
                listeners: Listeners::default(),
                wake,
                parked: Mutex::new(Some((wake_rx, shutdown_rx, tabs_shutdown_rx))),
                _shutdown: shutdown,
                _tabs_shutdown: tabs_shutdown,
                tabs,
                started: AtomicBool::new(false),
                live_sinks: Mutex::new(HashMap::new()),
            }),
        })
    }
}

/// A plasma client: local state that mutators change at once, a durable
/// queue of mutations, and the loops that push them and pull the server's
/// changes. Cheap to clone; clones share everything. Syncing stops when the
/// last clone is dropped.
pub struct Client<R: Registry> {
    shared: Arc<Shared<R>>,
}

impl<R: Registry> Clone for Client<R> {
    fn clone(&self) -> Self {
        Client { shared: Arc::clone(&self.shared) }
    }
}

impl<R> Client<R>
where
    R: Registry + 'static,
    R::Context: 'static,
{
    /// Starts building a client of `schema` for one client group. It speaks
    /// `schema.version()`, as the server built from the same schema does.
    pub fn builder(schema: &'static Schema, client_group_id: impl Into<String>) -> ClientBuilder<R> {
        ClientBuilder {
            schema,
            config: ClientConfig {
                client_group_id: client_group_id.into(),
                pull_interval: Duration::from_secs(30),
                pokes: false,
                push_batch: 100,
                backoff: BackoffConfig::default(),
                limits: ServerLimits::default(),
                causal_wait: Duration::from_secs(5),
            },
            context: None,
            store: None,
            tabs: Tabs::FromStore,
        }
    }

    /// Starts syncing: pushes the pending queue (including what a previous run
    /// left), pulls now and then every `pull_interval`, listens for pokes
    /// if enabled, and applies the other tabs' mutations if a tab channel is
    /// set (see [`ClientBuilder::tabs`]). Calling it again does nothing.
    pub fn start(&self) {
        if self.shared.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let Some((wake_rx, shutdown_rx, tabs_shutdown_rx)) =
            self.shared.parked.lock().unwrap_or_else(PoisonError::into_inner).take()
        else {
            return;
        };
        self.shared.set_status(SyncStatus::Syncing);
        let platform = Arc::clone(&self.shared.platform);
        platform.spawn(Box::pin(sync_loop::run(Arc::downgrade(&self.shared), wake_rx)));
        if let Some(channel) = &self.shared.tabs {
            platform.spawn(Box::pin(tabs::listen(
                Arc::downgrade(&self.shared),
                self.shared.schema.version().into_owned(),
                channel.incoming(),
                tabs_shutdown_rx,
            )));
        }
        if self.shared.config.pokes {
            platform.spawn(Box::pin(sync_loop::listen_for_pokes(
                Arc::clone(&self.shared.transport),
                Arc::clone(&self.shared.platform),
                self.shared.wake.clone(),
                shutdown_rx,
                self.shared.config.client_group_id.clone(),
                self.shared.config.backoff,
            )));
        }
    }

    /// Runs mutator `M` against local state at once, queues it durably, and
    /// returns a handle that resolves with the server's answer. If the mutator
    /// fails locally, the store cannot record it, or it is too large for the
    /// server ([`ClientError::MutationTooLarge`]: even alone, its push body
    /// would exceed [`server_limits`](Self::server_limits)), nothing is queued
    /// and local state is unchanged. `M` must be listed in the registry `R`
    /// (a compile error otherwise: the server would not know it).
    pub fn mutate<M: InRegistry<R> + Mutator<Context = R::Context>>(
        &self,
        args: M::Args,
    ) -> Result<MutationHandle, ClientError> {
        let ctx = (self.shared.context)();
        let now = self.shared.platform.now_ms();
        let handle = {
            let mut core = self.shared.lock_core()?;
            let (record, handle) = core.mutate::<M>(&ctx, args, now)?;
            if let Err(e) = self.shared.store.append_pending(core.meta(), &record) {
                core.abandon_last(&ctx);
                // The mutation and its undo net to nothing: no diff survives.
                drop(core.take_live_diffs());
                return Err(e.into());
            }
            self.shared.publish(core);
            self.shared.broadcast(&record);
            handle
        };
        self.shared.emit(ClientEvent::Changed);
        // A closed channel means nothing is syncing; the mutation waits in the store.
        let _ = self.shared.wake.unbounded_send(Wake::Push);
        Ok(handle)
    }

    /// Applies another client's mutation record (another tab's) to local
    /// state as a *foreign pending mutation*, for a platform that carries
    /// records between tabs itself instead of through a [`TabChannel`]: it
    /// shows in queries and live queries at once, is never pushed by this
    /// client, and leaves local state when a pull confirms or rejects it (see
    /// [`ClientCore::apply_foreign`]). Returns whether it was taken (not this
    /// client's own, not already confirmed, not a duplicate).
    /// [`ClientError::Poisoned`] if a panic poisoned the client's state.
    pub fn apply_foreign(&self, record: MutationRecord) -> Result<bool, ClientError> {
        self.shared.apply_foreign(record)
    }

    /// Other clients' mutations shown in local state and not yet confirmed
    /// by a pull, in the order they apply.
    /// [`ClientError::Poisoned`] if a panic poisoned the client's state.
    pub fn foreign_pending_count(&self) -> Result<usize, ClientError> {
        Ok(self.shared.lock_core()?.foreign_pending().len())
    }

    /// Resolves once every mutation queued so far is durable in the store
    /// (SQLite and memory: at once; IndexedDB: when the transactions carrying
    /// them have committed). Pushing waits for the same thing on its own; call
    /// this when the app must know, say before a tab closes or a benchmark
    /// stops its clock.
    pub async fn persisted(&self) -> Result<(), ClientError> {
        Ok(self.shared.store.flush().await?)
    }

    /// Keeps `select` current against local state (confirmed plus pending):
    /// the handle has the current rows at once, and its subscribers get one
    /// diff after every mutation, rebase or pull that changes the result —
    /// maintained incrementally, never by re-running the query.
    pub fn live<T: Table + Clone + MaybeSend>(&self, select: &Select<T>) -> Result<LiveQuery<T>, ClientError> {
        let mut core = self.shared.lock_core()?;
        let (id, _rows) = core.watch(select.query().clone())?;
        let sink = Arc::new(Sink::<T>::new());
        let mut sinks = self.shared.live_sinks.lock().map_err(|_| ClientError::Poisoned)?;
        sinks.insert(id, Arc::clone(&sink) as Arc<dyn LiveSink>);
        drop(sinks);
        drop(core);
        let shared: Arc<dyn LiveHost> = Arc::clone(&self.shared) as Arc<dyn LiveHost>;
        Ok(LiveQuery::new(id, Arc::downgrade(&shared), sink))
    }

    /// How many live queries this client maintains.
    /// [`ClientError::Poisoned`] if a panic poisoned the client's state.
    pub fn live_query_count(&self) -> Result<usize, ClientError> {
        Ok(self.shared.lock_core()?.live_queries().len())
    }

    /// Runs a typed query against local state (confirmed plus pending).
    pub fn query<T: Table>(&self, select: &Select<T>) -> Result<Vec<T>, ClientError> {
        self.read(|view| {
            run_ready(async {
                let mut tx = view.begin().await?;
                select.fetch(&mut tx).await
            })?
        })?
        .map_err(ClientError::from)
    }

    /// Runs `f` on local state. Readers always see a whole state: a rebase is
    /// published all at once.
    pub fn read<T>(&self, f: impl FnOnce(&MemoryExecutor) -> T) -> Result<T, ClientError> {
        let core = self.shared.lock_core()?;
        Ok(f(core.view()))
    }

    /// A new unique id that sorts by creation time (26 characters, ULID layout).
    pub fn new_id(&self) -> String {
        self.shared.new_id()
    }

    /// The current sync status. Never a stand-in: the status is only ever
    /// replaced whole, so it is read even through a lock a panic poisoned.
    pub fn status(&self) -> SyncStatus {
        self.shared.status.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Every event from now on, as a stream that ends when the client is
    /// dropped. Dropping it unsubscribes. Bounded: a subscriber that leaves
    /// more than [`EVENT_BUFFER`](crate::client::EVENT_BUFFER) events unread
    /// loses the oldest and gets [`ClientEvent::Lagged`] in their place.
    pub fn events(&self) -> impl futures_util::Stream<Item = ClientEvent> + Unpin + use<R> {
        self.shared.listeners.subscribe()
    }

    /// Mutations not yet confirmed by the server.
    /// [`ClientError::Poisoned`] if a panic poisoned the client's state.
    pub fn pending_count(&self) -> Result<usize, ClientError> {
        Ok(self.shared.lock_core()?.pending().len())
    }

    /// A handle on a pending mutation restored from the store after a restart
    /// (`None` if it is not pending).
    /// [`ClientError::Poisoned`] if a panic poisoned the client's state.
    pub fn handle(&self, mutation_id: u64) -> Result<Option<MutationHandle>, ClientError> {
        Ok(self.shared.lock_core()?.handle(mutation_id))
    }

    /// The server limits pushes are sized under: the last a pull advertised,
    /// or the builder's (`max_push_bytes`, `max_mutations_per_push`) before that.
    /// [`ClientError::Poisoned`] if a panic poisoned the client's state.
    pub fn server_limits(&self) -> Result<ServerLimits, ClientError> {
        Ok(self.shared.lock_core()?.limits())
    }

    /// Mutation ids still pending, oldest first.
    /// [`ClientError::Poisoned`] if a panic poisoned the client's state.
    pub fn pending_ids(&self) -> Result<Vec<u64>, ClientError> {
        Ok(self.shared.lock_core()?.pending().map(|r| r.id).collect())
    }

    /// This client's id (changes only if the client resets).
    /// [`ClientError::Poisoned`] if a panic poisoned the client's state.
    pub fn client_id(&self) -> Result<String, ClientError> {
        Ok(self.shared.lock_core()?.client_id().to_owned())
    }

    /// Syncs again at once: after [`SyncStatus::Unauthorized`] once credentials
    /// are fixed, or to skip a backoff wait.
    pub fn resume(&self) {
        let _ = self.shared.wake.unbounded_send(Wake::Resume);
    }
}
