//! Live queries as signals.

use leptos::prelude::*;
use plasma::query::typed::Select;
use plasma::{Registry, Table};
use send_wrapper::SendWrapper;

use crate::context::slot;

/// A signal of the rows of the query `query` builds, kept current by the
/// client's live query: each [`Diff`](plasma::live::Diff) is applied to the
/// signal's `Vec` in place (no re-query, no second cache, no polling).
///
/// `query` runs inside an effect: when a signal it reads changes, the old
/// live query is dropped (unsubscribed) and a new one is subscribed with the
/// new query. When the calling component is cleaned up the live query is
/// dropped too. The signal starts empty and holds the current rows from the
/// effect's first run (the next tick).
///
/// If the client cannot subscribe (it was closed, or a panic poisoned it),
/// the signal is emptied and the error is logged to the console.
pub fn use_live_query<R, T>(query: impl Fn() -> Select<T> + 'static) -> ReadSignal<Vec<T>, LocalStorage>
where
    R: Registry + 'static,
    R::Context: 'static,
    T: Table + Clone + 'static,
{
    let client = slot::<R>();
    let (rows, set_rows) = signal_local(Vec::<T>::new());
    Effect::new(move |_| {
        let select = query();
        let subscribed = client.with_value(|client| client.live(&select));
        let live = match subscribed.and_then(|live| live.rows().map(|now| (live, now))) {
            Ok((live, now)) => {
                set_rows.set(now);
                live
            }
            Err(e) => {
                leptos::logging::error!("plasma: cannot subscribe to a live query: {e}");
                set_rows.set(Vec::new());
                return;
            }
        };
        // Called outside the client's lock, after every change of the result.
        live.on_change(move |diff| {
            set_rows.update(|rows| diff.apply(rows));
        });
        // Runs before the effect re-runs and when its owner is disposed.
        // The browser has one thread, so the wrapper is never sent anywhere.
        let live = SendWrapper::new(live);
        on_cleanup(move || drop(live));
    });
    rows
}
