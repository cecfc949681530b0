//! Mutations with pending and error signals.

use std::marker::PhantomData;

use leptos::prelude::*;
use leptos::task::spawn_local;
use plasma::client::handle::MutationFailed;
use plasma::{InRegistry, Mutator, Registry};

use crate::context::{ClientSlot, slot};

/// Runs mutator `M` of registry `R` from a component; see [`use_mutation`].
/// `Copy`, so event handlers can capture it freely.
pub struct Mutation<R, M>
where
    R: Registry + 'static,
    R::Context: 'static,
{
    client: ClientSlot<R>,
    pending: RwSignal<usize>,
    error: RwSignal<Option<String>>,
    _mutator: PhantomData<fn() -> M>,
}

impl<R, M> Clone for Mutation<R, M>
where
    R: Registry + 'static,
    R::Context: 'static,
{
    fn clone(&self) -> Self {
        *self
    }
}

impl<R, M> Copy for Mutation<R, M>
where
    R: Registry + 'static,
    R::Context: 'static,
{
}

/// A handle for running mutator `M` with signals of its progress: how many
/// of its mutations await the server, and the last error.
pub fn use_mutation<R, M>() -> Mutation<R, M>
where
    R: Registry + 'static,
    R::Context: 'static,
    M: InRegistry<R> + Mutator<Context = R::Context>,
{
    Mutation { client: slot::<R>(), pending: RwSignal::new(0), error: RwSignal::new(None), _mutator: PhantomData }
}

impl<R, M> Mutation<R, M>
where
    R: Registry + 'static,
    R::Context: 'static,
    M: InRegistry<R> + Mutator<Context = R::Context>,
{
    /// Runs the mutator against local state at once (live queries show it
    /// before this returns) and queues it for the server; a task awaits the
    /// server's answer. A local failure (the mutator's own error, a full or
    /// failing store) or the server's rejection sets [`error`](Self::error);
    /// a rejected mutation's optimistic writes are rolled back by the client.
    pub fn mutate(&self, args: M::Args) {
        let outcome = self.client.with_value(|client| client.mutate::<M>(args));
        let handle = match outcome {
            Ok(handle) => handle,
            Err(e) => {
                self.error.set(Some(e.to_string()));
                return;
            }
        };
        let (pending, error) = (self.pending, self.error);
        pending.update(|n| *n += 1);
        spawn_local(async move {
            let answer = handle.await;
            // The component may be gone by now: `try_*` ignores disposed signals.
            pending.try_update(|n| *n = n.saturating_sub(1));
            if let Err(failed) = answer {
                error.try_set(Some(message(failed)));
            }
        });
    }

    /// How many of this handle's mutations await the server's answer.
    pub fn pending(&self) -> Signal<usize> {
        self.pending.into()
    }

    /// The last error: the server's rejection message, or why the mutation
    /// could not run locally. `None` until one happens and after
    /// [`clear_error`](Self::clear_error).
    pub fn error(&self) -> Signal<Option<String>> {
        self.error.into()
    }

    /// Forgets the last error (say when the user dismisses it).
    pub fn clear_error(&self) {
        self.error.set(None);
    }
}

/// What the user reads: the server's own words for a rejection.
fn message(failed: MutationFailed) -> String {
    match failed {
        MutationFailed::Rejected(reason) => reason,
        other => other.to_string(),
    }
}
