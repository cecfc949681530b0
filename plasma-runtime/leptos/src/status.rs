//! Sync status and pending count as signals, fed by the client's events.

use futures_util::StreamExt;
use leptos::prelude::*;
use leptos::task::spawn_local;
use plasma::Registry;
use plasma::client::events::{ClientEvent, SyncStatus};

use crate::context::slot;

/// A signal of the client's [`SyncStatus`], updated from
/// [`Client::events`](plasma::client::Client::events). The task feeding it
/// stops at the first event after the calling component is cleaned up.
pub fn use_sync_status<R>() -> ReadSignal<SyncStatus>
where
    R: Registry + 'static,
    R::Context: 'static,
{
    let client = slot::<R>();
    let (status, set_status) = signal(client.with_value(|c| c.status()));
    let mut events = client.with_value(|c| c.events());
    spawn_local(async move {
        while let Some(event) = events.next().await {
            let now = match event {
                ClientEvent::Status(now) => now,
                // Missed events may have held a status change: read it.
                ClientEvent::Lagged { .. } => match client.try_with_value(|c| c.status()) {
                    Some(now) => now,
                    None => return,
                },
                _ => continue,
            };
            if set_status.try_set(now).is_some() {
                return;
            }
        }
    });
    status
}

/// A signal of how many of this client's mutations await the server,
/// re-read after every client event (a mutation, a status change, a pull).
/// The task feeding it stops at the first event after the calling component
/// is cleaned up.
pub fn use_pending_count<R>() -> ReadSignal<usize>
where
    R: Registry + 'static,
    R::Context: 'static,
{
    let client = slot::<R>();
    let read = move || client.try_with_value(|c| c.pending_count().unwrap_or(0));
    let (count, set_count) = signal(read().unwrap_or(0));
    let mut events = client.with_value(|c| c.events());
    spawn_local(async move {
        while events.next().await.is_some() {
            let Some(now) = read() else { return };
            if set_count.try_set(now).is_some() {
                return;
            }
        }
    });
    count
}
