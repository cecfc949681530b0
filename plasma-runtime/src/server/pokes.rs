//! Poke fan-out: after a commit, every connected client that can see the
//! change gets a contentless "pull now". Senders never wait on sockets.
//!
//! The hub also keeps the books on open subscriptions: how many each user and
//! everyone together hold (both capped), and which user holds each group's
//! subscriptions, so that when a push claims a group every subscription of
//! that group held by another user is revoked.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, broadcast};

pub use crate::server::PokeTarget;
use crate::server::Scope;

/// Why the hub refused a subscription.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The user already holds `max_poke_sockets_per_user` subscriptions.
    #[error("this user already holds {0} poke sockets, the most allowed")]
    UserLimit(usize),
    /// The hub already holds `max_poke_sockets` subscriptions.
    #[error("the server already holds {0} poke sockets, the most allowed")]
    TotalLimit(usize),
}

/// A broadcast hub. A lagging subscriber loses individual pokes, never the
/// fact that it must pull: `recv` reports the lag, which counts as a poke.
#[derive(Debug, Clone)]
pub struct PokeHub {
    sender: broadcast::Sender<PokeTarget>,
    books: Arc<Mutex<Books>>,
    max_total: usize,
    max_per_user: usize,
}

/// Open subscriptions, by user and by group.
#[derive(Debug, Default)]
struct Books {
    next_id: u64,
    total: usize,
    per_user: HashMap<String, usize>,
    by_group: HashMap<String, Vec<Holder>>,
}

#[derive(Debug)]
struct Holder {
    id: u64,
    user: String,
    /// The holder's read rules: pokes go only where a commit touched them.
    scope: Option<Arc<Scope>>,
    revocation: Arc<Revocation>,
}

/// Set once when the subscription's group turns out to belong to another user.
#[derive(Debug, Default)]
struct Revocation {
    revoked: AtomicBool,
    notify: Notify,
}

impl PokeHub {
    /// A hub buffering up to `capacity` pokes per subscriber, without caps.
    pub fn new(capacity: usize) -> Self {
        Self::with_limits(capacity, usize::MAX, usize::MAX)
    }

    /// A hub that holds at most `max_total` subscriptions, at most
    /// `max_per_user` of them for one user.
    pub fn with_limits(capacity: usize, max_total: usize, max_per_user: usize) -> Self {
        PokeHub { sender: broadcast::channel(capacity.max(1)).0, books: Arc::default(), max_total, max_per_user }
    }

    /// Announces a commit. Never blocks.
    pub fn poke(&self, target: PokeTarget) {
        // No subscribers is not an error.
        let _ = self.sender.send(target);
    }

    /// A subscription of `user_id` for one client group, counted against the
    /// caps until it is dropped. Check the group's owner *after* subscribing:
    /// a claim that commits after the check then revokes this subscription.
    pub fn subscribe(&self, client_group_id: String, user_id: String) -> Result<PokeSubscription, SubscribeError> {
        self.subscribe_scoped(client_group_id, user_id, None)
    }

    /// [`subscribe`](Self::subscribe) for a user reading `scope`, which
    /// [`connected`](Self::connected) hands to the server deciding whom a
    /// commit concerns.
    pub fn subscribe_scoped(
        &self,
        client_group_id: String,
        user_id: String,
        scope: Option<Arc<Scope>>,
    ) -> Result<PokeSubscription, SubscribeError> {
        let mut books = lock(&self.books);
        if books.total >= self.max_total {
            return Err(SubscribeError::TotalLimit(self.max_total));
        }
        let held = books.per_user.get(&user_id).copied().unwrap_or(0);
        if held >= self.max_per_user {
            return Err(SubscribeError::UserLimit(self.max_per_user));
        }
        books.total += 1;
        books.per_user.insert(user_id.clone(), held + 1);
        books.next_id += 1;
        let id = books.next_id;
        let revocation = Arc::new(Revocation::default());
        books.by_group.entry(client_group_id.clone()).or_default().push(Holder {
            id,
            user: user_id.clone(),
            scope,
            revocation: Arc::clone(&revocation),
        });
        Ok(PokeSubscription {
            receiver: self.sender.subscribe(),
            client_group_id,
            user_id,
            id,
            revocation,
            books: Arc::clone(&self.books),
        })
    }

    /// `owner` now owns `client_group_id` (a push by them succeeded): every
    /// subscription of that group held by another user is revoked.
    pub fn claimed(&self, client_group_id: &str, owner: &str) {
        let books = lock(&self.books);
        for holder in books.by_group.get(client_group_id).into_iter().flatten() {
            if holder.user != owner {
                holder.revocation.revoked.store(true, Ordering::SeqCst);
                // Stores a permit if the socket is not waiting right now.
                holder.revocation.notify.notify_one();
            }
        }
    }

    /// Every subscribed group with the read scope of (one of) its holders.
    pub fn connected(&self) -> Vec<(String, Option<Arc<Scope>>)> {
        let books = lock(&self.books);
        books
            .by_group
            .iter()
            .filter_map(|(group, holders)| Some((group.clone(), holders.first()?.scope.clone())))
            .collect()
    }

    /// Subscriptions open right now.
    pub fn open_subscriptions(&self) -> usize {
        lock(&self.books).total
    }
}

fn lock(books: &Mutex<Books>) -> MutexGuard<'_, Books> {
    // The books are updated without panicking code in between; a poisoned
    // lock still holds consistent counts.
    books.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Pokes relevant to one client group. Dropping it frees its place in the caps.
#[derive(Debug)]
pub struct PokeSubscription {
    receiver: broadcast::Receiver<PokeTarget>,
    client_group_id: String,
    user_id: String,
    id: u64,
    revocation: Arc<Revocation>,
    books: Arc<Mutex<Books>>,
}

impl PokeSubscription {
    /// Waits for the next poke for this group; `None` when the hub is gone or
    /// the subscription was revoked (see [`PokeSubscription::is_revoked`]).
    pub async fn next(&mut self) -> Option<()> {
        loop {
            if self.is_revoked() {
                return None;
            }
            let received = tokio::select! {
                received = self.receiver.recv() => received,
                () = self.revocation.notify.notified() => continue,
            };
            // A claim revokes before the claiming push pokes: never poke a revoked socket.
            if self.is_revoked() {
                return None;
            }
            match received {
                Err(broadcast::error::RecvError::Lagged(_)) => return Some(()),
                Ok(target) if target.includes(&self.client_group_id) => return Some(()),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Whether the group turned out to belong to another user: the socket must close.
    pub fn is_revoked(&self) -> bool {
        self.revocation.revoked.load(Ordering::SeqCst)
    }

    /// Swallows pokes already queued, so a burst becomes one message.
    pub fn drain(&mut self) {
        while self.receiver.try_recv().is_ok() {}
    }
}

impl Drop for PokeSubscription {
    fn drop(&mut self) {
        let mut books = lock(&self.books);
        books.total = books.total.saturating_sub(1);
        if let Some(held) = books.per_user.get_mut(&self.user_id) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                books.per_user.remove(&self.user_id);
            }
        }
        if let Some(holders) = books.by_group.get_mut(&self.client_group_id) {
            holders.retain(|h| h.id != self.id);
            if holders.is_empty() {
                books.by_group.remove(&self.client_group_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_open_subscriptions_and_free_on_drop() {
        let hub = PokeHub::with_limits(4, 3, 2);
        let a1 = hub.subscribe("g1".into(), "a".into()).expect("first");
        let _a2 = hub.subscribe("g2".into(), "a".into()).expect("second");
        assert_eq!(hub.subscribe("g3".into(), "a".into()).err(), Some(SubscribeError::UserLimit(2)));
        let _b1 = hub.subscribe("g4".into(), "b".into()).expect("b's first");
        assert_eq!(hub.subscribe("g5".into(), "c".into()).err(), Some(SubscribeError::TotalLimit(3)));
        drop(a1);
        assert_eq!(hub.open_subscriptions(), 2);
        assert!(hub.subscribe("g3".into(), "a".into()).is_ok(), "a dropped subscription frees its place");
    }

    #[tokio::test]
    async fn a_claim_revokes_other_users_subscriptions_of_the_group_only() {
        let hub = PokeHub::new(4);
        let mut foreign = hub.subscribe("g".into(), "b".into()).expect("b");
        let own = hub.subscribe("g".into(), "a".into()).expect("a");
        let other_group = hub.subscribe("h".into(), "b".into()).expect("b on h");
        hub.claimed("g", "a");
        assert!(foreign.is_revoked());
        assert_eq!(foreign.next().await, None, "a revoked subscription ends");
        assert!(!own.is_revoked());
        assert!(!other_group.is_revoked());
    }
}
