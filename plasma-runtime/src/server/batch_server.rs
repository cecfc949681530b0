//! [`BatchServer`]: the sync server on any [`BatchDb`] (Cloudflare D1, or
//! its SQLite model), as the same HTTP surface as [`SyncServer`](crate::server::SyncServer):
//! same routing, limits, request checks, push and pull cores, error bodies.
//!
//! Nothing here is `Send` or spawns: a Worker runs one request at a time per
//! isolate on one thread, and awaits the database. The auth hook may hold
//! non-`Send` values (a Worker's `Env`), and the poke hook hands each push's
//! [`PokeTarget`] to whatever fans pokes out (the Worker's Durable Object).

use std::future::Future;
use std::sync::Arc;
use std::pin::Pin;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};

use crate::mutator::Registry;
use crate::protocol::{ErrorCode, PullResponse, PushResponse};
use crate::schema::Schema;
use crate::server::http_handler::{Endpoint, exchange, json, respond};
use crate::server::storage::batch::BatchDb;
use crate::server::storage::batch_schema;
use crate::server::storage::batched::BatchStorage;
use crate::server::{
    AuthRejection, Authorized, BuildError, PokeTarget, Scope, Scopes, ServerConfig, ServerError, check_id, compact,
    forget, now_ms, pull, pull_scope, push, scope_wire, validate,
};
use crate::sql::migrate::SchemaChange;

type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;
type AuthFn<Ctx> = dyn Fn(HeaderMap) -> LocalFuture<Result<Authorized<Ctx>, AuthRejection>>;
type NoticeFn = dyn Fn(PushNotice) -> LocalFuture<()>;
type ConnectedFn = dyn Fn() -> LocalFuture<Vec<ConnectedGroup>>;

/// A group with an open poke socket, and the read scope its socket was
/// opened under ([`scope_wire`](crate::server::scope_wire) JSON; `None`:
/// unknown, so every data change pokes it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConnectedGroup {
    /// The client group.
    pub group: String,
    /// Its socket's scope as JSON.
    pub scope: Option<String>,
}

/// What a push means for poke sockets, handed to [`BatchServerBuilder::on_push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushNotice {
    /// Whom to poke, if anyone must pull.
    pub poke: Option<PokeTarget>,
    /// The group that pushed.
    pub group: String,
    /// The group's owner, when the push proved it (it may have just claimed
    /// the group): sockets of `group` held by any other user must close.
    pub owner: Option<String>,
}

/// The sync server for the app whose mutators are `R`, on batch database `B`.
pub struct BatchServer<R: Registry, B: BatchDb> {
    storage: BatchStorage<B>,
    schema: &'static Schema,
    schema_version: String,
    config: ServerConfig,
    auth: Box<AuthFn<R::Context>>,
    scopes: Scopes<R::Context>,
    notice: Option<Box<NoticeFn>>,
    connected: Option<Box<ConnectedFn>>,
}

/// Builds a [`BatchServer`].
pub struct BatchServerBuilder<R: Registry, B: BatchDb> {
    db: B,
    schema: &'static Schema,
    config: ServerConfig,
    auth: Option<Box<AuthFn<R::Context>>>,
    scopes: Option<Scopes<R::Context>>,
    notice: Option<Box<NoticeFn>>,
    connected: Option<Box<ConnectedFn>>,
}

impl<R: Registry, B: BatchDb> BatchServerBuilder<R, B> {
    /// Replaces all limits at once: base path, CORS, body and push limits,
    /// pull pages (start from [`ServerConfig::for_d1`] on D1).
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// The auth hook, called with the headers of every request (required).
    pub fn auth<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(HeaderMap) -> Fut + 'static,
        Fut: Future<Output = Result<Authorized<R::Context>, AuthRejection>> + 'static,
    {
        self.auth = Some(Box::new(move |headers| Box::pin(hook(headers))));
        self
    }

    /// The read rules (required; see
    /// [`SyncServerBuilder::scopes`](crate::server::SyncServerBuilder::scopes)).
    pub fn scopes(mut self, scopes: Scopes<R::Context>) -> Self {
        self.scopes = Some(scopes);
        self
    }

    /// Called after every push that pokes someone or proves who owns the
    /// group (the Worker adapter tells its Durable Object).
    pub fn on_push<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(PushNotice) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.notice = Some(Box::new(move |notice| Box::pin(hook(notice))));
        self
    }

    /// Lists the groups with open poke sockets and their scopes (the
    /// Worker asks its Durable Object), so a push pokes only the groups
    /// whose read scope it touched; without it every data change pokes
    /// every socket.
    pub fn connected<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Vec<ConnectedGroup>> + 'static,
    {
        self.connected = Some(Box::new(move || Box::pin(hook())));
        self
    }

    /// The server, without touching the database: call
    /// [`BatchServer::ensure_schema`] once before serving (the Worker
    /// adapter does, once per isolate).
    pub fn build(self) -> Result<BatchServer<R, B>, BuildError> {
        let auth = self.auth.ok_or(BuildError::MissingAuth)?;
        let scopes = self.scopes.ok_or(BuildError::MissingScopes)?;
        scopes.check(self.schema)?;
        BuildError::check_names::<R>()?;
        Ok(BatchServer {
            storage: BatchStorage::new(self.db),
            schema: self.schema,
            schema_version: self.schema.version().into_owned(),
            config: self.config,
            auth,
            scopes,
            notice: self.notice,
            connected: self.connected,
        })
    }
}

impl<R: Registry, B: BatchDb> BatchServer<R, B> {
    /// Starts building a server for `schema` on `db`.
    pub fn builder(schema: &'static Schema, db: B) -> BatchServerBuilder<R, B> {
        BatchServerBuilder {
            db,
            schema,
            config: ServerConfig::default(),
            auth: None,
            scopes: None,
            notice: None,
            connected: None,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The schema version clients must match.
    pub fn schema_version(&self) -> &str {
        &self.schema_version
    }

    /// The storage (for admin tasks and tests).
    pub fn storage(&self) -> &BatchStorage<B> {
        &self.storage
    }

    /// Creates or additively upgrades the schema and plasma's bookkeeping
    /// (see [`batch_schema::ensure_schema`]). Idempotent.
    pub async fn ensure_schema(&self) -> Result<Vec<SchemaChange>, ServerError> {
        batch_schema::ensure_schema(self.storage.db(), self.schema).await
    }

    /// Answers `POST {base}/push` and `POST {base}/pull` as
    /// [`SyncServer::handle`](crate::server::SyncServer::handle) does:
    /// preflights, routing, the body limit, the auth hook, JSON errors, CORS.
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        exchange(&self.config, request, |endpoint, headers, body| async move {
            respond(
                async {
                    let who = self.authorize(headers).await?;
                    match endpoint {
                        Endpoint::Push => json(StatusCode::OK, &self.push(who, &body).await?),
                        Endpoint::Pull => json(StatusCode::OK, &self.pull(who, &body).await?),
                    }
                }
                .await,
            )
        })
        .await
    }

    /// Runs the auth hook on request headers.
    pub async fn authorize(&self, headers: HeaderMap) -> Result<Authorized<R::Context>, ServerError> {
        (self.auth)(headers).await.map_err(|r| ServerError::new(r.code, r.reason))
    }

    fn rules(&self) -> validate::RequestRules<'_> {
        validate::RequestRules {
            schema_version: &self.schema_version,
            max_mutations_per_push: self.config.max_mutations_per_push,
        }
    }

    /// Handles a push body for an authorized caller.
    pub async fn push(&self, who: Authorized<R::Context>, body: &[u8]) -> Result<PushResponse, ServerError> {
        let request = validate::push_request::<R, _>(self.rules(), &who, body)?;
        if request.mutations.is_empty() {
            return Ok(PushResponse { last_mutation_ids: Default::default() });
        }
        let scope = self.scope_of(&who)?;
        let pusher = push::Pusher { user_id: &who.user_id, ctx: &who.ctx, scope: &scope };
        // Where this push's log begins, when pokes go by scope.
        let before = match &self.connected {
            Some(_) => self.storage.change_log_head().await.ok(),
            None => None,
        };
        let result = push::process::<R, _>(&self.storage, pusher, &request, now_ms()).await;
        if let Some(hook) = &self.notice {
            let owner = match &result {
                Ok(_) => Some(who.user_id.clone()),
                // A busy push may have committed a claim too: look the owner up.
                Err(e) if e.code == ErrorCode::Busy => {
                    self.storage.group_owner(&request.client_group_id).await.ok().flatten()
                }
                Err(_) => None,
            };
            let group = request.client_group_id.clone();
            let poke = match (PokeTarget::after_push(&result, request.client_group_id), before) {
                (Some(PokeTarget::All), Some(before)) => Some(self.scoped_target(&group, before).await),
                (poke, _) => poke,
            };
            if poke.is_some() || owner.is_some() {
                hook(PushNotice { poke, group, owner }).await;
            }
        }
        result.map(|outcome| outcome.response)
    }

    /// Handles a pull body for an authorized caller.
    pub async fn pull(&self, who: Authorized<R::Context>, body: &[u8]) -> Result<PullResponse, ServerError> {
        let request = validate::pull_request(self.rules(), &who, body)?;
        let scope = self.scope_of(&who)?;
        let puller = pull::Puller { user_id: &who.user_id, group: &request.client_group_id, scope: &scope };
        let (response, writes) =
            pull::process(&self.storage, self.schema, puller, request.cookie, self.config.page_limit()).await?;
        // The record of what the group holds, written before the rows leave.
        pull::record(&self.storage, puller, response.cookie.order, &writes).await?;
        Ok(PullResponse { limits: Some(self.config.advertised_limits()), ..response })
    }

    /// Whom a commit that logged after `before` concerns: the connected
    /// groups whose scope it touched (everyone if that cannot be told).
    async fn scoped_target(&self, pusher_group: &str, before: i64) -> PokeTarget {
        let Some(connected) = &self.connected else { return PokeTarget::All };
        let connected: Vec<(String, Option<Arc<Scope>>)> = connected()
            .await
            .into_iter()
            .map(|c| {
                let scope = c.scope.and_then(|json| scope_wire::from_json(self.schema, &json)).map(Arc::new);
                (c.group, scope)
            })
            .collect();
        if connected.iter().all(|(_, scope)| scope.as_ref().is_none_or(|s| !s.is_filtered())) {
            return PokeTarget::All;
        }
        pull_scope::poke_targets(&self.storage, &connected, pusher_group, before).await.unwrap_or(PokeTarget::All)
    }

    /// `who`'s read rules, resolved (a poke socket keeps them, so pushes
    /// poke only the groups whose scope they touched).
    pub fn scope_of(&self, who: &Authorized<R::Context>) -> Result<Scope, ServerError> {
        self.scopes.resolve(self.schema, who).map_err(|e| ServerError::new(ErrorCode::Internal, e.to_string()))
    }

    /// Checks that `group` may be used by `user_id` (for a poke socket).
    pub async fn check_group_access(&self, user_id: &str, group: &str) -> Result<(), ServerError> {
        check_id("client group id", group)?;
        match self.storage.group_owner(group).await? {
            Some(owner) if owner != user_id => {
                Err(ServerError::new(ErrorCode::Forbidden, "client group belongs to another user"))
            }
            _ => Ok(()),
        }
    }

    /// The newest change-log position: record it, and compact through it
    /// later (a cron trigger's "older than a week").
    pub async fn change_log_head(&self) -> Result<i64, ServerError> {
        self.storage.change_log_head().await
    }

    /// Compacts the change log through position `through` (see [`compact::compact`]).
    pub async fn compact(&self, through: i64) -> Result<usize, ServerError> {
        compact::compact(&self.storage, through).await
    }

    /// Forgets one client group (see [`forget`]). Returns whether it existed.
    pub async fn forget_group(&self, group: &str) -> Result<bool, ServerError> {
        forget::forget_group(&self.storage, group).await
    }

    /// Forgets every client group that has not pushed since `idle_ms` ago.
    pub async fn forget_idle_groups(&self, idle_ms: i64) -> Result<usize, ServerError> {
        forget::forget_idle_groups(&self.storage, now_ms().saturating_sub(idle_ms)).await
    }
}
