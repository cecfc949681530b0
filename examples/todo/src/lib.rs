//! The todo app's shared code: one schema and one set of mutators, compiled by
//! the server and by every client.

#![deny(missing_docs)]

use plasma::{MutatorError, Transaction};
use serde::{Deserialize, Serialize};

/// A todo item.
#[plasma::table(name = "todos")]
#[derive(Debug, Clone, PartialEq)]
pub struct Todo {
    /// Client-generated id.
    #[plasma(id)]
    pub id: String,
    /// What to do.
    pub title: String,
    /// Done yet? New todos are open.
    #[plasma(default = false, index)]
    pub done: bool,
    /// Last change, milliseconds since the Unix epoch.
    #[plasma(rename = "updatedAt", index)]
    pub updated_at: i64,
    /// Who created it: a todo outside a list is theirs alone.
    #[plasma(default = "", index)]
    pub owner: String,
    /// The shared list it belongs to, if any: every member of the list sees it.
    #[plasma(rename = "listId", index)]
    pub list_id: Option<String>,
}

/// A list of todos that its members share.
#[plasma::table(name = "lists")]
#[derive(Debug, Clone, PartialEq)]
pub struct TodoList {
    /// Client-generated id.
    #[plasma(id)]
    pub id: String,
    /// The list's name.
    pub name: String,
    /// Who created it.
    pub owner: String,
}

/// One user's membership of a list: it lets them read and write the list
/// and its todos.
#[plasma::table(name = "list_members")]
#[derive(Debug, Clone, PartialEq)]
pub struct ListMember {
    /// `{list_id}:{user_id}` ([`member_id`]).
    #[plasma(id)]
    pub id: String,
    /// The list.
    #[plasma(rename = "listId", index)]
    pub list_id: String,
    /// The member.
    #[plasma(rename = "userId", index)]
    pub user_id: String,
}

/// The id of `user`'s membership of `list`: one row per pair.
pub fn member_id(list: &str, user: &str) -> String {
    format!("{list}:{user}")
}

/// Every table of the app, at the version client and server compare.
pub static SCHEMA: plasma::Schema = plasma::schema![version = SCHEMA_VERSION; Todo, TodoList, ListMember];

/// The app's schema version; clients with another version are told to update.
/// `SCHEMA` carries it to both builders; the constant is for raw requests.
pub const SCHEMA_VERSION: &str = "todos-v2";

/// Who is asking, and where the mutator runs: handed to every mutator by the
/// server's auth hook ([`Ctx::server`]) or by the client ([`Ctx::client`]).
///
/// Permissions and limits are server-authoritative: a check only the server
/// can make truthfully (or that the app wants to change without shipping new
/// clients) runs where the context carries the server's rules, that is, in
/// the canonical run. The client's optimistic run accepts the mutation and
/// shows it at once; the server refuses it, and plasma rolls the optimistic
/// write back on every client and resolves the mutation's handle with the
/// server's message. The todo app's example: titles over
/// [`MAX_TITLE_CHARS`] characters.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The authenticated user.
    pub user_id: String,
    /// The rules of the server's canonical run; `None` in a client's
    /// optimistic run (which therefore cannot check them).
    pub server: Option<ServerRules>,
}

/// Rules only the server enforces (see [`Ctx`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerRules {
    /// The longest title accepted, in characters; `None`: no limit.
    pub max_title_chars: Option<usize>,
}

impl Default for ServerRules {
    /// The todo app's rules: titles of at most [`MAX_TITLE_CHARS`] characters.
    fn default() -> Self {
        ServerRules { max_title_chars: Some(MAX_TITLE_CHARS) }
    }
}

impl ServerRules {
    /// No app limits: for tests of transport limits, which send titles far
    /// longer than the app allows.
    pub fn unlimited() -> Self {
        ServerRules { max_title_chars: None }
    }
}

impl Ctx {
    /// The context of a client's optimistic run for `user`.
    pub fn client(user: impl Into<String>) -> Self {
        Ctx { user_id: user.into(), server: None }
    }

    /// The context of the server's canonical run for `user`, with the app's
    /// default [`ServerRules`] (what the auth hook builds).
    pub fn server(user: impl Into<String>) -> Self {
        Self::server_with(user, ServerRules::default())
    }

    /// The context of the server's canonical run for `user` under `rules`.
    pub fn server_with(user: impl Into<String>, rules: ServerRules) -> Self {
        Ctx { user_id: user.into(), server: Some(rules) }
    }

    /// Whether this is the server's canonical run.
    pub fn is_canonical(&self) -> bool {
        self.server.is_some()
    }
}

/// Arguments of [`create_todo`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTodo {
    /// New id (`client.new_id()`).
    pub id: String,
    /// Title; must not be blank.
    pub title: String,
    /// Client clock, ms.
    pub updated_at: i64,
    /// The shared list to put it in (the caller must be a member); none:
    /// a private todo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_id: Option<String>,
}

/// Arguments of [`create_list`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateList {
    /// New id (`client.new_id()`).
    pub id: String,
    /// The list's name.
    pub name: String,
}

/// Arguments of [`share_list`] and [`unshare_list`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShareList {
    /// Which list (the caller must be a member).
    pub list_id: String,
    /// Whom to add or remove.
    pub user_id: String,
}

/// Arguments of [`mark_done`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MarkDone {
    /// Which todo.
    pub id: String,
    /// Client clock, ms.
    pub updated_at: i64,
}

/// Arguments of [`rename_todo`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenameTodo {
    /// Which todo.
    pub id: String,
    /// New title; must not be blank.
    pub title: String,
    /// Client clock, ms.
    pub updated_at: i64,
}

/// Arguments of [`delete_todo`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteTodo {
    /// Which todo.
    pub id: String,
}

/// Arguments of [`import_todos`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportTodos {
    /// The todos to create, in order.
    pub todos: Vec<CreateTodo>,
}

/// The longest title the server accepts by default, in characters. Only the
/// canonical run checks it (see [`Ctx`]): a longer title shows
/// optimistically and is then refused by the server with a message
/// containing "too long".
pub const MAX_TITLE_CHARS: usize = 100;

fn check_title(ctx: &Ctx, title: &str) -> Result<(), MutatorError> {
    if title.trim().is_empty() {
        return Err(MutatorError::app("a todo needs a title"));
    }
    // Server-authoritative: clients do not check it, on purpose (see `Ctx`).
    if let Some(max) = ctx.server.and_then(|rules| rules.max_title_chars)
        && title.chars().count() > max
    {
        return Err(MutatorError::app(format!("title too long: at most {max} characters")));
    }
    Ok(())
}

/// The user name the demo treats as read-only, to show the context at work.
pub const VIEWER: &str = "viewer";

/// Creates an open todo.
#[plasma::mutator(name = "createTodo")]
pub async fn create_todo(tx: &mut impl Transaction, ctx: &Ctx, args: CreateTodo) -> Result<(), MutatorError> {
    if ctx.user_id == VIEWER {
        return Err(MutatorError::app("viewers cannot create todos"));
    }
    check_title(ctx, &args.title)?;
    Todo::insert()
        .value(Todo::ID, args.id)
        .value(Todo::TITLE, args.title)
        .value(Todo::UPDATED_AT, args.updated_at)
        .value(Todo::OWNER, ctx.user_id.as_str())
        .value(Todo::LIST_ID, args.list_id)
        .run(tx)
        .await?;
    Ok(())
}

/// Creates a list with the caller as its first member.
#[plasma::mutator(name = "createList")]
pub async fn create_list(tx: &mut impl Transaction, ctx: &Ctx, args: CreateList) -> Result<(), MutatorError> {
    if args.name.trim().is_empty() {
        return Err(MutatorError::app("a list needs a name"));
    }
    // A taken id fails here, before any membership is written.
    TodoList::insert()
        .value(TodoList::ID, args.id.as_str())
        .value(TodoList::NAME, args.name)
        .value(TodoList::OWNER, ctx.user_id.as_str())
        .run_outside_scope(tx) // the caller reads a list only once a member: this row comes first
        .await?;
    ListMember::insert()
        .value(ListMember::ID, member_id(&args.id, &ctx.user_id))
        .value(ListMember::LIST_ID, args.id.as_str())
        .value(ListMember::USER_ID, ctx.user_id.as_str())
        // The one write that grants access: to a list this mutator just created.
        .run_outside_scope(tx)
        .await?;
    Ok(())
}

/// Adds a member to a list the caller belongs to (a no-op if already one).
#[plasma::mutator(name = "shareList")]
pub async fn share_list(tx: &mut impl Transaction, _ctx: &Ctx, args: ShareList) -> Result<(), MutatorError> {
    // Checked by the server's scope too: a membership row of a list the
    // caller is not in is outside their scope, so the insert fails.
    ListMember::upsert()
        .value(ListMember::ID, member_id(&args.list_id, &args.user_id))
        .value(ListMember::LIST_ID, args.list_id)
        .value(ListMember::USER_ID, args.user_id)
        .run(tx)
        .await?;
    Ok(())
}

/// Removes a member from a list the caller belongs to.
#[plasma::mutator(name = "unshareList")]
pub async fn unshare_list(tx: &mut impl Transaction, _ctx: &Ctx, args: ShareList) -> Result<(), MutatorError> {
    ListMember::delete().filter(ListMember::ID.eq(member_id(&args.list_id, &args.user_id))).run(tx).await?;
    Ok(())
}

/// Creates several todos, all or nothing: an entry with a blank title or a
/// taken id fails the whole import, including the todos inserted before it.
#[plasma::mutator(name = "importTodos")]
pub async fn import_todos(tx: &mut impl Transaction, ctx: &Ctx, args: ImportTodos) -> Result<(), MutatorError> {
    if ctx.user_id == VIEWER {
        return Err(MutatorError::app("viewers cannot import todos"));
    }
    for (i, todo) in args.todos.into_iter().enumerate() {
        // Checked one by one while inserting, so a bad entry midway leaves
        // earlier inserts behind for the transaction to roll back.
        check_title(ctx, &todo.title).map_err(|e| {
            if todo.title.trim().is_empty() { MutatorError::app(format!("import entry {i} needs a title")) } else { e }
        })?;
        Todo::insert()
            .value(Todo::ID, todo.id)
            .value(Todo::TITLE, todo.title)
            .value(Todo::UPDATED_AT, todo.updated_at)
            .value(Todo::OWNER, ctx.user_id.as_str())
            .value(Todo::LIST_ID, todo.list_id)
            .run(tx)
            .await?;
    }
    Ok(())
}

/// Marks a todo done.
#[plasma::mutator(name = "markDone")]
pub async fn mark_done(tx: &mut impl Transaction, _ctx: &Ctx, args: MarkDone) -> Result<(), MutatorError> {
    set_done(tx, args, true).await
}

/// Marks a done todo open again (same arguments as [`mark_done`]).
#[plasma::mutator(name = "markUndone")]
pub async fn mark_undone(tx: &mut impl Transaction, _ctx: &Ctx, args: MarkDone) -> Result<(), MutatorError> {
    set_done(tx, args, false).await
}

async fn set_done(tx: &mut impl Transaction, args: MarkDone, done: bool) -> Result<(), MutatorError> {
    let changed = Todo::update()
        .set(Todo::DONE, done)
        .set(Todo::UPDATED_AT, args.updated_at)
        .filter(Todo::ID.eq(args.id.as_str()))
        .run(tx)
        .await?;
    if changed == 0 {
        return Err(MutatorError::app(format!("no todo `{}`", args.id)));
    }
    Ok(())
}

/// Renames a todo.
#[plasma::mutator(name = "renameTodo")]
pub async fn rename_todo(tx: &mut impl Transaction, ctx: &Ctx, args: RenameTodo) -> Result<(), MutatorError> {
    check_title(ctx, &args.title)?;
    let changed = Todo::update()
        .set(Todo::TITLE, args.title)
        .set(Todo::UPDATED_AT, args.updated_at)
        .filter(Todo::ID.eq(args.id.as_str()))
        .run(tx)
        .await?;
    if changed == 0 {
        return Err(MutatorError::app(format!("no todo `{}`", args.id)));
    }
    Ok(())
}

/// Deletes a todo (deleting a missing one is not an error).
#[plasma::mutator(name = "deleteTodo")]
pub async fn delete_todo(tx: &mut impl Transaction, _ctx: &Ctx, args: DeleteTodo) -> Result<(), MutatorError> {
    Todo::delete().filter(Todo::ID.eq(args.id)).run(tx).await?;
    Ok(())
}

plasma::mutators! {
    /// Every mutator of the todo app.
    pub struct TodoMutators {
        create_todo, mark_done, mark_undone, rename_todo, delete_todo, import_todos, create_list, share_list, unshare_list
    }
}

/// The header that names the user. A real app sends a session token and
/// verifies it in the server's auth hook.
pub const USER_HEADER: &str = "x-user";

/// The client side: a native client of the todo server.
#[cfg(feature = "client")]
pub mod client {
    use plasma::client::platform::native::{HttpTransport, TokioPlatform};
    use plasma::client::{Client, ClientError, Store};

    use super::{Ctx, SCHEMA, TodoMutators, USER_HEADER};

    /// A client of the todo app.
    pub type TodoClient = Client<TodoMutators>;

    /// Builds a client for `user` in client group `group`, syncing with the
    /// server at `endpoint` (for example `http://127.0.0.1:8787/sync`) with
    /// pokes on, keeping its state in `store`. Call `start()` to begin syncing.
    /// Must run inside a tokio runtime.
    pub async fn connect(
        endpoint: &str,
        user: &str,
        group: &str,
        store: impl Store,
    ) -> Result<TodoClient, ClientError> {
        let transport = HttpTransport::new(endpoint)?.header(USER_HEADER, user);
        let user = user.to_owned();
        Client::<TodoMutators>::builder(&SCHEMA, group)
            .context(move || Ctx::client(user.clone()))
            .store(store)
            .pokes(true)
            .build(transport, TokioPlatform::current()?)
            .await
    }
}

/// The demo auth hook, the same on every server backend (axum on SQLite,
/// the Worker on D1).
#[cfg(feature = "auth")]
pub mod auth {
    use plasma::server::http::HeaderMap;
    use plasma::server::{AuthRejection, Authorized};

    use super::{Ctx, ServerRules, USER_HEADER};

    /// Who is asking: the user named by [`USER_HEADER`] (a real app verifies
    /// a session token here), with `rules` for the canonical run. User
    /// `banned` is refused with 403.
    pub fn authorize(headers: &HeaderMap, rules: ServerRules) -> Result<Authorized<Ctx>, AuthRejection> {
        let user = headers
            .get(USER_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| AuthRejection::unauthorized(format!("missing `{USER_HEADER}` header")))?;
        if user == "banned" {
            return Err(AuthRejection::forbidden("this user is banned"));
        }
        Ok(Authorized::user(user, Ctx::server_with(user, rules)))
    }
}

/// Who reads what, the same on every server backend: a todo outside a
/// list is its owner's; a todo in a list, the list and its memberships are
/// every member's. Writes are held to the same rules (see
/// `plasma::server::scoped_tx`): nobody writes into a list they are not in.
#[cfg(feature = "auth")]
pub mod access {
    use plasma::Filter;
    use plasma::server::{Authorized, Scopes};

    use super::{Ctx, ListMember, Todo, TodoList};

    /// The lists `who` belongs to, as a filter on a list-id column.
    fn my_lists(who: &Authorized<Ctx>) -> Filter<ListMember> {
        ListMember::USER_ID.eq(who.user_id.as_str())
    }

    /// The todo app's read rules (writes are held to them too).
    pub fn scopes() -> Scopes<Ctx> {
        Scopes::new()
            .table::<Todo>(|who| {
                (Todo::LIST_ID.is_null() & Todo::OWNER.eq(who.user_id.as_str()))
                    | Todo::LIST_ID.in_select(ListMember::LIST_ID, my_lists(who))
            })
            .table::<TodoList>(|who| TodoList::ID.in_select(ListMember::LIST_ID, my_lists(who)))
            .table::<ListMember>(|who| ListMember::LIST_ID.in_select(ListMember::LIST_ID, my_lists(who)))
    }
}

/// The server side: the sync server for this app, with the demo auth hook.
#[cfg(feature = "server")]
pub mod server {
    use plasma::server::{ServerConfig, SyncServer};
    use plasma::{ExecError, SqliteExecutor};

    pub use super::ServerRules;
    pub use super::USER_HEADER;
    use super::{SCHEMA, TodoMutators};

    /// Builds the todo sync server on `db` with default limits.
    pub fn build(db: SqliteExecutor) -> Result<SyncServer<TodoMutators>, plasma::server::BuildError> {
        build_with(db, ServerConfig::default())
    }

    /// Builds the todo sync server on `db` with `config` (the schema version
    /// is filled in, and [`USER_HEADER`] joins the CORS headers browsers may send).
    pub fn build_with(
        db: SqliteExecutor,
        config: ServerConfig,
    ) -> Result<SyncServer<TodoMutators>, plasma::server::BuildError> {
        build_with_rules(db, config, ServerRules::default())
    }

    /// Builds the todo sync server on `db` with `config`, enforcing `rules`
    /// in every canonical run (see [`Ctx`]).
    pub fn build_with_rules(
        db: SqliteExecutor,
        mut config: ServerConfig,
        rules: ServerRules,
    ) -> Result<SyncServer<TodoMutators>, plasma::server::BuildError> {
        config.cors.allowed_headers.push(USER_HEADER.to_owned());
        SyncServer::<TodoMutators>::builder(&SCHEMA, db)
            .config(config)
            .auth(move |headers| async move { super::auth::authorize(&headers, rules) })
            .scopes(super::access::scopes())
            .build()
    }

    /// Opens (creating) the SQLite file and builds the server.
    pub fn open(path: &std::path::Path) -> Result<SyncServer<TodoMutators>, Box<dyn std::error::Error + Send + Sync>> {
        open_with(path, ServerConfig::default())
    }

    /// Opens (creating) the SQLite file and builds the server with `config`.
    pub fn open_with(
        path: &std::path::Path,
        config: ServerConfig,
    ) -> Result<SyncServer<TodoMutators>, Box<dyn std::error::Error + Send + Sync>> {
        let db = SqliteExecutor::open(path).map_err(|e: ExecError| Box::new(e))?;
        Ok(build_with(db, config)?)
    }
}
