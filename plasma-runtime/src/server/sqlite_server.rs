//! [`SyncServer`]: the sync server on an embedded SQLite file, on tokio. The
//! shared core's futures are ready at once on SQLite, so each request runs
//! them to completion on a blocking thread (`run_ready`); pulls use a pool of
//! read-only connections so a large pull never holds the writer.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::exec::sqlite::SqliteExecutor;
use crate::mutator::Registry;
use crate::protocol::{ErrorCode, PullResponse, PushResponse};
use crate::schema::Schema;
use crate::exec::rusqlite;
use crate::server::statements;
use crate::sql::ddl::SYNCED_SCHEMA;
use crate::server::{
    AuthRejection, Authorized, BuildError, PokeHub, PokeTarget, Scope, Scopes, ServerConfig, ServerError, bookkeeping,
    check_id, compact, forget, now_ms, pull, push, validate,
};

type AuthFuture<Ctx> = Pin<Box<dyn Future<Output = Result<Authorized<Ctx>, AuthRejection>> + Send>>;
type AuthFn<Ctx> = dyn Fn(http::HeaderMap) -> AuthFuture<Ctx> + Send + Sync;

/// The sync server for the app whose mutators are `R`. Cheap to clone.
pub struct SyncServer<R: Registry> {
    inner: Arc<Inner<R>>,
}

impl<R: Registry> Clone for SyncServer<R> {
    fn clone(&self) -> Self {
        SyncServer { inner: Arc::clone(&self.inner) }
    }
}

struct Inner<R: Registry> {
    db: Mutex<SqliteExecutor>,
    /// Read-only connections for pulls; `None` for an in-memory database,
    /// which only the writer's connection can see.
    readers: Option<ReadPool>,
    /// The connection pulls record what they sent on (in the side file
    /// [`synced_path`], so they never wait for the writer); `None` for an
    /// in-memory database, whose record is the writer's.
    recorder: Option<Mutex<SqliteExecutor>>,
    schema: &'static Schema,
    /// `schema.version()`, computed once.
    schema_version: String,
    config: ServerConfig,
    auth: Box<AuthFn<R::Context>>,
    scopes: Scopes<R::Context>,
    pokes: PokeHub,
}

/// Builds a [`SyncServer`].
pub struct SyncServerBuilder<R: Registry> {
    db: SqliteExecutor,
    schema: &'static Schema,
    config: ServerConfig,
    auth: Option<Box<AuthFn<R::Context>>>,
    scopes: Option<Scopes<R::Context>>,
}

impl<R: Registry> SyncServerBuilder<R>
where
    R::Context: Send + Sync + 'static,
{
    /// The endpoints' path prefix (default `/sync`).
    pub fn base_path(mut self, base: impl Into<String>) -> Self {
        self.config.base_path = base.into().trim_end_matches('/').to_owned();
        self
    }

    /// Lets pages of `origin` (exactly: `https://app.example`) call the
    /// endpoints from a browser (CORS). Call once per origin.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.config.cors.allowed_origins.push(origin.into());
        self
    }

    /// Lets pages of every origin call the endpoints (CORS). For development.
    pub fn allow_any_origin(mut self) -> Self {
        self.config.cors.allow_any_origin = true;
        self
    }

    /// Lets browsers send request header `name` (the one the auth hook reads)
    /// from other origins, besides `content-type` and `authorization`.
    pub fn allow_header(mut self, name: impl Into<String>) -> Self {
        self.config.cors.allowed_headers.push(name.into());
        self
    }

    /// Replaces all limits at once.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// The auth hook, called with the headers of every request (required).
    pub fn auth<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(http::HeaderMap) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Authorized<R::Context>, AuthRejection>> + Send + 'static,
    {
        self.auth = Some(Box::new(move |headers| Box::pin(hook(headers))));
        self
    }

    /// The read rules: which rows of each table each user's clients read
    /// (and may write). Required, so no table is readable by accident;
    /// [`Scopes::read_all`] says every user reads everything.
    pub fn scopes(mut self, scopes: Scopes<R::Context>) -> Self {
        self.scopes = Some(scopes);
        self
    }

    /// Applies the schema (`ensure_schema`) and returns the server.
    pub fn build(self) -> Result<SyncServer<R>, BuildError> {
        let auth = self.auth.ok_or(BuildError::MissingAuth)?;
        let scopes = self.scopes.ok_or(BuildError::MissingScopes)?;
        scopes.check(self.schema)?;
        BuildError::check_names::<R>()?;
        let path = self.db.path().map(Path::to_owned);
        // The record of rows sent goes in the side file: created through the
        // writer, which then lets go of it (its immediate transactions would
        // lock every attached file); pulls read and record it on their own
        // connections.
        if let Some(path) = &path {
            self.db.attach(&synced_path(path), SYNCED_SCHEMA, true)?;
        }
        self.db.ensure_schema(self.schema)?;
        let recorder = match &path {
            Some(path) => {
                self.db.detach(SYNCED_SCHEMA)?;
                Some(Mutex::new(open_recorder(path)?))
            }
            None => None,
        };
        let readers = path.map(|path| ReadPool::new(path, self.config.pull_connections.max(1)));
        let (max_poke_sockets, max_poke_sockets_per_user) =
            (self.config.max_poke_sockets, self.config.max_poke_sockets_per_user);
        Ok(SyncServer {
            inner: Arc::new(Inner {
                db: Mutex::new(self.db),
                readers,
                recorder,
                schema: self.schema,
                schema_version: self.schema.version().into_owned(),
                config: self.config,
                auth,
                scopes,
                pokes: PokeHub::with_limits(1024, max_poke_sockets, max_poke_sockets_per_user),
            }),
        })
    }
}

impl<R: Registry> SyncServer<R>
where
    R::Context: Send + Sync + 'static,
{
    /// Starts building a server for `schema` on `db`.
    pub fn builder(schema: &'static Schema, db: SqliteExecutor) -> SyncServerBuilder<R> {
        SyncServerBuilder { db, schema, config: ServerConfig::default(), auth: None, scopes: None }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// Pokes, for custom transports (axum's WebSocket uses this).
    pub fn pokes(&self) -> &PokeHub {
        &self.inner.pokes
    }

    /// Runs the auth hook on request headers.
    pub async fn authorize(&self, headers: http::HeaderMap) -> Result<Authorized<R::Context>, ServerError> {
        (self.inner.auth)(headers).await.map_err(|r| ServerError::new(r.code, r.reason))
    }

    /// Runs `f` with the database on a blocking thread.
    async fn with_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SqliteExecutor, &'static Schema) -> Result<T, ServerError> + Send + 'static,
    ) -> Result<T, ServerError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let db = lock(&inner.db);
            f(&db, inner.schema)
        })
        .await
        .map_err(|e| ServerError::new(ErrorCode::Internal, format!("worker failed: {e}")))?
    }

    /// Runs `f` on the connection pulls record what they sent on (the
    /// writer's for an in-memory database), on a blocking thread.
    async fn with_recorder<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SqliteExecutor) -> Result<T, ServerError> + Send + 'static,
    ) -> Result<T, ServerError> {
        if self.inner.recorder.is_none() {
            return self.with_db(move |db, _| f(db)).await;
        }
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let recorder = inner.recorder.as_ref().ok_or_else(|| ServerError::new(ErrorCode::Internal, "no recorder"))?;
            f(&lock(recorder))
        })
        .await
        .map_err(|e| ServerError::new(ErrorCode::Internal, format!("worker failed: {e}")))?
    }

    /// Runs read-only `f` on a pull connection (the writer's for an in-memory
    /// database) on a blocking thread.
    async fn with_reader<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SqliteExecutor, &'static Schema) -> Result<T, ServerError> + Send + 'static,
    ) -> Result<T, ServerError> {
        let Some(pool) = &self.inner.readers else { return self.with_db(f).await };
        let permit =
            pool.permits.acquire().await.map_err(|_| ServerError::new(ErrorCode::Internal, "reader pool closed"))?;
        let inner = Arc::clone(&self.inner);
        let result = tokio::task::spawn_blocking(move || {
            let pool = inner.readers.as_ref().ok_or_else(|| ServerError::new(ErrorCode::Internal, "no reader pool"))?;
            let reader = pool.take()?;
            let result = f(&reader, inner.schema);
            pool.give_back(reader);
            result
        })
        .await
        .map_err(|e| ServerError::new(ErrorCode::Internal, format!("worker failed: {e}")))?;
        drop(permit);
        result
    }

    /// What requests are checked against.
    fn rules(&self) -> validate::RequestRules<'_> {
        validate::RequestRules {
            schema_version: &self.inner.schema_version,
            max_mutations_per_push: self.inner.config.max_mutations_per_push,
        }
    }

    /// Handles a push body for an authorized caller.
    pub async fn push(&self, who: Authorized<R::Context>, body: &[u8]) -> Result<PushResponse, ServerError> {
        let request = validate::push_request::<R, _>(self.rules(), &who, body)?;
        if request.mutations.is_empty() {
            return Ok(PushResponse { last_mutation_ids: Default::default() });
        }
        let group = request.client_group_id.clone();
        let scope = self.scope_of(&who)?;
        let Authorized { user_id, ctx, .. } = who;
        let pusher = user_id.clone();
        // Where this push's log begins matters only to poke sockets: no read
        // of the head on the push path of a server nobody listens to.
        let sockets = self.inner.pokes.open_subscriptions() > 0;
        let result = self
            .with_db(move |db, _| {
                let who = push::Pusher { user_id: &user_id, ctx: &ctx, scope: &scope };
                // Pushes hold the writer one at a time, so the log between
                // the heads before and after is this push's own.
                let before = if sockets { Some(bookkeeping::head_seq_of(db.connection())?) } else { None };
                // SQLite answers at once: the shared async core runs to completion here.
                let outcome = crate::exec::run_ready(push::process::<R, SqliteExecutor>(db, who, &request, now_ms()))
                    .map_err(ServerError::from)?;
                Ok(outcome.map(|o| (o, before)))
            })
            .await
            .and_then(|r| r);
        let (result, logged_after) = match result {
            Ok((outcome, before)) => (Ok(outcome), before),
            Err(e) => (Err(e), None),
        };
        self.after_push(&result, &group, &pusher).await;
        if let Some(target) = PokeTarget::after_push(&result, group.clone()) {
            let target = match (target, logged_after) {
                (PokeTarget::All, Some(before)) => self.scoped_target(group, before).await,
                (target, _) => target,
            };
            self.inner.pokes.poke(target);
        }
        result.map(|o| o.response)
    }

    /// Whom a commit that logged after position `before` concerns, when
    /// connected groups read under rules: the pusher's group and every
    /// group whose scope it touched. Everyone if that cannot be told.
    async fn scoped_target(&self, pusher_group: String, before: i64) -> PokeTarget {
        let connected = self.inner.pokes.connected();
        if connected.iter().all(|(_, scope)| scope.as_ref().is_none_or(|s| !s.is_filtered())) {
            return PokeTarget::All;
        }
        // On the recorder's connection: it sees the record of rows sent, and
        // leaves the writer to the next push.
        let decided = self
            .with_recorder(move |db| {
                crate::exec::run_ready(crate::server::pull_scope::poke_targets(db, &connected, &pusher_group, before))
                    .map_err(ServerError::from)?
            })
            .await;
        decided.unwrap_or_else(|e| {
            tracing::warn!(error = %e.message, "could not tell whom a commit concerns: poking everyone");
            PokeTarget::All
        })
    }

    /// A push that succeeded proves `pusher` owns `group` (it may have just
    /// claimed it): poke sockets of that group held by other users end. A
    /// busy push may have committed a claim too, so the owner is looked up.
    async fn after_push(&self, result: &Result<push::PushOutcome, ServerError>, group: &str, pusher: &str) {
        match result {
            Ok(_) => self.inner.pokes.claimed(group, pusher),
            Err(e) if e.code == ErrorCode::Busy => {
                if let Ok(Some(owner)) = self.group_owner(group.to_owned()).await {
                    self.inner.pokes.claimed(group, &owner);
                }
            }
            Err(_) => {}
        }
    }

    /// The user owning `group`, if it exists.
    async fn group_owner(&self, group: String) -> Result<Option<String>, ServerError> {
        self.with_db(move |db, _| bookkeeping::group_owner(db.connection(), &group)).await
    }

    /// Handles a pull body for an authorized caller.
    pub async fn pull(&self, who: Authorized<R::Context>, body: &[u8]) -> Result<PullResponse, ServerError> {
        let request = validate::pull_request(self.rules(), &who, body)?;
        let limit = self.inner.config.page_limit();
        let scope = Arc::new(self.scope_of(&who)?);
        let user_id = Arc::new(who.user_id);
        let limits = self.inner.config.advertised_limits();
        let group = request.client_group_id.clone();
        let (reader_scope, reader_user) = (Arc::clone(&scope), Arc::clone(&user_id));
        let (response, writes) = self
            .with_reader(move |db, schema| {
                let who = pull::Puller { user_id: &reader_user, group: &request.client_group_id, scope: &reader_scope };
                crate::exec::run_ready(pull::process(db, schema, who, request.cookie, limit))
                    .map_err(ServerError::from)?
            })
            .await?;
        if !writes.is_empty() {
            // The record of what the group holds, written before the rows leave.
            let at = response.cookie.order;
            self.with_recorder(move |db| {
                let who = pull::Puller { user_id: &user_id, group: &group, scope: &scope };
                crate::exec::run_ready(pull::record(db, who, at, &writes)).map_err(ServerError::from)?
            })
            .await?;
        }
        // Every response advertises the limits, so clients size pushes under them.
        Ok(PullResponse { limits: Some(limits), ..response })
    }

    /// `who`'s read rules, resolved (poke sockets keep them, so a commit
    /// pokes only the groups whose scope it touched).
    pub fn scope_of(&self, who: &Authorized<R::Context>) -> Result<Scope, ServerError> {
        self.inner.scopes.resolve(self.inner.schema, who).map_err(|e| ServerError::new(ErrorCode::Internal, e.to_string()))
    }

    /// Checks that `group` may be used by `user_id` (for the poke socket).
    pub async fn check_group_access(&self, user_id: String, group: String) -> Result<(), ServerError> {
        check_id("client group id", &group)?;
        self.with_reader(move |db, _| match bookkeeping::group_owner(db.connection(), &group)? {
            Some(owner) if owner != user_id => {
                Err(ServerError::new(ErrorCode::Forbidden, "client group belongs to another user"))
            }
            _ => Ok(()),
        })
        .await
    }

    /// Compacts the change log through position `through` (see [`compact::compact`]).
    pub async fn compact(&self, through: i64) -> Result<usize, ServerError> {
        let count = self
            .with_db(move |db, _| crate::exec::run_ready(compact::compact(db, through)).map_err(ServerError::from)?)
            .await?;
        // Records of deletes at or below the horizon: no cookie that old pulls incrementally.
        self.sweep_records(move |conn| {
            conn.prepare_cached(&statements::synced_compact())?.execute([through])?;
            Ok(())
        })
        .await?;
        Ok(count)
    }

    /// Forgets one client group (see [`forget`]). Returns whether it existed.
    pub async fn forget_group(&self, group: impl Into<String>) -> Result<bool, ServerError> {
        let group = group.into();
        let forgotten = group.clone();
        let existed = self
            .with_db(move |db, _| {
                crate::exec::run_ready(forget::forget_group(db, &forgotten)).map_err(ServerError::from)?
            })
            .await?;
        if existed {
            self.forget_records(vec![group]).await?;
        }
        Ok(existed)
    }

    /// Forgets every client group that has not pushed for `idle` (see
    /// [`forget`]). Returns how many went.
    pub async fn forget_idle_groups(&self, idle: Duration) -> Result<usize, ServerError> {
        let cutoff = now_ms().saturating_sub(i64::try_from(idle.as_millis()).unwrap_or(i64::MAX));
        let groups = self
            .with_db(move |db, _| {
                crate::exec::run_ready(forget::forget_idle_groups_listed(db, cutoff)).map_err(ServerError::from)?
            })
            .await?;
        let count = groups.len();
        self.forget_records(groups).await?;
        Ok(count)
    }

    /// Drops what forgotten `groups` were sent before they were forgotten
    /// (a pull of theirs since reset and recorded anew: that stays).
    async fn forget_records(&self, groups: Vec<String>) -> Result<(), ServerError> {
        if groups.is_empty() {
            return Ok(());
        }
        self.sweep_records(move |conn| {
            let through: i64 = conn
                .prepare_cached(&statements::meta_value())?
                .query_row([statements::FORGOTTEN_THROUGH], |r| r.get::<_, String>(0))
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(i64::MAX);
            let mut delete = conn.prepare_cached(&statements::synced_forget_through())?;
            for group in &groups {
                delete.execute(rusqlite::params![group, through])?;
            }
            Ok(())
        })
        .await
    }

    /// Runs `sweep` on the side file's record of rows sent, if there is one
    /// (in memory, maintenance swept the record with the rest).
    async fn sweep_records(
        &self,
        sweep: impl FnOnce(&rusqlite::Connection) -> Result<(), ServerError> + Send + 'static,
    ) -> Result<(), ServerError> {
        if self.inner.recorder.is_none() {
            return Ok(());
        }
        self.with_recorder(move |db| {
            let tx = db.begin_sync()?;
            sweep(tx.connection())?;
            tx.commit_sync()?;
            Ok(())
        })
        .await
    }

    /// Runs `f` with the database locked, on the calling thread (admin tasks, tests).
    pub fn with_db_blocking<T>(&self, f: impl FnOnce(&SqliteExecutor) -> T) -> T {
        f(&lock(&self.inner.db))
    }
}

/// Idle read-only connections, opened on demand up to the permit count.
struct ReadPool {
    path: std::path::PathBuf,
    idle: Mutex<Vec<SqliteExecutor>>,
    permits: tokio::sync::Semaphore,
}

impl ReadPool {
    fn new(path: std::path::PathBuf, size: usize) -> Self {
        ReadPool { path, idle: Mutex::new(Vec::with_capacity(size)), permits: tokio::sync::Semaphore::new(size) }
    }

    /// An idle connection, or a new one (the caller holds a permit).
    fn take(&self) -> Result<SqliteExecutor, ServerError> {
        let idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        match idle {
            Some(reader) => Ok(reader),
            None => {
                let reader = SqliteExecutor::open_reader(&self.path)?;
                reader.attach(&synced_path(&self.path), SYNCED_SCHEMA, false)?;
                Ok(reader)
            }
        }
    }

    fn give_back(&self, reader: SqliteExecutor) {
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(reader);
    }
}

/// The side file holding the record of rows sent, beside the database
/// (`server.db` → `server.db-synced`): its own write lock, so a pull
/// records what it sent while a push holds the database's.
pub fn synced_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-synced");
    PathBuf::from(name)
}

/// A second writing connection to the database, with the side file
/// attached: pulls record on it.
fn open_recorder(path: &Path) -> Result<SqliteExecutor, crate::error::ExecError> {
    let recorder = SqliteExecutor::open(path)?;
    recorder.attach(&synced_path(path), SYNCED_SCHEMA, true)?;
    Ok(recorder)
}

fn lock(db: &Mutex<SqliteExecutor>) -> MutexGuard<'_, SqliteExecutor> {
    // A panic mid-transaction rolled the transaction back when it unwound, so
    // the connection is consistent even if the mutex is poisoned.
    db.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
