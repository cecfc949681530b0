//! The sync state and pending count in the header.

use leptos::prelude::*;
use plasma::client::events::SyncStatus;
use plasma_leptos::{use_pending_count, use_sync_status};
use todo::TodoMutators;

/// The words the page shows for a status (the e2e tests read them).
fn label(status: &SyncStatus) -> &'static str {
    match status {
        SyncStatus::Offline => "offline",
        SyncStatus::Syncing => "syncing",
        SyncStatus::InSync => "in sync",
        SyncStatus::UpdateNeeded => "update needed",
        SyncStatus::Unauthorized => "unauthorized",
    }
}

/// `offline` / `syncing` / `in sync` / `update needed` / `unauthorized`, and
/// how many changes wait for the server.
#[component]
pub fn SyncState() -> impl IntoView {
    let status = use_sync_status::<TodoMutators>();
    let pending = use_pending_count::<TodoMutators>();
    let class = move || format!("status status-{}", label(&status.get()).replace(' ', "-"));
    view! {
        <p class="sync" aria-live="polite">
            <span class=class data-testid="sync-status">{move || label(&status.get())}</span>
            <span class="pending" title="Changes not yet confirmed by the server">
                <span data-testid="pending-count">{move || pending.get()}</span>
                " pending"
            </span>
        </p>
    }
}
