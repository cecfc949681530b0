//! The sync server: runs an app's mutators canonically and answers push,
//! pull and pokes, with an auth hook on every request.
//!
//! The core (feature `server-core`: push, pull, compaction, forgetting,
//! request checks, routing, CORS, error bodies) is written once over
//! [`storage`] and builds without a database or an async runtime, for
//! wasm32 too. Backends:
//! - [`SyncServer`] (feature `server`): an embedded SQLite file, on tokio.
//!   [`SyncServer::handle`] is framework-agnostic (`http::Request<Bytes>` in,
//!   `http::Response<Bytes>` out); with the feature `axum`, `router` mounts it
//!   on axum together with the WebSocket poke endpoint, and `serve` runs that
//!   router on a listener with bounded connection resources (`ServeConfig`).
//! - [`BatchServer`]: any database of single statements and atomic batches
//!   ([`storage::batch::BatchDb`]); with the feature `d1`, `d1` runs it as a
//!   Cloudflare Worker on D1.

#[cfg(feature = "axum")]
mod axum_adapter;
pub mod batch_server;
#[cfg(feature = "server")]
pub mod bookkeeping;
mod clock;
pub mod compact;
pub mod cors;
#[cfg(all(feature = "d1", target_arch = "wasm32"))]
pub mod d1;
pub mod error;
pub mod forget;
pub mod http_handler;
mod poke_target;
#[cfg(feature = "server")]
pub mod pokes;
pub mod pull;
pub mod pull_scope;
pub mod push;
pub mod scope_wire;
pub mod scoped_tx;
pub mod scopes;
#[cfg(feature = "axum")]
pub mod serve;
#[cfg(feature = "server")]
mod sqlite_server;
pub mod statements;
pub mod storage;
pub mod subprotocol_headers;
pub mod validate;

use std::time::Duration;

/// The `http` crate the auth hook's `HeaderMap` and `handle`'s request and
/// response types come from, so apps need not pin it themselves.
pub use http;

#[cfg(feature = "axum")]
pub use axum_adapter::router;
pub use batch_server::{BatchServer, BatchServerBuilder, ConnectedGroup, PushNotice};
pub use clock::now_ms;
pub use cors::CorsConfig;
pub use error::ServerError;
pub use poke_target::PokeTarget;
pub use scopes::{Scope, ScopeError, Scopes, TableRule, Unscoped};
#[cfg(feature = "server")]
pub use pokes::{PokeHub, PokeSubscription, SubscribeError};
#[cfg(feature = "axum")]
pub use serve::{ServeConfig, serve, serve_with_shutdown};
#[cfg(feature = "server")]
pub use sqlite_server::{SyncServer, SyncServerBuilder};

use crate::protocol::{ErrorCode, ServerLimits};

/// Longest id (client group, client) accepted, in bytes.
pub const MAX_ID_BYTES: usize = 256;

/// Limits and knobs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Path prefix of the endpoints (`{base}/push`, `{base}/pull`, `{base}/poke`).
    pub base_path: String,
    /// Largest request body accepted (413 above it).
    pub max_body_bytes: usize,
    /// Most mutations in one push.
    pub max_mutations_per_push: usize,
    /// Most rows in one pull response: bounds server memory per pull.
    pub pull_page_rows: usize,
    /// Most bytes of row JSON in one pull response (a single larger row is
    /// still sent, alone): bounds server memory per pull for wide rows.
    pub pull_page_bytes: usize,
    /// Read-only connections pulls run on (file databases), so a large pull
    /// never holds the connection pushes write on.
    pub pull_connections: usize,
    /// How long a socket gathers pokes before sending one.
    pub poke_coalesce: Duration,
    /// Largest total size of a request's headers (names and values), answered
    /// with a JSON 431 above it (checked by the axum endpoint). Keep it below
    /// `ServeConfig::max_buf_size`, above which hyper itself answers a bare 431.
    pub max_header_bytes: usize,
    /// How long a request body may take to arrive once the headers are in
    /// (JSON 408 `request_timeout` after it, and the connection is closed).
    pub body_read_timeout: Duration,
    /// Most poke sockets open at once, over all users (JSON 503 `overloaded` above it).
    pub max_poke_sockets: usize,
    /// Most poke sockets one user may hold open (JSON 429 `too_many_sockets` above it).
    pub max_poke_sockets_per_user: usize,
    /// Which browser origins may call the endpoints (off by default: only
    /// pages of the server's own origin). See [`CorsConfig`].
    pub cors: CorsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            base_path: "/sync".to_owned(),
            max_body_bytes: 4 << 20,
            max_mutations_per_push: 5_000,
            pull_page_rows: 10_000,
            pull_page_bytes: 4 << 20,
            pull_connections: 4,
            poke_coalesce: Duration::from_millis(10),
            max_header_bytes: 16 << 10,
            body_read_timeout: Duration::from_secs(30),
            max_poke_sockets: 10_000,
            max_poke_sockets_per_user: 32,
            cors: CorsConfig::default(),
        }
    }
}

/// Who is asking, as established by the auth hook.
#[derive(Debug, Clone)]
pub struct Authorized<Ctx> {
    /// The authenticated user; client groups belong to exactly one user.
    pub user_id: String,
    /// If set, the only client group this request may name.
    pub client_group_id: Option<String>,
    /// If set, the only client whose mutations this request may carry.
    pub client_id: Option<String>,
    /// The app's context, handed to every mutator.
    pub ctx: Ctx,
}

impl<Ctx> Authorized<Ctx> {
    /// A user with a context, not pinned to a group or client.
    pub fn user(user_id: impl Into<String>, ctx: Ctx) -> Self {
        Authorized { user_id: user_id.into(), client_group_id: None, client_id: None, ctx }
    }
}

/// The auth hook's refusal: 401 or 403 with the reason in the JSON body.
#[derive(Debug, Clone)]
pub struct AuthRejection {
    /// `Unauthorized` (401) or `Forbidden` (403).
    pub code: ErrorCode,
    /// Why, for the client.
    pub reason: String,
}

impl AuthRejection {
    /// 401: credentials missing or invalid.
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        AuthRejection { code: ErrorCode::Unauthorized, reason: reason.into() }
    }
    /// 403: authenticated but not allowed.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        AuthRejection { code: ErrorCode::Forbidden, reason: reason.into() }
    }
}

/// Why a server could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No auth hook was given.
    #[error("the sync server needs an auth hook: call .auth(...)")]
    MissingAuth,
    /// No read rules were given: which rows each user reads is never left to chance.
    #[error(
        "the sync server needs read rules: call .scopes(Scopes::new().table::<..>(..)..), or .scopes(Scopes::read_all()) if every user may read every row"
    )]
    MissingScopes,
    /// The read rules do not fit the schema.
    #[error(transparent)]
    Scope(#[from] ScopeError),
    /// Two mutators share a name.
    #[error("two mutators are named `{0}`")]
    DuplicateMutator(String),
    /// `ensure_schema` failed or refused.
    #[error(transparent)]
    Schema(#[from] crate::error::ExecError),
}

impl BuildError {
    /// Refuses a registry in which two mutators share a name.
    pub(crate) fn check_names<R: crate::mutator::Registry>() -> Result<(), BuildError> {
        match R::NAMES.iter().enumerate().find(|(i, name)| R::NAMES[..*i].contains(name)) {
            Some((_, name)) => Err(BuildError::DuplicateMutator((*name).to_owned())),
            None => Ok(()),
        }
    }
}

impl ServerConfig {
    /// The defaults for a Worker on D1: pushes of at most 250 mutations
    /// (a Worker invocation runs at most 1,000 D1 queries; clients split
    /// pushes under the limit every pull advertises).
    pub fn for_d1() -> Self {
        ServerConfig { max_mutations_per_push: 250, ..ServerConfig::default() }
    }

    /// The page bounds of one pull response.
    pub fn page_limit(&self) -> pull::PageLimit {
        pull::PageLimit { rows: self.pull_page_rows, bytes: self.pull_page_bytes }
    }

    /// The limits every pull response advertises, so clients size pushes under them.
    pub fn advertised_limits(&self) -> ServerLimits {
        ServerLimits { max_body_bytes: self.max_body_bytes, max_mutations_per_push: self.max_mutations_per_push }
    }
}

pub(crate) use validate::check_id;
