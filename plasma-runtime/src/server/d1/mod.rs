//! The sync server as a Cloudflare Worker on D1 (feature `d1`, wasm32 only).
//!
//! - [`D1Db`]: a D1 binding as a [`BatchDb`](crate::server::storage::batch::BatchDb),
//!   so [`BatchServer`](crate::server::BatchServer) runs the shared push and pull cores on it (guarded
//!   batches: see ARCHITECTURE.md, "Server backends without interactive
//!   transactions").
//! - [`builder`] and [`serve`]: the Worker's `fetch` entry. Push and pull go
//!   through [`BatchServer::handle`](crate::server::BatchServer::handle) (the same routing, limits, checks and
//!   error bodies as the axum server); the schema is applied once per isolate.
//! - [`PlasmaPokes`]: a Durable Object holding every poke socket with the
//!   WebSocket Hibernation API (idle sockets cost no duration), told by the
//!   Worker after each push whom to poke.
//!
//! ```ignore
//! use worker::{Context, Env, Request, Response, event};
//! pub use plasma::server::d1::PlasmaPokes;
//!
//! #[event(fetch)]
//! async fn fetch(request: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
//!     let server = plasma::server::d1::builder::<todo::Mutators>(&todo::SCHEMA, &env)?
//!         .auth(|headers| async move { /* read a token, return Authorized */ })
//!         .build()?;
//!     plasma::server::d1::serve(&server, &env, request).await
//! }
//! ```

mod database;
mod front;
mod pokes;

pub use database::D1Db;
pub use front::{DATABASE_BINDING, POKES_BINDING, builder, serve};
pub use pokes::PlasmaPokes;
