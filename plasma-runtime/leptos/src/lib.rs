//! Leptos bindings for plasma (browser, Leptos 0.8 `csr`).
//!
//! Put a [`Client`] in context once with [`provide_plasma`] (or the
//! [`PlasmaProvider`] component), then in any component below:
//!
//! - [`use_live_query`]: a signal of a query's rows, kept current by applying
//!   each [`Diff`](plasma::live::Diff) the client delivers (no re-query, no
//!   second cache, no polling); it re-subscribes when the query closure's
//!   reactive inputs change and unsubscribes when the component goes away;
//! - [`use_mutation`]: `.mutate(args)` runs a mutator optimistically and
//!   awaits the server's answer, with `.pending()` and `.error()` signals (the
//!   server's rejection message lands in `.error()`);
//! - [`use_sync_status`] and [`use_pending_count`]: signals fed by
//!   [`Client::events`].
//!
//! ```ignore
//! use leptos::prelude::*;
//! use plasma_leptos::{use_live_query, use_mutation};
//! use todo::{CreateTodo, Todo, TodoMutators, create_todo};
//!
//! #[component]
//! fn OpenTodos() -> impl IntoView {
//!     let rows = use_live_query::<TodoMutators, _>(|| Todo::select().filter(Todo::DONE.eq(false)));
//!     let create = use_mutation::<TodoMutators, create_todo>();
//!     let add = move |_| {
//!         let id = plasma_leptos::use_plasma::<TodoMutators>().new_id();
//!         create.mutate(CreateTodo { id, title: "Try plasma".into(), updated_at: 0 });
//!     };
//!     view! {
//!         <button on:click=add>"Add todo"</button>
//!         <ul>{move || rows.get().into_iter().map(|t| view! { <li>{t.title}</li> }).collect_view()}</ul>
//!         <Show when=move || create.error().get().is_some()>
//!             <p role="alert">{move || create.error().get()}</p>
//!         </Show>
//!     }
//! }
//! ```
//!
//! The example is not compiled as a doctest (doctests build natively, and
//! this crate is browser-only); `examples/todo/web` is the compiled example.
//!
//! The crate is wasm32-only: on other targets it is empty, so native builds
//! of the workspace never compile Leptos. It is a separate crate rather than
//! a feature of `plasma` for the same reason (see ARCHITECTURE.md).

#![deny(missing_docs)]

#[cfg(target_arch = "wasm32")]
mod context;
#[cfg(target_arch = "wasm32")]
mod live;
#[cfg(target_arch = "wasm32")]
mod mutation;
#[cfg(target_arch = "wasm32")]
mod status;

#[cfg(target_arch = "wasm32")]
pub use context::{PlasmaProvider, provide_plasma, use_plasma};
#[cfg(target_arch = "wasm32")]
pub use live::use_live_query;
#[cfg(target_arch = "wasm32")]
pub use mutation::{Mutation, use_mutation};
#[cfg(target_arch = "wasm32")]
pub use plasma::client::Client;
#[cfg(target_arch = "wasm32")]
pub use status::{use_pending_count, use_sync_status};
