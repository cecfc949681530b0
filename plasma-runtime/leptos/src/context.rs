//! The client in Leptos context.

use leptos::prelude::*;
use plasma::Registry;
use plasma::client::Client;

/// Where the client lives in context: a `Copy` handle on an arena slot, so
/// components and closures can capture it even though the client itself is
/// not `Send` in the browser.
pub(crate) type ClientSlot<R> = StoredValue<Client<R>, LocalStorage>;

/// Makes `client` available to [`use_plasma`] (and every other `use_*` hook
/// of this crate) in the current component and all below it. Call it once,
/// near the root, after the client is built (and started).
pub fn provide_plasma<R>(client: Client<R>)
where
    R: Registry + 'static,
    R::Context: 'static,
{
    provide_context::<ClientSlot<R>>(StoredValue::new_local(client));
}

/// The client [`provide_plasma`] put in context (a clone: clones share
/// everything).
///
/// # Panics
///
/// If no client of registry `R` was provided above the calling component: a
/// wiring mistake in the app, not a runtime condition.
pub fn use_plasma<R>() -> Client<R>
where
    R: Registry + 'static,
    R::Context: 'static,
{
    slot::<R>().get_value()
}

/// The context slot of the client of registry `R`.
pub(crate) fn slot<R>() -> ClientSlot<R>
where
    R: Registry + 'static,
    R::Context: 'static,
{
    use_context::<ClientSlot<R>>().unwrap_or_else(|| {
        panic!(
            "no plasma client of `{}` in context: call `provide_plasma(client)` (or wrap the app in `<PlasmaProvider>`) above this component",
            std::any::type_name::<R>()
        )
    })
}

/// Provides `client` (see [`provide_plasma`]) to its children.
///
/// ```ignore
/// view! { <PlasmaProvider client=client><App/></PlasmaProvider> }
/// ```
#[component]
pub fn PlasmaProvider<R>(
    /// The client the children's hooks use.
    client: Client<R>,
    /// The app.
    children: Children,
) -> impl IntoView
where
    R: Registry + 'static,
    R::Context: 'static,
{
    provide_plasma(client);
    children()
}
