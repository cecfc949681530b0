//! Live updates between clients of one group on one device (browser tabs):
//! each client sends the records of its own mutations over a [`TabChannel`]
//! as it runs them, and applies the others' as *foreign pending mutations*
//! (see [`ClientCore::apply_foreign`](crate::client::ClientCore::apply_foreign)),
//! so a write in one tab shows in the other tabs' live queries at once,
//! offline too, and leaves them once a pull confirms it.
//!
//! The browser's channel is `BroadcastTabs` (a `BroadcastChannel`, feature
//! `web`), which a client on an `IndexedDbStore` gets by default; [`LocalTabs`]
//! connects clients in one process (tests, or several clients of one app).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures_channel::mpsc::{UnboundedSender, unbounded};
use futures_channel::oneshot;
use futures_util::StreamExt;
use futures_util::future::{Either, select};
use serde::{Deserialize, Serialize};

use crate::client::platform::{BoxStream, MaybeSend};
use crate::client::shared::Shared;
use crate::mutator::Registry;
use crate::protocol::MutationRecord;

/// What one client tells the others: one of its mutation records.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TabMessage {
    /// The sender's schema version: a client on another version (a tab not
    /// yet reloaded after an update) ignores the message, as its mutators
    /// may differ.
    pub schema_version: String,
    /// The sending client's id (the record's `client_id`; a message whose
    /// two ids differ is ignored).
    pub sender: String,
    /// The mutation, as the sender queued it (or as it replaced it when it
    /// abandoned it).
    pub record: MutationRecord,
}

/// Carries [`TabMessage`]s between the clients of one group on one device.
/// A channel never delivers a client's own messages back to it.
pub trait TabChannel: MaybeSend + 'static {
    /// Sends a message to every other client on the channel. Best effort:
    /// a message that cannot be sent is dropped (the other clients see the
    /// mutation after their next pull instead).
    fn send(&self, message: &TabMessage);

    /// The messages of the other clients from now on. Called once, when the
    /// client starts; the stream ends when the channel closes.
    fn incoming(&self) -> BoxStream<'static, TabMessage>;
}

type Subscribers = Vec<(u64, UnboundedSender<TabMessage>)>;

/// An in-process hub: every [`LocalTabChannel`] made by one `LocalTabs` (or
/// its clones) reaches all the others, as `BroadcastChannel`s of one name
/// do in a browser.
#[derive(Debug, Clone, Default)]
pub struct LocalTabs {
    subscribers: Arc<Mutex<Subscribers>>,
    next: Arc<AtomicU64>,
}

impl LocalTabs {
    /// A new hub with no channel on it.
    pub fn new() -> Self {
        LocalTabs::default()
    }

    /// A new channel on this hub (one per client).
    pub fn channel(&self) -> LocalTabChannel {
        LocalTabChannel { hub: self.clone(), id: self.next.fetch_add(1, Ordering::Relaxed) }
    }
}

/// One client's end of a [`LocalTabs`] hub.
#[derive(Debug)]
pub struct LocalTabChannel {
    hub: LocalTabs,
    id: u64,
}

impl TabChannel for LocalTabChannel {
    fn send(&self, message: &TabMessage) {
        // Only pushes and retains run under this lock: a poisoned one still holds a whole list.
        let mut subscribers = self.hub.subscribers.lock().unwrap_or_else(PoisonError::into_inner);
        subscribers.retain(|(id, tx)| *id == self.id || tx.unbounded_send(message.clone()).is_ok());
    }

    fn incoming(&self) -> BoxStream<'static, TabMessage> {
        let (tx, rx) = unbounded();
        self.hub.subscribers.lock().unwrap_or_else(PoisonError::into_inner).push((self.id, tx));
        Box::pin(rx)
    }
}

/// Applies the other clients' messages (those of `schema_version`) until
/// the channel ends or the client is dropped (`shutdown`).
pub(crate) async fn listen<R: Registry>(
    shared: std::sync::Weak<Shared<R>>,
    schema_version: String,
    mut incoming: BoxStream<'static, TabMessage>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        let message = match select(incoming.next(), &mut shutdown).await {
            Either::Left((Some(message), _)) => message,
            Either::Left((None, _)) | Either::Right(_) => return,
        };
        if message.schema_version != schema_version || message.sender != message.record.client_id {
            continue;
        }
        let Some(shared) = shared.upgrade() else { return };
        // A poisoned client ignores other tabs: its own calls report the poison.
        let _ = shared.apply_foreign(message.record);
    }
}
