//! Poke fan-out: after a commit, every connected client that can see the
//! change gets a contentless "pull now". Senders never wait on sockets.

use tokio::sync::broadcast;

/// Which client groups a commit concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PokeTarget {
    /// Row data changed: every group sees every row, so everyone pulls.
    All,
    /// Only this group's bookkeeping changed (for example a failed mutation).
    Group(String),
}

/// A broadcast hub. A lagging subscriber loses individual pokes, never the
/// fact that it must pull: `recv` reports the lag, which counts as a poke.
#[derive(Debug, Clone)]
pub struct PokeHub {
    sender: broadcast::Sender<PokeTarget>,
}

impl PokeHub {
    /// A hub buffering up to `capacity` pokes per subscriber.
    pub fn new(capacity: usize) -> Self {
        PokeHub { sender: broadcast::channel(capacity.max(1)).0 }
    }

    /// Announces a commit. Never blocks.
    pub fn poke(&self, target: PokeTarget) {
        // No subscribers is not an error.
        let _ = self.sender.send(target);
    }

    /// A subscription for one client group.
    pub fn subscribe(&self, client_group_id: String) -> PokeSubscription {
        PokeSubscription { receiver: self.sender.subscribe(), client_group_id }
    }
}

/// Pokes relevant to one client group.
#[derive(Debug)]
pub struct PokeSubscription {
    receiver: broadcast::Receiver<PokeTarget>,
    client_group_id: String,
}

impl PokeSubscription {
    /// Waits for the next poke for this group; `None` when the hub is gone.
    pub async fn next(&mut self) -> Option<()> {
        loop {
            match self.receiver.recv().await {
                Ok(PokeTarget::All) | Err(broadcast::error::RecvError::Lagged(_)) => return Some(()),
                Ok(PokeTarget::Group(g)) if g == self.client_group_id => return Some(()),
                Ok(PokeTarget::Group(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Swallows pokes already queued, so a burst becomes one message.
    pub fn drain(&mut self) {
        while self.receiver.try_recv().is_ok() {}
    }
}
