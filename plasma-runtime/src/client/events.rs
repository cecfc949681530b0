//! What a client tells the app: its sync status and what just happened.

use std::sync::{Mutex, PoisonError};

use futures_util::{Stream, StreamExt};

use crate::client::bounded::{Pushed, Sender, bounded};
use crate::client::store::StoreError;
use crate::error::DecodeError;
use crate::live::LiveId;

/// Where syncing stands, for the app to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStatus {
    /// The server cannot be reached (or answers 5xx); retrying with backoff.
    /// Mutations keep working locally and are pushed when it returns.
    Offline,
    /// Pushing or pulling, or mutations are waiting for the server.
    Syncing,
    /// Nothing pending and the last pull succeeded.
    InSync,
    /// The server speaks another protocol or schema version, or lacks a
    /// mutator this client sends: the app must update. Syncing stopped.
    UpdateNeeded,
    /// The server's auth hook refused the credentials. Syncing stopped until
    /// [`Client::resume`](crate::client::Client::resume).
    Unauthorized,
}

/// Something that happened in the client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The sync status changed.
    Status(SyncStatus),
    /// A page of a pull arrived. The pull's rows become visible all at once
    /// after the last page (`done`).
    PullProgress {
        /// Pages received so far in this pull.
        pages: usize,
        /// Patch operations received so far in this pull.
        rows: usize,
        /// This was the last page.
        done: bool,
    },
    /// The local state (confirmed + pending) changed: a mutation or a rebase.
    Changed,
    /// The server no longer knew this client's group: the client started over
    /// from server state under a new client id, dropping its pending mutations.
    Reset {
        /// The new client id.
        client_id: String,
    },
    /// A queued mutation turned out too large for the server even alone in
    /// a push (its limit shrank, or the client assumed a larger one): the
    /// client gave up on it. The server consumes its id without running it
    /// and its handle resolves with that rejection; the mutations behind it
    /// go out.
    MutationTooLarge {
        /// The mutation's id.
        mutation_id: u64,
        /// Size of the smallest push that carried it.
        bytes: u64,
        /// The server's body limit as the client learned it.
        limit: u64,
    },
    /// The durable store failed to record a pull (it is re-pulled after a
    /// restart) or an abandoned mutation. The error keeps the engine's as its source.
    StoreFailed(StoreError),
    /// This subscriber left more than [`EVENT_BUFFER`] events unread: the
    /// `missed` oldest were dropped; the events after this one are the newest.
    Lagged {
        /// Events dropped.
        missed: u64,
    },
    /// A stream of a live query ([`LiveQuery::changes`](crate::client::LiveQuery::changes))
    /// left more than [`LIVE_DIFF_BUFFER`](crate::client::LIVE_DIFF_BUFFER) diffs
    /// unread and was ended (a skipped diff would corrupt what it applies to).
    /// Subscribe again and re-read the rows.
    LiveStreamLagged {
        /// The live query.
        id: LiveId,
    },
    /// A live query's diff held a row that does not decode into its table's
    /// struct (a value that fits the column but not the field). The query
    /// delivers nothing more: its streams ended, its callbacks were dropped;
    /// [`LiveQuery::failure`](crate::client::LiveQuery::failure) says why.
    LiveQueryFailed {
        /// The live query.
        id: LiveId,
        /// The row that did not decode, and why.
        error: DecodeError,
    },
}

/// How many events a subscriber of [`Client::events`](crate::client::Client::events)
/// may leave unread: past it the oldest are dropped and the stream yields
/// [`ClientEvent::Lagged`] before the rest.
pub const EVENT_BUFFER: usize = 1024;

/// Subscribers to a client's events.
#[derive(Default)]
pub(crate) struct Listeners(Mutex<Vec<Sender<ClientEvent>>>);

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listeners")
    }
}

impl Listeners {
    /// A new subscriber's stream: every event from now on, at most
    /// [`EVENT_BUFFER`] unread, a [`ClientEvent::Lagged`] for the dropped.
    pub(crate) fn subscribe(&self) -> impl Stream<Item = ClientEvent> + Unpin + use<> {
        let (tx, rx) = bounded(EVENT_BUFFER);
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(tx);
        rx.map(|item| item.unwrap_or_else(|missed| ClientEvent::Lagged { missed }))
    }

    /// Delivers to every live subscriber and forgets dropped ones.
    pub(crate) fn emit(&self, event: ClientEvent) {
        // Only pushes and removals run under this lock; none panics.
        let mut list = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        list.retain(|tx| tx.push_dropping_oldest(event.clone()) == Pushed::Queued);
    }
}
