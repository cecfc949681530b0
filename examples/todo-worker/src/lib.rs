//! The todo app's sync server as a Cloudflare Worker on D1.
//!
//! The same `todo` crate (schema, mutators, auth hook) as the axum server in
//! `examples/todo`; only the front differs. `wrangler.toml` binds the D1
//! database as `DB` and the poke Durable Object as `PLASMA_POKES`. Vars:
//! `ALLOWED_ORIGINS` (comma-separated, `*` for any: development only),
//! `MAX_BODY_BYTES` (request body limit, default 4 MiB) and
//! `MAX_TITLE_CHARS` (the app's title limit, default 100, `none` for no limit).
//! Local loop and deployment: docs/deploy-cloudflare.md.

#![cfg(target_arch = "wasm32")]

use plasma::server::ServerConfig;
use todo::{SCHEMA, ServerRules, TodoMutators, USER_HEADER};
use worker::{Context, Env, Request, Response, event};

/// The poke Durable Object class, exported from the Worker's module.
pub use plasma::server::d1::PlasmaPokes;

#[event(fetch)]
async fn fetch(request: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
    let mut config = ServerConfig::for_d1();
    if let Some(limit) = var("MAX_BODY_BYTES").and_then(|v| v.parse().ok()) {
        config.max_body_bytes = limit;
    }
    // Browsers of allowed origins may send the header the auth hook reads.
    config.cors.allowed_headers.push(USER_HEADER.to_owned());
    for origin in var("ALLOWED_ORIGINS").unwrap_or_default().split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match origin {
            "*" => config.cors.allow_any_origin = true,
            origin => config.cors.allowed_origins.push(origin.to_owned()),
        }
    }
    let rules = match var("MAX_TITLE_CHARS").as_deref() {
        Some("none") => ServerRules::unlimited(),
        Some(n) => ServerRules { max_title_chars: n.parse().ok().or(ServerRules::default().max_title_chars) },
        None => ServerRules::default(),
    };
    let server = plasma::server::d1::builder::<TodoMutators>(&SCHEMA, &env)?
        .config(config)
        .auth(move |headers| async move { todo::auth::authorize(&headers, rules) })
        .scopes(todo::access::scopes())
        .build()
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    plasma::server::d1::serve(&server, &env, request).await
}
