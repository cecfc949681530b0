//! The handle `mutate` returns: resolves when the server has answered.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_channel::oneshot;

/// Why a mutation did not take effect on the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MutationFailed {
    /// The server ran the mutator and it returned this error; its optimistic
    /// writes were rolled back on every client.
    #[error("the server rejected the mutation: {0}")]
    Rejected(String),
    /// The client was reset (its client group was unknown to the server) before
    /// the mutation was pushed; it was dropped.
    #[error("the mutation was dropped: {0}")]
    Dropped(String),
    /// The client was dropped before the server answered. The mutation stays
    /// in the durable queue and is pushed when a client starts on the same store.
    #[error("the client closed before the server answered")]
    ClientClosed,
}

/// Resolves a [`MutationHandle`].
#[derive(Debug)]
pub(crate) struct Resolver(oneshot::Sender<Result<(), MutationFailed>>);

impl Resolver {
    pub(crate) fn resolve(self, outcome: Result<(), MutationFailed>) {
        // The app may have dropped the handle: nobody to tell, nothing lost.
        let _ = self.0.send(outcome);
    }
}

/// A queued mutation. Awaiting it yields `Ok(())` once the server applied it,
/// or why it did not. Dropping it does not cancel the mutation.
#[derive(Debug)]
#[must_use = "the mutation is queued either way; await the handle to learn the server's answer"]
pub struct MutationHandle {
    client_id: String,
    mutation_id: u64,
    outcome: oneshot::Receiver<Result<(), MutationFailed>>,
}

impl MutationHandle {
    pub(crate) fn pair(client_id: String, mutation_id: u64) -> (Resolver, MutationHandle) {
        let (tx, rx) = oneshot::channel();
        (Resolver(tx), MutationHandle { client_id, mutation_id, outcome: rx })
    }

    /// The client that queued the mutation.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The mutation's id within its client.
    pub fn mutation_id(&self) -> u64 {
        self.mutation_id
    }

    /// The answer if it has arrived, without waiting.
    pub fn try_outcome(&mut self) -> Option<Result<(), MutationFailed>> {
        match self.outcome.try_recv() {
            Ok(Some(outcome)) => Some(outcome),
            Ok(None) => None,
            Err(oneshot::Canceled) => Some(Err(MutationFailed::ClientClosed)),
        }
    }
}

impl Future for MutationHandle {
    type Output = Result<(), MutationFailed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.outcome).poll(cx).map(|r| r.unwrap_or(Err(MutationFailed::ClientClosed)))
    }
}
