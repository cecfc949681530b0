//! What a client tells the app: its sync status and what just happened.

use std::sync::Mutex;

use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};

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
    /// The durable store failed to record a pull (it is re-pulled after a restart).
    StoreFailed(String),
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

/// Subscribers to a client's events.
#[derive(Debug, Default)]
pub(crate) struct Listeners(Mutex<Vec<UnboundedSender<ClientEvent>>>);

impl Listeners {
    pub(crate) fn subscribe(&self) -> UnboundedReceiver<ClientEvent> {
        let (tx, rx) = unbounded();
        if let Ok(mut list) = self.0.lock() {
            list.push(tx);
        }
        rx
    }

    /// Delivers to every live subscriber and forgets dropped ones.
    pub(crate) fn emit(&self, event: ClientEvent) {
        if let Ok(mut list) = self.0.lock() {
            list.retain(|tx| tx.unbounded_send(event.clone()).is_ok());
        }
    }
}
