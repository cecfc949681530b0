//! The todo app's sync server as a Cloudflare Worker on D1.
//!
//! The same `todo` crate (schema, mutators, auth hook) as the axum server in
//! `examples/todo`; only the front differs. `wrangler.toml` binds the D1
//! database as `DB` and the poke Durable Object as `PLASMA_POKES`. Vars:
//! `ALLOWED_ORIGINS` (comma-separated, `*` for any: development only).
//! Local loop and deployment: docs/deploy-cloudflare.md.

#![cfg(target_arch = "wasm32")]

use todo::{SCHEMA, ServerRules, TodoMutators, USER_HEADER};
use worker::{Context, Env, Request, Response, event};

/// The poke Durable Object class, exported from the Worker's module.
pub use plasma::server::d1::PlasmaPokes;

#[event(fetch)]
async fn fetch(request: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let mut builder = plasma::server::d1::builder::<TodoMutators>(&SCHEMA, &env)?.allow_header(USER_HEADER);
    let origins = env.var("ALLOWED_ORIGINS").map(|v| v.to_string()).unwrap_or_default();
    for origin in origins.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        builder = if origin == "*" { builder.allow_any_origin() } else { builder.allow_origin(origin) };
    }
    let server = builder
        .auth(|headers| async move { todo::auth::authorize(&headers, ServerRules::default()) })
        .build()
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    plasma::server::d1::serve(&server, &env, request).await
}
