//! [`LiveQuery`]: the app's handle on a live query — its current rows, and
//! its diffs as callbacks or a stream. Framework-agnostic, so UI bindings
//! stay thin.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};

use crate::client::bounded::{Pushed, Receiver, Sender, bounded};
use futures_util::Stream;

use crate::client::error::ClientError;
use crate::client::platform::MaybeSend;
use crate::error::DecodeError;
use crate::live::{Diff, LiveId, RowDiff};
use crate::table::{Row, Table};

/// A callback receiving a live query's diffs (`Send` natively).
#[cfg(not(target_arch = "wasm32"))]
pub type LiveCallback<T> = Box<dyn FnMut(&Diff<T>) + Send>;
/// A callback receiving a live query's diffs (`Send` natively).
#[cfg(target_arch = "wasm32")]
pub type LiveCallback<T> = Box<dyn FnMut(&Diff<T>)>;

/// Locks one of a sink's mutexes. Nothing panics while they are held (app
/// callbacks run after being taken out of theirs), so a poisoned lock still
/// holds whole data and is used as is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the client needs of a live query's subscribers: take a diff in order
/// (under the client's lock), deliver queued diffs (after releasing it).
pub(crate) trait LiveSink: MaybeSend {
    fn enqueue(&self, diff: RowDiff);
    /// Delivers the queued diffs and says what went wrong for the client to report.
    fn deliver(&self) -> Delivery;
}

/// What went wrong delivering a live query's diffs.
#[derive(Debug, Default)]
pub(crate) struct Delivery {
    /// A diff did not decode: the sink has failed (see [`Sink::fail`]).
    pub(crate) failure: Option<DecodeError>,
    /// Streams ended because they left [`LIVE_DIFF_BUFFER`] diffs unread.
    pub(crate) lagged: usize,
}

/// How many diffs a stream of [`LiveQuery::changes`] may leave unread. A
/// diff cannot be skipped (later ones apply to the result it produced), so a
/// stream that falls this far behind is ended and the client emits
/// [`ClientEvent::LiveStreamLagged`](crate::client::ClientEvent::LiveStreamLagged);
/// subscribe again and re-read [`LiveQuery::rows`].
pub const LIVE_DIFF_BUFFER: usize = 1024;

/// What a handle needs of its client, without the client's type parameter.
pub(crate) trait LiveHost: MaybeSend {
    fn unwatch(&self, id: LiveId);
    fn live_rows(&self, id: LiveId) -> Result<Option<Vec<Row>>, ClientError>;
}

/// A live query's subscribers and the diffs not yet delivered to them.
pub(crate) struct Sink<T> {
    queue: Mutex<VecDeque<RowDiff>>,
    /// Set while one thread delivers: diffs queued meanwhile (also by a
    /// callback that mutates) are delivered by that thread, in order.
    delivering: AtomicBool,
    callbacks: Mutex<Vec<LiveCallback<T>>>,
    streams: Mutex<Vec<Sender<Diff<T>>>>,
    /// Set when a diff did not decode: subscribers missed it, so no later
    /// diff is delivered (it would apply to a result they never saw).
    failed: Mutex<Option<DecodeError>>,
}

impl<T> Sink<T> {
    pub(crate) fn new() -> Self {
        Sink {
            queue: Mutex::new(VecDeque::new()),
            delivering: AtomicBool::new(false),
            callbacks: Mutex::new(Vec::new()),
            streams: Mutex::new(Vec::new()),
            failed: Mutex::new(None),
        }
    }

    fn next(&self) -> Option<RowDiff> {
        lock(&self.queue).pop_front()
    }

    fn failure(&self) -> Option<DecodeError> {
        lock(&self.failed).clone()
    }

    /// A diff did not decode: remembers why, ends every stream, drops every
    /// callback and every queued diff. The client reports it as
    /// [`ClientEvent::LiveQueryFailed`](crate::client::ClientEvent::LiveQueryFailed).
    fn fail(&self, error: DecodeError) {
        *lock(&self.failed) = Some(error);
        lock(&self.streams).clear();
        lock(&self.callbacks).clear();
        lock(&self.queue).clear();
    }
}

impl<T: Table + Clone + MaybeSend> LiveSink for Sink<T> {
    fn enqueue(&self, diff: RowDiff) {
        if self.failure().is_some() {
            return;
        }
        {
            let mut queue = lock(&self.queue);
            queue.push_back(diff);
        }
    }

    fn deliver(&self) -> Delivery {
        let mut delivery = Delivery::default();
        loop {
            if self.delivering.swap(true, Ordering::AcqRel) {
                return delivery; // another thread (or an outer call on this one) delivers
            }
            while let Some(raw) = self.next() {
                // Rows in the client's state have the right storage class, but
                // may still not fit the field (an integer too large for an
                // `i16`, JSON text of another shape, from a server's write).
                let diff = match raw.decode::<T>() {
                    Ok(diff) => diff,
                    Err(error) => {
                        self.fail(error.clone());
                        self.delivering.store(false, Ordering::Release);
                        delivery.failure = Some(error);
                        return delivery;
                    }
                };
                {
                    let mut streams = lock(&self.streams);
                    streams.retain(|s| match s.push_or_close(diff.clone()) {
                        Pushed::Queued => true,
                        Pushed::Closed => {
                            delivery.lagged += 1;
                            false
                        }
                        Pushed::Gone => false,
                    });
                }
                // Called without holding the lock, so a callback may add callbacks.
                let mut running = std::mem::take(&mut *lock(&self.callbacks));
                for callback in &mut running {
                    callback(&diff);
                }
                {
                    let mut callbacks = lock(&self.callbacks);
                    running.append(&mut callbacks);
                    *callbacks = running;
                }
            }
            self.delivering.store(false, Ordering::Release);
            let more = !lock(&self.queue).is_empty();
            if !more {
                return delivery;
            }
        }
    }
}

/// A query whose result stays current: after every local mutation, rebase or
/// pull that changes it, subscribers get one [`Diff`] (additions, removals
/// and edits with positions), and none when it did not change.
///
/// Dropping the handle stops maintaining the query, frees its state, drops
/// its callbacks and ends its streams. Get one from
/// [`Client::live`](crate::client::Client::live).
pub struct LiveQuery<T: Table> {
    id: LiveId,
    host: Weak<dyn LiveHost>,
    sink: Arc<Sink<T>>,
    _table: PhantomData<fn() -> T>,
}

impl<T: Table> std::fmt::Debug for LiveQuery<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveQuery").field("id", &self.id).field("table", &T::DEF.name).finish()
    }
}

impl<T: Table + Clone> LiveQuery<T> {
    pub(crate) fn new(id: LiveId, host: Weak<dyn LiveHost>, sink: Arc<Sink<T>>) -> Self {
        LiveQuery { id, host, sink, _table: PhantomData }
    }

    /// The id of this live query in its client.
    pub fn id(&self) -> LiveId {
        self.id
    }

    /// Why this query stopped delivering diffs, if it did: a diff held a row
    /// that does not decode into `T`. Its streams have then ended and its
    /// callbacks were dropped; [`rows`](Self::rows) still reads the current
    /// result (and fails while the undecodable row is in it).
    pub fn failure(&self) -> Option<DecodeError> {
        self.sink.failure()
    }

    /// The current result (confirmed plus pending state), read from the
    /// maintained window: no query runs.
    pub fn rows(&self) -> Result<Vec<T>, ClientError> {
        let host = self.host.upgrade().ok_or(ClientError::Closed)?;
        let rows = host.live_rows(self.id)?.ok_or(ClientError::Closed)?;
        rows.into_iter().map(|r| T::from_row(r).map_err(ClientError::from)).collect()
    }

    /// Calls `callback` with every diff from now on, in order, outside the
    /// client's lock (it may read or mutate the client), until the handle drops.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn on_change(&self, callback: impl FnMut(&Diff<T>) + Send + 'static) {
        {
            let mut callbacks = lock(&self.sink.callbacks);
            callbacks.push(Box::new(callback));
        }
    }

    /// Calls `callback` with every diff from now on, in order, outside the
    /// client's lock (it may read or mutate the client), until the handle drops.
    #[cfg(target_arch = "wasm32")]
    pub fn on_change(&self, callback: impl FnMut(&Diff<T>) + 'static) {
        {
            let mut callbacks = lock(&self.sink.callbacks);
            callbacks.push(Box::new(callback));
        }
    }

    /// Every diff from now on, as a stream that ends when the handle drops,
    /// when the query fails ([`failure`](Self::failure)), or when the stream
    /// leaves more than [`LIVE_DIFF_BUFFER`] diffs unread (the client then
    /// emits [`ClientEvent::LiveStreamLagged`](crate::client::ClientEvent::LiveStreamLagged)).
    pub fn changes(&self) -> impl Stream<Item = Diff<T>> + Unpin + use<T> {
        self.stream()
    }

    fn stream(&self) -> LiveChanges<T> {
        let (tx, rx) = bounded(LIVE_DIFF_BUFFER);
        // A failed query delivers nothing: its new streams end at once.
        // Checked under the streams' lock, which `fail` takes after setting it.
        let mut streams = lock(&self.sink.streams);
        if self.sink.failure().is_none() {
            streams.push(tx);
        }
        drop(streams);
        LiveChanges { rx, _owner: None }
    }

    /// Turns the handle into its stream of diffs (bounded as
    /// [`changes`](Self::changes)): dropping the stream unsubscribes.
    pub fn into_changes(self) -> impl Stream<Item = Diff<T>> + Unpin + use<T> {
        let mut changes = self.stream();
        changes._owner = Some(Box::new(self));
        changes
    }
}

impl<T: Table> Drop for LiveQuery<T> {
    fn drop(&mut self) {
        if let Some(host) = self.host.upgrade() {
            host.unwatch(self.id);
        }
        {
            let mut streams = lock(&self.sink.streams);
            streams.clear();
        }
        {
            let mut callbacks = lock(&self.sink.callbacks);
            callbacks.clear();
        }
    }
}

/// A live query's diffs as a [`Stream`]; see [`LiveQuery::changes`].
struct LiveChanges<T: Table> {
    rx: Receiver<Diff<T>>,
    _owner: Option<Box<LiveQuery<T>>>,
}

impl<T: Table> Stream for LiveChanges<T> {
    type Item = Diff<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // The sender closes on overflow rather than dropping, so no count of
        // missed diffs ever comes; skip one if it did.
        loop {
            return match Pin::new(&mut self.rx).poll_next(cx) {
                Poll::Ready(Some(Ok(diff))) => Poll::Ready(Some(diff)),
                Poll::Ready(Some(Err(_))) => continue,
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}
