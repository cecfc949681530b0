//! The state a client and its background tasks share, and how the tasks are woken.
//!
//! Its own module so that the client ([`sync`](crate::client::sync)) and its
//! loops ([`sync_loop`](crate::client::sync_loop)) both depend on it rather
//! than on each other.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender};
use futures_channel::oneshot;

use crate::client::core::ClientCore;
use crate::client::error::ClientError;
use crate::client::events::{ClientEvent, Listeners, SyncStatus};
use crate::client::id::IdGenerator;
use crate::client::live::{LiveHost, LiveSink};
use crate::client::platform::{Platform, Transport};
use crate::client::store::Store;
use crate::client::sync::{ClientConfig, ContextProvider};
use crate::client::tabs::{TabChannel, TabMessage};
use crate::live::LiveId;
use crate::mutator::Registry;
use crate::protocol::MutationRecord;
use crate::schema::Schema;
use crate::table::Row;

/// Why the sync loop woke up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// A mutation was queued.
    Push,
    /// The server poked: something changed.
    Poke,
    /// The app asked to retry now (after fixing credentials, say).
    Resume,
}

/// The receiving ends `start` hands to the background tasks: wake-ups, and
/// the shutdown signals of the poke task and the tab listener.
pub(crate) type Parked = (UnboundedReceiver<Wake>, oneshot::Receiver<()>, oneshot::Receiver<()>);

/// What a [`Client`](crate::client::Client) and its background tasks share.
pub(crate) struct Shared<R: Registry> {
    pub(crate) schema: &'static Schema,
    pub(crate) core: Mutex<ClientCore<R>>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) context: ContextProvider<R::Context>,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) platform: Arc<dyn Platform>,
    pub(crate) config: ClientConfig,
    pub(crate) ids: IdGenerator,
    /// Only ever replaced whole by `set_status` (a comparison and a clone
    /// that cannot panic), so even a poisoned lock holds a real status.
    pub(crate) status: Mutex<SyncStatus>,
    pub(crate) listeners: Listeners,
    pub(crate) wake: UnboundedSender<Wake>,
    /// The loop's receiving ends until `start` hands them to the tasks.
    pub(crate) parked: Mutex<Option<Parked>>,
    /// Dropped with the last client: ends the poke task.
    pub(crate) _shutdown: oneshot::Sender<()>,
    /// Dropped with the last client: ends the tab listener.
    pub(crate) _tabs_shutdown: oneshot::Sender<()>,
    /// Where this client's mutations go to the other tabs, and theirs come from.
    pub(crate) tabs: Option<Arc<dyn TabChannel>>,
    pub(crate) started: AtomicBool,
    /// Subscribers of each live query. Locked after `core`, never before.
    pub(crate) live_sinks: Mutex<HashMap<LiveId, Arc<dyn LiveSink>>>,
}

impl<R: Registry> Shared<R> {
    pub(crate) fn lock_core(&self) -> Result<MutexGuard<'_, ClientCore<R>>, ClientError> {
        self.core.lock().map_err(|_| ClientError::Poisoned)
    }

    pub(crate) fn emit(&self, event: ClientEvent) {
        self.listeners.emit(event);
    }

    pub(crate) fn set_status(&self, status: SyncStatus) {
        let changed = {
            let mut current = self.status.lock().unwrap_or_else(PoisonError::into_inner);
            if *current != status {
                *current = status.clone();
                true
            } else {
                false
            }
        };
        if changed {
            self.emit(ClientEvent::Status(status));
        }
    }

    /// Applies another client's mutation record as a foreign pending
    /// mutation (see [`ClientCore::apply_foreign`]); tells the app if it was taken.
    pub(crate) fn apply_foreign(&self, record: MutationRecord) -> Result<bool, ClientError> {
        let ctx = (self.context)();
        let taken = {
            let mut core = self.lock_core()?;
            let taken = core.apply_foreign(&ctx, record);
            self.publish(core);
            taken
        };
        if taken {
            self.emit(ClientEvent::Changed);
        }
        Ok(taken)
    }

    /// Sends one of this client's records to the other tabs, if a channel is set.
    pub(crate) fn broadcast(&self, record: &MutationRecord) {
        if let Some(tabs) = &self.tabs {
            tabs.send(&TabMessage {
                schema_version: self.schema.version().into_owned(),
                sender: record.client_id.clone(),
                record: record.clone(),
            });
        }
    }

    pub(crate) fn new_id(&self) -> String {
        new_id(&self.ids, self.platform.as_ref())
    }

    /// Hands the diffs of the transaction that just ran to their live
    /// queries' subscribers (in order, as the client's lock is still held),
    /// then releases the lock and delivers them.
    pub(crate) fn publish(&self, mut core: MutexGuard<'_, ClientCore<R>>) {
        let diffs = core.take_live_diffs();
        if diffs.is_empty() {
            return;
        }
        let mut touched: Vec<(LiveId, Arc<dyn LiveSink>)> = Vec::with_capacity(diffs.len());
        {
            // Only inserts, removes and lookups run under this lock, and none
            // panics, so a poisoned lock still holds a whole map.
            let sinks = self.live_sinks.lock().unwrap_or_else(PoisonError::into_inner);
            for (id, diff) in diffs {
                if let Some(sink) = sinks.get(&id) {
                    sink.enqueue(diff);
                    touched.push((id, Arc::clone(sink)));
                }
            }
        }
        drop(core);
        for (id, sink) in touched {
            let delivery = sink.deliver();
            if let Some(error) = delivery.failure {
                self.emit(ClientEvent::LiveQueryFailed { id, error });
            }
            if delivery.lagged > 0 {
                self.emit(ClientEvent::LiveStreamLagged { id });
            }
        }
    }
}

impl<R: Registry> LiveHost for Shared<R> {
    fn unwatch(&self, id: LiveId) {
        if let Ok(mut core) = self.lock_core() {
            core.unwatch(id);
            self.live_sinks.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
        }
    }

    fn live_rows(&self, id: LiveId) -> Result<Option<Vec<Row>>, ClientError> {
        Ok(self.lock_core()?.live_rows(id))
    }
}

impl<R: Registry> Drop for Shared<R> {
    fn drop(&mut self) {
        // The sync loop sees its channel end and stops.
        self.wake.close_channel();
    }
}

pub(crate) fn new_id(ids: &IdGenerator, platform: &dyn Platform) -> String {
    ids.next(platform.now_ms(), || (u128::from(platform.random_u64()) << 64) | u128::from(platform.random_u64()))
}
